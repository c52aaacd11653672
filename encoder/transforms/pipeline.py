"""Composition of transforms, and the two pipelines LensDB uses: training (the paper's order) and
inference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lensdb.encoder.config import AugmentConfig
from lensdb.encoder.transforms.base import Transform, check_batch
from lensdb.encoder.transforms.blur import PSFBlur
from lensdb.encoder.transforms.crop import CenterCrop, JitterCrop
from lensdb.encoder.transforms.geometry import AffineTransform, FlipRotate, FusedWarp, Rescale
from lensdb.encoder.transforms.noise import GaussianNoise
from lensdb.encoder.transforms.redden import Redden
from lensdb.encoder.transforms.stretch import ArcsinhStretch


class Compose(Transform):
    """Apply transforms in order; runs of consecutive geometric transforms resample the batch only once.

    Args:
        transforms: the transforms, in order.
        warp_size: when set, each fused geometric warp writes only the central ``warp_size`` pixels (the part
            that a later crop can reach, plus a margin for the blur), instead of the whole cutout.
    """

    def __init__(self, transforms: Sequence[Transform], warp_size: int | None = None) -> None:
        self.transforms = tuple(transforms)
        self.warp_size = warp_size
        self.stages: tuple[Transform, ...] = _fuse(self.transforms, warp_size)

    def sample(self, images: torch.Tensor, generator: torch.Generator | None = None) -> Any:
        raise TypeError("Compose draws stage by stage (shapes change along the way); call it instead")

    def apply(
        self, images: torch.Tensor, params: Any = None, *, ebv: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise TypeError("Compose draws stage by stage (shapes change along the way); call it instead")

    def __call__(
        self,
        images: torch.Tensor,
        *,
        ebv: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Run every stage on ``images`` (N, 3, H, W) nanomaggies; :class:`Redden` needs ``ebv`` (N,)."""
        check_batch(images)
        for stage in self.stages:
            images = stage.apply(images, stage.sample(images, generator), ebv=ebv)
        return images

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(t) for t in self.transforms)
        return f"Compose(\n  {inner},\n  warp_size={self.warp_size})"


def _fuse(transforms: Sequence[Transform], warp_size: int | None) -> tuple[Transform, ...]:
    stages: list[Transform] = []
    run: list[AffineTransform] = []
    for t in [*transforms, None]:
        if isinstance(t, AffineTransform):
            run.append(t)
            continue
        if run:
            stages.append(FusedWarp(tuple(run), out_size=warp_size))
            run = []
        if t is not None:
            stages.append(t)
    return tuple(stages)


def training_pipeline(config: Any, augment: AugmentConfig | None = None) -> Compose:
    """The paper's augmentations in its order, then the stretch: (N, 3, S, S) nanomaggies -> (N, 3, crop,
    crop) RGB.

    Order: Redden, FlipRotate, Rescale, PSFBlur, JitterCrop, GaussianNoise, ArcsinhStretch. Needs ``ebv`` per
        image.

    Args:
        config: an :class:`~lensdb.encoder.config.EncoderConfig` (its ``crop`` and ``augment`` are used) or the crop
            size.
        augment: augmentation constants when ``config`` is an int (default: the paper's).
    """
    crop = config if isinstance(config, int) else config.crop
    aug = augment or (AugmentConfig() if isinstance(config, int) else config.augment)
    skip = set(aug.skip)
    steps: list[tuple[str, Transform]] = [
        ("redden", Redden(ebv_lognorm=aug.ebv_lognorm, coeff=aug.extinction_coeff)),
        ("fliprotate", FlipRotate(flip_p=aug.flip_p, rotate=aug.rotate)),
        ("rescale", Rescale(scale_range=aug.scale_range, conserve_flux=aug.conserve_flux)),
        ("psfblur", PSFBlur(shape=aug.psf_shape, loc=aug.psf_loc, scale=aug.psf_scale)),
        ("jitter", JitterCrop(crop=crop, jitter=aug.jitter)),
        ("noise", GaussianNoise(shape=aug.noise_shape, loc=aug.noise_loc, scale=aug.noise_scale)),
    ]
    transforms = [t for name, t in steps if name not in skip]
    if "jitter" in skip:  # the crop itself is not optional: the network needs crop x crop inputs
        transforms.insert(len([n for n, _ in steps[:4] if n not in skip]), CenterCrop(crop))
    transforms.append(ArcsinhStretch())
    return Compose(transforms, warp_size=crop + 2 * (aug.jitter + aug.margin))


def inference_pipeline(crop: int = 96) -> Compose:
    """Centre crop + the training stretch: (N, 3, S, S) nanomaggies -> (N, 3, crop, crop) RGB in [0, 1]."""
    return Compose([CenterCrop(crop), ArcsinhStretch()])
