"""Backbone factory: every backbone maps (N, 3, crop, crop) stretched RGB to an (N, 2048) pooled
representation.

The representation is what the vector store holds, so it is 2048-d for every backbone (:data:`EMBED_DIM`):

- ``resnet50``: torchvision's ResNet50 with the classifier removed (``fc = Identity``), the paper's encoder.
- ``resnet18_narrow``: a ResNet18 layout (BasicBlocks 2-2-2-2) with first-stage width ``width`` (64 =
  standard), a stride-2 3x3 stem without max-pool (small crops keep their resolution), and a wide last stage:
  a 1x1 conv + BN + ReLU to 2048 channels before pooling, as EfficientNet-style heads do, so the 2048-d output
  is non-linear and non-negative like ResNet50's rather than a low-rank linear lift of a narrow feature.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

from lensdb.encoder.config import EMBED_DIM, EncoderConfig

BACKBONES = ("resnet50", "resnet18_narrow")


class Backbone(nn.Module):
    """A feature extractor with a fixed output width.

    Attributes:
        out_dim: width of the pooled output (2048).
    """

    out_dim: int = EMBED_DIM

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 2048, h, w) feature map before pooling."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) stretched RGB in [0, 1] -> (N, 2048) global-average-pooled representation."""
        return self.forward_features(x).mean(dim=(2, 3))


class ResNet50(Backbone):
    """torchvision ResNet50 (random init) without its classifier."""

    def __init__(self) -> None:
        super().__init__()
        net = torchvision.models.resnet50(weights=None)
        net.fc = nn.Identity()
        self.net = net

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))


class NarrowResNet18(Backbone):
    """ResNet18 blocks at a reduced width with a wide (2048-channel) last stage.

    For a 48-pixel crop (the small preset) the feature maps are 24, 12, 6, 3 pixels across in the four stages.

    Args:
        width: channels of the first stage; later stages double it (width, 2w, 4w, 8w).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages, cin = [], width
        for i, cout in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or cin != cout:
                down = nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))
            stages.append(nn.Sequential(BasicBlock(cin, cout, stride, down), BasicBlock(cout, cout)))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.wide = nn.Sequential(conv1x1(cin, EMBED_DIM), nn.BatchNorm2d(EMBED_DIM), nn.ReLU(inplace=True))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.wide(self.stages(self.stem(x)))


def build_backbone(config: EncoderConfig | str, width: int = 64) -> Backbone:
    """The backbone named by ``config.backbone`` (or a name), initialised from torch's global RNG."""
    name = config if isinstance(config, str) else config.backbone
    width = width if isinstance(config, str) else config.width
    if name == "resnet50":
        return ResNet50()
    if name == "resnet18_narrow":
        return NarrowResNet18(width)
    raise ValueError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
