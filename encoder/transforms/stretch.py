"""The Legacy Survey viewer's arcsinh RGB stretch: nanomaggies (g, r, z) to display values (R, G, B) in [0,
1]."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lensdb.encoder.transforms.base import Transform


@dataclass(frozen=True)
class ArcsinhStretch(Transform):
    """Lupton-style arcsinh colour stretch with the viewer's constants; the network sees images as humans
    grade them.

    With ``v_b = max(0, img_b * scale_b + m)`` per band, ``I`` the mean of the three ``v_b`` and
    ``f(I) = arcsinh(Q I) / sqrt(Q)``, each output channel is ``v_b f(I) / I`` clipped to [0, 1] (0 where I =
    0). Bands z, r, g become channels R, G, B. The same function must run in training and inference.

    Attributes:
        scales: multipliers of the g, r, z bands (6.0, 3.4, 2.2).
        m: additive softening, in scaled units.
        Q: arcsinh non-linearity.
    """

    scales: tuple[float, ...] = (6.0, 3.4, 2.2)
    m: float = 0.03
    Q: float = 20.0

    def apply(
        self, images: torch.Tensor, params: None = None, *, ebv: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N, 3, H, W) nanomaggies in g, r, z -> (N, 3, H, W) values in [0, 1] in R, G, B order."""
        scales = torch.as_tensor(self.scales, dtype=images.dtype, device=images.device)[None, :, None, None]
        v = torch.clamp(images * scales + self.m, min=0.0)  # (N, 3, H, W) in g, r, z order
        mean = v.mean(dim=1, keepdim=True)  # (N, 1, H, W)
        gain = torch.asinh(self.Q * mean) / (math.sqrt(self.Q) * mean)
        gain = torch.where(mean > 0, gain, torch.zeros_like(gain))  # 0/0 where every band is dark
        return torch.clamp(v * gain, 0.0, 1.0).flip(1)  # g, r, z -> B, G, R, flipped to R, G, B
