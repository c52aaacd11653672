"""Jittered training crop and the centre crop used at inference."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lensdb.core.errors import InvalidInput
from lensdb.encoder.transforms.base import Transform


@dataclass(frozen=True)
class JitterCrop(Transform):
    """Shift the crop centre by whole pixels (i, j) ~ U{-jitter..jitter} each, then cut ``crop`` x ``crop``
    pixels.

    The unshifted window is the centre crop (offset ``(H - crop) // 2``), the same one :class:`CenterCrop`
    takes, so training and inference see the galaxy at the same place on average.

    Attributes:
        crop: output side, pixels (96 in the paper).
        jitter: largest shift along each axis, pixels (7 in the paper).
    """

    crop: int = 96
    jitter: int = 7

    def sample(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, 2) integer shifts (dy, dx) in pixels."""
        check_size(images, self.crop + 2 * self.jitter, "JitterCrop")
        return torch.randint(-self.jitter, self.jitter + 1, (images.shape[0], 2), generator=generator,
                             device=images.device)

    def apply(
        self, images: torch.Tensor, params: torch.Tensor, *, ebv: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Cut (N, 3, crop, crop) from ``images`` (N, 3, H, W) at shifts ``params`` (N, 2) (rows, columns)."""
        n, _, h, w = images.shape
        check_size(
            images, self.crop + 2 * int(params.abs().max()) if params.numel() else self.crop, "JitterCrop"
        )
        steps = torch.arange(self.crop, device=images.device)
        rows = (h - self.crop) // 2 + params[:, 0:1] + steps  # (N, crop) row indices of each window
        cols = (w - self.crop) // 2 + params[:, 1:2] + steps
        batch = torch.arange(n, device=images.device)[:, None, None]
        # Advanced indexing gathers every window at once: (N, crop, crop, C) -> (N, C, crop, crop).
        return (
            images.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
            .permute(0, 3, 1, 2)
            .contiguous()
        )


@dataclass(frozen=True)
class CenterCrop(Transform):
    """The central ``crop`` x ``crop`` pixels (offset ``(H - crop) // 2``): JitterCrop for inference."""

    crop: int = 96

    def apply(
        self, images: torch.Tensor, params: None = None, *, ebv: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_size(images, self.crop, "CenterCrop")
        top, left = (images.shape[2] - self.crop) // 2, (images.shape[3] - self.crop) // 2
        return images[:, :, top : top + self.crop, left : left + self.crop]


def host_centre_crop(images: torch.Tensor, crop: int) -> torch.Tensor:
    """The central ``crop`` pixels of (N, 3, S, S) images, as a contiguous copy (the input when S == crop).

    Uses the offset of :class:`lensdb.encoder.transforms.crop.CenterCrop`, ``(S - crop) // 2``; smaller images are
    passed
    through so that the pipeline's CenterCrop raises its usual error.
    """
    if images.ndim != 4 or min(images.shape[2], images.shape[3]) < crop or images.shape[2:] == (crop, crop):
        return images
    top, left = (images.shape[2] - crop) // 2, (images.shape[3] - crop) // 2
    return images[:, :, top : top + crop, left : left + crop].contiguous()


def check_size(images: torch.Tensor, need: int, who: str) -> None:
    """InvalidInput unless the images are at least ``need`` pixels on each side."""
    if images.shape[2] < need or images.shape[3] < need:
        raise InvalidInput(
            f"{who}: images of {images.shape[2]}x{images.shape[3]} pixels are too small; "
            f"need at least {need}x{need}"
        )
