"""Flips, rotation and rescaling, applied together as one bilinear resampling per batch.

Each geometric transform draws a 2x2 matrix per image that maps input pixel offsets (from the image centre) to
output offsets. Consecutive geometric transforms compose into one matrix, and :func:`warp` resamples the batch
once with ``grid_sample``, so rotation and rescale interpolate the pixels once rather than twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lensdb.encoder.transforms.base import Transform, uniform

PADDING_MODES = ("reflection", "zeros", "border")


class AffineTransform(Transform):
    """A geometric transform given by a per-image 2x2 matrix (and a flux factor for changes of pixel area)."""

    def matrix(self, params: torch.Tensor) -> torch.Tensor:
        """(N, 2, 2) forward matrices acting on (x, y) pixel offsets from the image centre."""
        raise NotImplementedError

    def flux_factor(self, params: torch.Tensor) -> torch.Tensor | None:
        """(N,) factor applied to the resampled pixels, or None for 1."""
        return None

    def apply(
        self, images: torch.Tensor, params: torch.Tensor, *, ebv: torch.Tensor | None = None
    ) -> torch.Tensor:
        out = warp(images, self.matrix(params))
        factor = self.flux_factor(params)
        return out if factor is None else out * factor[:, None, None, None]


@dataclass(frozen=True)
class FlipRotate(AffineTransform):
    """Galaxies have no preferred orientation: flip each axis with probability ``flip_p``, then rotate by U(0,
    2 pi).

    Attributes:
        flip_p: probability of each of the two axis flips.
        rotate: draw a rotation angle (radians, U(0, 2 pi)); False keeps only the flips.
    """

    flip_p: float = 0.5
    rotate: bool = True

    def sample(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, 3): sign of x, sign of y (+1 or -1), rotation angle in radians."""
        n = images.shape[0]
        flips = torch.where(uniform((n, 2), 0.0, 1.0, images, generator) < self.flip_p, -1.0, 1.0)
        angle = (
            uniform((n, 1), 0.0, 2 * math.pi, images, generator) if self.rotate else flips.new_zeros((n, 1))
        )
        return torch.cat([flips, angle], dim=1)

    def matrix(self, params: torch.Tensor) -> torch.Tensor:
        cos, sin = torch.cos(params[:, 2]), torch.sin(params[:, 2])
        rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (N, 2, 2)
        return rot * params[:, None, :2]  # flip first: scales the columns of the rotation


@dataclass(frozen=True)
class Rescale(AffineTransform):
    """Views of a galaxy at different distances: zoom by U(low, high) about the centre with bilinear
    interpolation.

    Attributes:
        scale_range: (low, high) zoom factor; 1.1 makes the galaxy 10 % larger.
        conserve_flux: divide by zoom^2 so the summed flux stays the same (each output pixel then covers
            1/zoom^2 of an input pixel); False keeps the surface brightness instead, as a plain image resize
            does.
    """

    scale_range: tuple[float, ...] = (0.9, 1.1)
    conserve_flux: bool = True

    def sample(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N,) zoom factors."""
        return uniform((images.shape[0],), *self.scale_range, like=images, generator=generator)

    def matrix(self, params: torch.Tensor) -> torch.Tensor:
        return params[:, None, None] * torch.eye(2, device=params.device, dtype=params.dtype)

    def flux_factor(self, params: torch.Tensor) -> torch.Tensor | None:
        return params.reciprocal().square() if self.conserve_flux else None


@dataclass(frozen=True)
class FusedWarp(Transform):
    """Several :class:`AffineTransform` applied as one resampling, optionally writing only the central pixels.

    Attributes:
        parts: the geometric transforms, in order.
        out_size: side of the output, pixels (default and upper bound: the input's); the centre stays the
            centre and the pixel scale is unchanged, so a smaller output is a centre crop of what the full
            warp would give.
        padding_mode: what ``grid_sample`` reads outside the cutout; ``reflection`` avoids a dark, noiseless
            corner that would tell the network the rotation angle.
    """

    parts: tuple[AffineTransform, ...]
    out_size: int | None = None
    padding_mode: str = "reflection"

    def sample(self, images: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        return [p.sample(images, generator) for p in self.parts]

    def apply(
        self, images: torch.Tensor, params: list[torch.Tensor], *, ebv: torch.Tensor | None = None
    ) -> torch.Tensor:
        total = torch.eye(2, device=images.device, dtype=torch.float32).expand(images.shape[0], 2, 2)
        factor = None
        for part, p in zip(self.parts, params, strict=True):
            total = part.matrix(p) @ total  # later transforms act after earlier ones
            f = part.flux_factor(p)
            if f is not None:
                factor = f if factor is None else factor * f
        size = min(self.out_size or images.shape[-1], images.shape[-1])
        out = warp(images, total, out_size=size, padding_mode=self.padding_mode)
        return out if factor is None else out * factor[:, None, None, None]


def warp(
    images: torch.Tensor, matrix: torch.Tensor, out_size: int | None = None, padding_mode: str = "reflection"
) -> torch.Tensor:
    """Resample ``images`` (N, C, H, H) so that input offset ``d`` from the centre lands at ``matrix @ d``.

    Args:
        images: square images, (N, C, H, H).
        matrix: (N, 2, 2) forward matrices on (x, y) pixel offsets.
        out_size: output side in pixels (default H), same pixel scale and centre.
        padding_mode: ``grid_sample`` padding outside the input.

    Returns:
        (N, C, out_size, out_size), bilinear; pixel values are resampled, not flux-corrected.
    """
    n, _, h, w = images.shape
    if h != w:
        raise ValueError(f"warp needs square images, got {h}x{w}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}")
    size = out_size or h
    # grid_sample wants, for each output pixel, where to read in the input: the inverse map. Normalised
    # coordinates span [-1, 1] across the image with align_corners=False, so (size / h) converts output to
    # input units.
    inverse = torch.linalg.inv(matrix.float()) * (size / h)
    theta = torch.cat([inverse, inverse.new_zeros(n, 2, 1)], dim=2)  # (N, 2, 3), no translation
    grid = F.affine_grid(theta, [n, images.shape[1], size, size], align_corners=False)
    return F.grid_sample(
        images, grid.to(images.dtype), mode="bilinear", padding_mode=padding_mode, align_corners=False
    )
