"""Extra PSF blur: a per-image, per-band Gaussian convolution with the differential sigma of Appendix B."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lensdb.encoder.transforms.base import Transform, differential, lognormal


@dataclass(frozen=True)
class PSFBlur(Transform):
    """Views of a galaxy under worse seeing.

    For each image and band, a "present" and a "target" PSF sigma are drawn from the lognormal fit to the
    survey's PSF widths; the image is convolved with a Gaussian of sigma ``sqrt(target^2 - present^2)``
    (pixels) when that is real, and left alone otherwise. Bands blur independently, as their exposures were
    taken at different times.

    Attributes:
        shape, loc, scale: lognormal fit of the PSF sigma per band g, r, z, pixels (paper Table 2).
        truncate: kernel half-width in units of the largest sigma of the batch.
    """

    shape: tuple[float, ...] = (0.2109966, 0.3008485, 0.3471172)
    loc: tuple[float, ...] = (1.0807153, 1.2394326, 1.1928363)
    scale: tuple[float, ...] = (1.3153171, 0.9164757, 0.8233702)
    truncate: float = 4.0

    def sample(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, 3) extra blur sigma, pixels (0 where the target is sharper than the present PSF)."""
        n = images.shape[0]
        present = lognormal(n, self.shape, self.loc, self.scale, like=images, generator=generator)
        target = lognormal(n, self.shape, self.loc, self.scale, like=images, generator=generator)
        return differential(present, target)

    def apply(
        self, images: torch.Tensor, params: torch.Tensor, *, ebv: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Blur ``images`` (N, 3, H, W) by Gaussians of sigma ``params`` (N, 3) pixels; flux is kept."""
        return gaussian_blur(images, params, truncate=self.truncate)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor, truncate: float = 4.0) -> torch.Tensor:
    """Separable Gaussian blur with a different sigma per image and channel, as two grouped 1-d convolutions.

    Args:
        images: (N, C, H, W).
        sigma: (N, C) standard deviations in pixels; 0 leaves that channel unchanged.
        truncate: kernel radius = ceil(truncate * max(sigma)), capped so reflection padding fits the image.

    Returns:
        (N, C, H, W). Edges are reflection-padded, so flux near the border is kept approximately, elsewhere
        exactly.
    """
    n, c, h, w = images.shape
    smax = float(sigma.max()) if sigma.numel() else 0.0
    radius = min(math.ceil(truncate * smax), h - 1, w - 1)
    if radius < 1:
        return images
    x = torch.arange(-radius, radius + 1, device=images.device, dtype=torch.float32)
    s = (
        sigma.reshape(n * c, 1).float().clamp_min(1e-6)
    )  # sigma 0 -> a delta kernel (exp underflows to 0 off-centre)
    kernel = torch.exp(-0.5 * (x / s) ** 2)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).to(images.dtype)  # (N*C, 2r+1), each sums to 1
    # One group per (image, band): fold the batch into channels so one conv call handles every kernel.
    flat = F.pad(images.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=n * c)  # along x
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=n * c)  # along y
    return flat.reshape(n, c, h, w)
