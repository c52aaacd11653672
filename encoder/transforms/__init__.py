"""Batched, device-agnostic image augmentations of Stein et al. (2021), one class per concern.

Every transform takes ``(N, 3, H, W)`` float tensors in nanomaggies, bands g, r, z (the stretch returns R, G,
B in
[0, 1]) and runs on whatever device the tensor lives on. See :func:`training_pipeline` and
:func:`inference_pipeline`.
"""

from encoder.transforms.base import Transform
from encoder.transforms.blur import PSFBlur, gaussian_blur
from encoder.transforms.crop import CenterCrop, JitterCrop
from encoder.transforms.geometry import FlipRotate, FusedWarp, Rescale, warp
from encoder.transforms.noise import GaussianNoise
from encoder.transforms.pipeline import Compose, inference_pipeline, training_pipeline
from encoder.transforms.redden import Redden
from encoder.transforms.stretch import ArcsinhStretch

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
