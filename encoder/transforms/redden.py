"""Galactic extinction: de-redden with the catalogue E(B-V), re-redden with a random one (paper Section
3.1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lensdb.core.errors import InvalidInput
from lensdb.encoder.transforms.base import Transform, lognormal


@dataclass(frozen=True)
class Redden(Transform):
    """Swap the foreground dust: the same galaxy seen through a different, random Galactic extinction.

    Each band is scaled by the ratio of transmissions ``10^(-A_b E'/2.5) / 10^(-A_b E/2.5)`` where ``E`` is
    the catalogue E(B-V) and ``E'`` a fresh draw from the lognormal fit to the DR9 south, mag_z < 20 sample.

    Attributes:
        ebv_lognorm: (shape, loc, scale) of the random E(B-V), magnitudes (paper Table 2).
        coeff: A_band / E(B-V) for g, r, z.
    """

    ebv_lognorm: tuple[float, ...] = (0.67306, 0.001146, 0.03338)
    coeff: tuple[float, ...] = (3.214, 2.165, 1.211)

    def sample(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """New E(B-V) per image, (N,) magnitudes; a lognormal with loc > 0 never goes negative."""
        return lognormal(images.shape[0], *self.ebv_lognorm, like=images, generator=generator)

    def apply(
        self, images: torch.Tensor, params: torch.Tensor, *, ebv: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``images`` (N, 3, H, W) seen through E(B-V) ``params`` (N,) instead of the catalogue ``ebv``."""
        if ebv is None:
            raise InvalidInput("Redden needs the catalogue E(B-V) of each image (ebv=...)")
        return self.reddening(images, ebv, params)

    def reddening(self, images: torch.Tensor, ebv_from: torch.Tensor, ebv_to: torch.Tensor) -> torch.Tensor:
        """Scale ``images`` (N, 3, H, W) from extinction ``ebv_from`` (N,) to ``ebv_to`` (N,), magnitudes.

        ``reddening(reddening(x, e, 0), 0, e) == x``: de-reddening and re-reddening with the same E(B-V)
        cancel.
        """
        coeff = torch.as_tensor(self.coeff, dtype=images.dtype, device=images.device)
        delta = (ebv_to.to(images) - ebv_from.to(images)).reshape(-1, 1)  # (N, 1) magnitudes of extra E(B-V)
        factor = torch.pow(10.0, -coeff * delta / 2.5)  # (N, 3) transmission ratio per band
        return images * factor[:, :, None, None]
