"""Batched, device-agnostic image augmentations of Stein et al. (2021), one class per concern.

Every transform takes ``(N, 3, H, W)`` float tensors in nanomaggies, bands g, r, z (the stretch returns R, G,
B in
[0, 1]) and runs on whatever device the tensor lives on. See :func:`training_pipeline` and
:func:`inference_pipeline`.
"""

from lensdb.encoder.transforms.base import Transform
from lensdb.encoder.transforms.blur import PSFBlur, gaussian_blur
from lensdb.encoder.transforms.crop import CenterCrop, JitterCrop
from lensdb.encoder.transforms.geometry import FlipRotate, FusedWarp, Rescale, warp
from lensdb.encoder.transforms.noise import GaussianNoise
from lensdb.encoder.transforms.pipeline import Compose, inference_pipeline, training_pipeline
from lensdb.encoder.transforms.redden import Redden
from lensdb.encoder.transforms.stretch import ArcsinhStretch

__all__ = [
    "ArcsinhStretch",
    "CenterCrop",
    "Compose",
    "FlipRotate",
    "FusedWarp",
    "GaussianNoise",
    "JitterCrop",
    "PSFBlur",
    "Redden",
    "Rescale",
    "Transform",
    "gaussian_blur",
    "inference_pipeline",
    "training_pipeline",
    "warp",
]
