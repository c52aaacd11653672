"""MoCo v2 (He et al. 2020; Chen, X. et al. 2020) as the paper trains it: a query encoder learnt by SGD, a key
encoder that follows it as a moving average, a queue of past keys as negatives, and an InfoNCE loss.

Shapes below: N images per process, C = head_dim (128), K = queue_size, D = 2048 (the representation).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from lensdb.encoder.backbones import Backbone, build_backbone
from lensdb.encoder.config import EncoderConfig


class MoCoOutput(NamedTuple):
    """loss: scalar InfoNCE; logits: (N, 1 + K), column 0 the positive, already divided by the temperature."""

    loss: torch.Tensor
    logits: torch.Tensor


def info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float) -> MoCoOutput:
    """InfoNCE of queries against their keys (positives) and a queue (negatives).

    ``loss = mean_i -log( exp(q_i.k_i / T) / (exp(q_i.k_i / T) + sum_j exp(q_i.queue_j / T)) )``

    Args:
        q: (N, C) unit query vectors.
        k: (N, C) unit key vectors, row i the positive of query i.
        queue: (K, C) unit negatives.
        temperature: T.
    """
    l_pos = (q * k).sum(dim=1, keepdim=True)  # (N, 1)
    l_neg = q @ queue.T  # (N, K)
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature  # (N, 1 + K)
    labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)  # the positive sits in column 0
    return MoCoOutput(F.cross_entropy(logits, labels), logits)


def projection_head(in_dim: int, hidden: int, out_dim: int) -> nn.Module:
    """MoCo v2's MLP head: Linear-ReLU-Linear (no BN), D -> hidden -> C."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


class MoCo(nn.Module):
    """Momentum contrast with shuffle-BN.

    Args:
        backbone_fn: builds a fresh backbone ((N, 3, H, W) -> (N, D)); called once, the key copy is a deep
            copy.
        head_hidden, head_dim: MLP head sizes.
        queue_size: K, the number of negatives.
        momentum: m in ``key = m * key + (1 - m) * query`` per step.
        temperature: InfoNCE T.
        bn_splits: BatchNorm groups that stand in for GPUs when running as one process (see :meth:`forward`).

    Buffers ``queue`` (K, C) and ``queue_ptr`` () belong to the state dict, so checkpoints hold them.
    """

    def __init__(self, backbone_fn: Callable[[], Backbone], head_hidden: int = 2048, head_dim: int = 128,
                 queue_size: int = 65536, momentum: float = 0.996, temperature: float = 0.2,
                 bn_splits: int = 1) -> None:
        super().__init__()
        self.momentum, self.temperature, self.bn_splits = momentum, temperature, bn_splits
        self.encoder_q = backbone_fn()
        self.head_q = projection_head(self.encoder_q.out_dim, head_hidden, head_dim)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        self.head_k = copy.deepcopy(self.head_q)
        for p in self.key_parameters():
            p.requires_grad_(False)  # the key encoder only moves by the moving average
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, head_dim), dim=1))  # (K, C)
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))  # next row to overwrite

    @classmethod
    def from_config(cls, config: EncoderConfig) -> MoCo:
        """A MoCo model with the backbone and hyper-parameters of ``config`` (weights from torch's RNG)."""
        return cls(lambda: build_backbone(config), config.head_hidden, config.head_dim, config.queue_size,
                   config.momentum, config.temperature, config.bn_splits)

    def query_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder_q.parameters(), *self.head_q.parameters()]

    def key_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder_k.parameters(), *self.head_k.parameters()]

    @torch.no_grad()
    def momentum_update(self) -> None:
        """key = m * key + (1 - m) * query for each parameter (BN statistics stay the key encoder's own)."""
        for p_k, p_q in zip(self.key_parameters(), self.query_parameters(), strict=True):
            p_k.lerp_(p_q.detach(), 1.0 - self.momentum)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Overwrite the oldest rows of the queue with ``keys`` (B, C), wrapping around; B may exceed K."""
        size = self.queue.shape[0]
        keys = keys[-size:].to(self.queue.dtype)
        rows = (self.queue_ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[rows] = keys
        self.queue_ptr.copy_((self.queue_ptr + keys.shape[0]) % size)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) stretched RGB -> (N, D) representation of the query encoder (what LensDB stores)."""
        return self.encoder_q(images)

    def _project(self, encoder: nn.Module, head: nn.Module, images: torch.Tensor, splits: int
                 ) -> torch.Tensor:
        # Each chunk is a separate BatchNorm batch, as each GPU's share is under DDP.
        chunks = images.chunk(splits) if splits > 1 else (images,)
        z = torch.cat([head(encoder(c)) for c in chunks])
        return F.normalize(z.float(), dim=1)  # (N, C), loss in fp32 whatever the autocast

    def forward(
        self, im_q: torch.Tensor, im_k: torch.Tensor, generator: torch.Generator | None = None
    ) -> MoCoOutput:
        """One MoCo step's forward: two views (N, 3, H, W) of the same N images -> InfoNCE loss and logits.

        Shuffle-BN: BatchNorm statistics would let a query find its key through the batch they share, so the
        keys are encoded in a shuffled grouping. Under torch.distributed (world > 1) the key images are
        gathered, permuted across processes and scattered back (the permutation comes from rank 0); as one
        process, the keys are permuted within the batch and both encoders run in ``bn_splits`` groups. The
        queue grows by the keys of all processes, in the same order everywhere, so every rank keeps an
        identical queue.
        """
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        q = self._project(self.encoder_q, self.head_q, im_q, 1 if distributed else self.bn_splits)  # (N, C)
        with torch.no_grad():
            self.momentum_update()
            if distributed:
                k, k_all = self._keys_across_ranks(im_k, generator)
            else:
                perm = torch.randperm(im_k.shape[0], generator=generator, device=im_k.device)
                k_perm = self._project(self.encoder_k, self.head_k, im_k[perm], self.bn_splits)
                k = torch.empty_like(k_perm)
                k[perm] = k_perm  # undo the shuffle: row i is again the key of image i
                k_all = k
        with torch.autocast(q.device.type, enabled=False):  # logits / T in fp32 even under bf16 autocast
            out = info_nce(q, k, self.queue.clone().detach(), self.temperature)
        self.enqueue(k_all)
        return out

    @torch.no_grad()
    def _keys_across_ranks(
        self, im_k: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys of this rank's images (N, C), encoded after a global shuffle; and all ranks' keys (W*N, C)."""
        world, rank, n = dist.get_world_size(), dist.get_rank(), im_k.shape[0]
        images = gather(im_k)  # (W*N, 3, H, W)
        perm = torch.randperm(world * n, generator=generator, device=im_k.device)
        dist.broadcast(perm, src=0)  # every rank uses rank 0's permutation
        mine = perm[rank * n : (rank + 1) * n]
        k_shuffled = gather(self._project(self.encoder_k, self.head_k, images[mine], 1))  # (W*N, C)
        k_all = torch.empty_like(k_shuffled)
        k_all[perm] = k_shuffled  # back to the global order of the images
        return k_all[rank * n : (rank + 1) * n], k_all


@torch.no_grad()
def gather(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` (N, ...) from every rank along dim 0 -> (W*N, ...); no gradient flows through."""
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)
