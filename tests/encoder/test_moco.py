"""MoCo mechanics: queue and pointer, momentum update, gradients, InfoNCE, shuffle-BN bookkeeping, backbones."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lensdb.encoder.backbones import Backbone, NarrowResNet18, ResNet50, build_backbone
from lensdb.encoder.moco import MoCo, info_nce


class Linear(Backbone):
    """A one-layer backbone with a BatchNorm, enough to exercise MoCo's bookkeeping."""

    out_dim = 6

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 4 * 4, 6)
        self.bn = nn.BatchNorm1d(6)

    def forward(self, x):
        return self.bn(self.fc(x.flatten(1)))


def tiny(queue=10, momentum=0.9, bn_splits=1) -> MoCo:
    torch.manual_seed(0)
    return MoCo(Linear, head_hidden=8, head_dim=4, queue_size=queue, momentum=momentum, temperature=0.2,
                bn_splits=bn_splits)


def test_queue_and_pointer_are_buffers_and_wrap_around():
    m = tiny(queue=10)
    names = dict(m.named_buffers())
    assert names["queue"].shape == (10, 4) and names["queue_ptr"].item() == 0
    assert "queue" in m.state_dict() and "queue_ptr" in m.state_dict()
    torch.testing.assert_close(m.queue.norm(dim=1), torch.ones(10))
    batches = [torch.full((4, 4), float(i)) for i in (1, 2, 3)]
    for b in batches:
        m.enqueue(b)
    assert m.queue_ptr.item() == 2  # 12 keys into 10 rows
    expected = torch.tensor([3, 3, 1, 1, 2, 2, 2, 2, 3, 3], dtype=torch.float32)  # rows 0-1 overwritten by batch 3
    torch.testing.assert_close(m.queue[:, 0], expected)
    m.enqueue(torch.arange(24, dtype=torch.float32).reshape(12, 2).repeat(1, 2))  # more keys than rows
    assert m.queue_ptr.item() == 2 and m.queue[:, 0].tolist() == [20, 22, 4, 6, 8, 10, 12, 14, 16, 18]


def test_momentum_update_follows_the_formula():
    m = tiny(momentum=0.9)
    with torch.no_grad():
        for p in m.query_parameters():
            p.fill_(1.0)
        for p in m.key_parameters():
            p.fill_(3.0)
    m.momentum_update()
    for p in m.key_parameters():
        torch.testing.assert_close(p, torch.full_like(p, 0.9 * 3.0 + 0.1 * 1.0))
    for p in m.query_parameters():
        torch.testing.assert_close(p, torch.ones_like(p))


def test_key_encoder_gets_no_gradients_and_queue_advances():
    m = tiny(queue=10)
    q0 = [p.detach().clone() for p in m.query_parameters()]
    out = m(torch.rand(4, 3, 4, 4), torch.rand(4, 3, 4, 4), generator=torch.Generator().manual_seed(0))
    assert out.logits.shape == (4, 11)
    out.loss.backward()
    assert all(not p.requires_grad and p.grad is None for p in m.key_parameters())
    assert all(p.grad is not None for p in m.query_parameters())
    assert m.queue_ptr.item() == 4
    torch.testing.assert_close(m.queue[:4].norm(dim=1), torch.ones(4))
    # forward leaves the query weights alone: only the optimiser moves them
    for p, q in zip(m.query_parameters(), q0, strict=True):
        torch.testing.assert_close(p, q)


def test_loss_equals_hand_computed_infonce():
    q = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8]]), dim=1)
    k = F.normalize(torch.tensor([[0.8, 0.6], [0.0, 1.0]]), dim=1)
    queue = F.normalize(torch.tensor([[1.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]), dim=1)
    t = 0.2
    expected = 0.0
    for i in range(2):
        pos = math.exp(float(q[i] @ k[i]) / t)
        neg = sum(math.exp(float(q[i] @ queue[j]) / t) for j in range(3))
        expected += -math.log(pos / (pos + neg)) / 2
    out = info_nce(q, k, queue, t)
    assert out.loss.item() == pytest.approx(expected, rel=1e-6)
    assert out.logits.shape == (2, 4)
    assert out.logits[0, 0].item() == pytest.approx(0.8 / t)


@pytest.mark.parametrize("splits", [1, 2])
def test_shuffled_keys_are_put_back_in_order(splits):
    m = tiny(queue=16, bn_splits=splits).eval()  # eval: BN uses running statistics, so grouping cannot matter
    im_q, im_k = torch.rand(6, 3, 4, 4), torch.rand(6, 3, 4, 4)
    m(im_q, im_k, generator=torch.Generator().manual_seed(3))  # momentum update happens inside
    with torch.no_grad():
        direct = F.normalize(m.head_k(m.encoder_k(im_k)), dim=1)
    torch.testing.assert_close(m.queue[:6], direct, atol=1e-6, rtol=1e-5)


def test_backbones_give_2048_d_representations():
    x = torch.rand(2, 3, 64, 64)
    narrow = NarrowResNet18(width=4).eval()
    assert narrow(x).shape == (2, 2048)
    assert bool((narrow(x) >= 0).all())  # ReLU before pooling, as in ResNet50
    r50 = ResNet50().eval()
    with torch.no_grad():
        assert r50(torch.rand(1, 3, 96, 96)).shape == (1, 2048)
    assert isinstance(r50.net.fc, nn.Identity)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("vit")
