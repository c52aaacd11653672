"""The batched transform interface shared by every augmentation, and the lognormal draw of Table 2.

A transform maps a batch of images ``(N, 3, H, W)`` float32 in nanomaggies (bands g, r, z) to a new batch on
the same device. Randomness is split from the arithmetic so that tests and benchmarks can fix the draws:

- :meth:`Transform.sample` draws everything random for one batch (angles, sigmas, noise fields, offsets);
- :meth:`Transform.apply` is deterministic given those draws;
- ``transform(images, ebv=..., generator=...)`` does both.

Draws use the ``generator`` passed in (a ``torch.Generator`` on the images' device), so a training step is
reproducible from its seed alone, and a resumed run sees exactly the augmentations of an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import torch

from lensdb.core.errors import InvalidInput


class Transform:
    """Base class: ``__call__`` = :meth:`sample` then :meth:`apply` (deterministic ones draw ``None``)."""

    def sample(self, images: torch.Tensor, generator: torch.Generator | None = None) -> Any:
        """Random parameters for the batch ``images`` (N, 3, H, W); ``None`` for deterministic transforms."""
        return None

    def apply(self, images: torch.Tensor, params: Any, *, ebv: torch.Tensor | None = None) -> torch.Tensor:
        """Transform ``images`` (N, 3, H, W) with the given draws; ``ebv`` (N,): catalogue E(B-V), mag."""
        raise NotImplementedError

    def __call__(self, images: torch.Tensor, *, ebv: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        check_batch(images)
        return self.apply(images, self.sample(images, generator), ebv=ebv)


def check_batch(images: torch.Tensor) -> None:
    """Raise InvalidInput unless ``images`` is a floating (N, 3, H, W) tensor."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise InvalidInput(f"expected images of shape (N, 3, H, W) in bands g, r, z; got {shape}")
    if not images.is_floating_point():
        raise InvalidInput(f"expected floating-point images in nanomaggies; got {images.dtype}")


def uniform(n: tuple[int, ...], low: float, high: float, like: torch.Tensor,
            generator: torch.Generator | None) -> torch.Tensor:
    """U(low, high) draws of shape ``n`` on ``like``'s device, float32."""
    u = torch.rand(n, generator=generator, device=like.device, dtype=torch.float32)
    return low + (high - low) * u


def lognormal(
    n: int, shape, loc, scale, like: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Draws from scipy.stats.lognorm(shape, loc, scale): ``loc + scale * exp(shape * N(0, 1))``.

    Args:
        n: number of rows.
        shape, loc, scale: floats, or per-band sequences of 3 (g, r, z) giving (n, 3) draws.
        like: a tensor whose device the draws land on.

    Returns:
        (n,) or (n, 3) float32 tensor.
    """
    params = [torch.as_tensor(v, dtype=torch.float32, device=like.device) for v in (shape, loc, scale)]
    size = (n,) + tuple(torch.broadcast_shapes(*(p.shape for p in params)))
    z = torch.randn(size, generator=generator, device=like.device, dtype=torch.float32)
    return params[1] + params[2] * torch.exp(params[0] * z)


def differential(present: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The extra width that takes ``present`` to ``target`` when added in quadrature; 0 where target <=
    present.

    This is the paper's scheme (Appendix B) for both PSF blur and noise: an image already carries some blur
    and noise, so the augmentation only adds ``sqrt(target^2 - present^2)`` and leaves the sample alone when
    that is imaginary.
    """
    return torch.sqrt(torch.clamp(target.square() - present.square(), min=0.0))
