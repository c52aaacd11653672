"""Extra Gaussian pixel noise with the differential sigma of Appendix B."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lensdb.encoder.transforms.base import Transform, differential, lognormal


@dataclass(frozen=True)
class GaussianNoise(Transform):
    """Views of a galaxy in shallower imaging.

    For each image and band a "present" and a "target" per-pixel noise sigma (nanomaggies) are drawn from the
    lognormal fit to the survey; white Gaussian noise of sigma ``sqrt(target^2 - present^2)`` is added when
    that is real, so the image ends at the target noise level. Bands are independent (different exposures).

    Attributes:
        shape, loc, scale: lognormal fit of the per-pixel noise sigma per band g, r, z, nanomaggies (paper
            Table 2).
    """

    shape: tuple[float, ...] = (0.2264926, 0.2431146, 0.1334844)
    loc: tuple[float, ...] = (-0.0006735, -0.0023663, -0.0143416)
    scale: tuple[float, ...] = (0.0037602, 0.0067417, 0.0260779)

    def sigmas(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, 3) extra noise sigma per image and band, nanomaggies per pixel."""
        n = images.shape[0]
        present = lognormal(n, self.shape, self.loc, self.scale, like=images, generator=generator)
        target = lognormal(n, self.shape, self.loc, self.scale, like=images, generator=generator)
        return differential(present, target)

    def sample(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The noise field to add, (N, 3, H, W) nanomaggies."""
        sigma = self.sigmas(images, generator)
        field = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
        return field * sigma[:, :, None, None].to(images.dtype)

    def apply(
        self, images: torch.Tensor, params: torch.Tensor, *, ebv: torch.Tensor | None = None
    ) -> torch.Tensor:
        return images + params
