"""Orientation averaging at embed time: a galaxy (or a lens) has no preferred orientation on the sky, so an object's
vector can be the mean of the backbone's vectors of its 8 orientations (the rotations by 0, 90, 180 and 270 degrees,
each with and without a flip: the symmetry group of the square pixel grid, exact on pixels, no interpolation).

The mean over the whole group is exactly invariant to any of the 8: rotating or flipping the input permutes the 8
views, and the mean of a permuted set is the same mean (to the float rounding of the sum). The views are made from
the *centre crop* (after it, not before), so the invariance holds for whole cutouts whenever the crop is centred
exactly, i.e. cutout side minus crop side is even (152 - 48, 112 - 48, 152 - 96: all even); with an odd difference
the crop is off-centre by half a pixel and rotating the cutout moves it by one pixel.

``orientations`` is 1 (no averaging, the backbone's output as is) or 8. It is part of the encoder's configuration
(``[encoder] orientations``) and of its version (:func:`lensdb.encoder.checkpoint.encoder_version`), so averaged and
plain vectors never share a collection. It costs 8 forward passes per object.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lensdb.encoder.config import ORIENTATION_CHOICES


def check_orientations(n: int) -> int:
    """``n`` when it is one of :data:`ORIENTATION_CHOICES`, else ValueError naming them."""
    if n not in ORIENTATION_CHOICES:
        raise ValueError(f"orientations must be 1 (no averaging) or 8 (rotations by 90 degrees x flips), got {n!r}")
    return n


def orientation(images: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th (0-7) of the 8 orientations of (N, C, H, W) square images: ``k % 4`` quarter turns, flipped
    left-right when ``k >= 4``. ``k = 0`` is the input itself."""
    out = torch.rot90(images, k % 4, dims=(2, 3)) if k % 4 else images
    return out.flip(3) if k >= 4 else out


def averaged(forward: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, orientations: int) -> torch.Tensor:
    """``forward(images)`` averaged over the first ``orientations`` (1 or 8) orientations of ``images``.

    Args:
        forward: (N, C, H, W) -> (N, D) (the backbone, already in eval mode).
        images: the stretched, centre-cropped network input.
        orientations: 1 (``forward(images)`` as is) or 8.

    The views run one at a time (memory as for one batch) and are summed in float32.
    """
    if check_orientations(orientations) == 1:
        return forward(images).float()
    total = None
    for k in range(orientations):
        out = forward(orientation(images, k).contiguous(memory_format=_format(images))).float()
        total = out if total is None else total + out
    return total / orientations


def _format(images: torch.Tensor) -> torch.memory_format:
    """channels_last when the input is in that layout (the GPU path), else contiguous."""
    if images.ndim == 4 and images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
