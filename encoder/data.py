"""The self-supervised training sample and a Dataset that reads its images from HDF5 shards.

The paper trains on south images with mag_z < 20, sampled uniformly in mag_z (Section 3.1): faint red galaxies
vastly outnumber bright ones and look alike, which starves a contrastive loss of diversity.
:func:`select_training_sample` makes that selection once, deterministically from a seed;
:class:`TrainingSelection` records it (shards, rows, object ids) so a checkpoint says exactly which objects
trained it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from lensdb.core.errors import Conflict, InvalidInput
from lensdb.ingest.reader import ShardReader


@dataclass(frozen=True)
class ShardInfo:
    """A shard when the selection was made: absolute path, rows, size in bytes, cutout side in pixels."""

    path: str
    n_rows: int
    size_bytes: int
    cutout: int


def read_catalogue(path: str | Path) -> tuple[ShardInfo, dict[str, np.ndarray]]:
    """The columns the training selection needs from one shard: survey, mag_z, ebv, object_id (see
    :meth:`lensdb.ingest.reader.ShardReader.training_columns`).

    Raises:
        InvalidInput: no such file, not HDF5, or a needed column is missing or malformed.
    """
    path = Path(path).resolve()
    with ShardReader(path) as reader:
        n, size = reader.image_shape()
        columns = reader.training_columns()
    return ShardInfo(str(path), n, path.stat().st_size, size), columns


@dataclass(frozen=True)
class TrainingSelection:
    """Which objects train the encoder.

    Attributes:
        shards: the shards read, in order.
        shard_index: (M,) int index into ``shards`` per selected object.
        row: (M,) row within its shard.
        object_id: (M,) int64 LensDB object ids (release << 40 | brickid << 20 | objid).
        criteria: how the selection was made (survey, mag_z_max, bin width, quota, seed, candidate count).
    """

    shards: tuple[ShardInfo, ...]
    shard_index: np.ndarray
    row: np.ndarray
    object_id: np.ndarray
    criteria: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.row.shape[0])

    @property
    def digest(self) -> str:
        """sha256 of the shard list and the selected rows and ids: equal digests, same training data."""
        h = hashlib.sha256()
        for s in self.shards:
            h.update(f"{Path(s.path).name}:{s.n_rows}:{s.cutout};".encode())
        for a in (
            self.shard_index.astype(np.int64),
            self.row.astype(np.int64),
            self.object_id.astype(np.int64),
        ):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def to_state(self) -> dict[str, Any]:
        """A dict of tensors and plain values, loadable with ``torch.load(weights_only=True)``."""
        return {
            "shards": [vars(s) for s in self.shards],
            "shard_index": torch.from_numpy(self.shard_index.astype(np.int32)),
            "row": torch.from_numpy(self.row.astype(np.int64)),
            "object_id": torch.from_numpy(self.object_id.astype(np.int64)),
            "criteria": dict(self.criteria),
            "digest": self.digest,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TrainingSelection:
        sel = cls(
            tuple(ShardInfo(**s) for s in state["shards"]),
            state["shard_index"].numpy(),
            state["row"].numpy(),
            state["object_id"].numpy(),
            dict(state["criteria"]),
        )
        if state.get("digest") != sel.digest:
            raise InvalidInput(
                "the recorded training selection does not match its digest (corrupt checkpoint)"
            )
        return sel

    def verify(self) -> None:
        """Conflict unless every shard still exists, same size, same ids at the selected rows."""
        for i, s in enumerate(self.shards):
            p = Path(s.path)
            if not p.is_file() or p.stat().st_size != s.size_bytes:
                raise Conflict(
                    f"shard {s.path} is missing or changed since training started; restore it, give the shards "
                    f"at their new place if the data moved, or start a new training run"
                )
            _, cols = read_catalogue(p)
            mine = self.shard_index == i
            if not np.array_equal(cols["object_id"][self.row[mine]], self.object_id[mine]):
                raise Conflict(f"shard {s.path} holds different objects than when training started")


def select_training_sample(
    shards: Sequence[str | Path],
    survey: str = "south",
    mag_z_max: float = 20.0,
    bin_width: float = 0.1,
    max_objects: int | None = None,
    seed: int = 0,
) -> TrainingSelection:
    """The paper's training sample: ``survey`` objects with mag_z < ``mag_z_max``, flat in mag_z.

    Candidates are binned in mag_z (``bin_width`` mag). Every bin contributes at most ``quota`` objects drawn
    at random, so the selected histogram is flat wherever bins are full and keeps every object of the sparse
    bright bins. With ``max_objects`` the quota is the smallest that reaches that many objects (all candidates
    if fewer); without it, the quota is the median occupancy of the non-empty bins (the faint half is
    flattened, the bright half kept whole).

    Raises:
        InvalidInput: no shards, cutouts of different sizes, or no object passes the cuts.
    """
    if not shards:
        raise InvalidInput("no shards given")
    infos, shard_idx, rows, ids, mags = [], [], [], [], []
    for i, path in enumerate(shards):
        info, cols = read_catalogue(path)
        infos.append(info)
        keep = np.flatnonzero((cols["survey"] == survey) & (cols["mag_z"] < mag_z_max))  # nan fails the cut
        shard_idx.append(np.full(keep.shape, i, np.int32))
        rows.append(keep)
        ids.append(cols["object_id"][keep])
        mags.append(cols["mag_z"][keep])
    shard_index, row, object_id, mag = (np.concatenate(a) for a in (shard_idx, rows, ids, mags))
    if np.unique(object_id).size != object_id.size:
        raise InvalidInput("the shards repeat object ids (the same object twice); give each shard once")
    if row.size == 0:
        raise InvalidInput(f"no {survey} object with mag_z < {mag_z_max} in {len(shards)} shard(s)")
    bins = np.floor((mag - mag.min()) / bin_width).astype(np.int64)
    counts = np.bincount(bins)
    rng = np.random.default_rng(seed)
    if max_objects is None:
        quota = int(np.median(counts[counts > 0]))
        extra = np.zeros_like(counts)
    else:
        quota, extra = _water_fill(counts, min(max_objects, row.size), rng)
    chosen = []
    order = np.argsort(bins, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    for b in np.flatnonzero(counts):
        members = order[starts[b] : starts[b + 1]]
        take = min(counts[b], quota + extra[b])
        chosen.append(members if take == counts[b] else rng.choice(members, take, replace=False))
    pick = np.sort(np.concatenate(chosen))
    criteria = {
        "survey": survey,
        "mag_z_max": float(mag_z_max),
        "bin_width": float(bin_width),
        "max_objects": max_objects,
        "seed": int(seed),
        "quota_per_bin": int(quota),
        "n_candidates": int(row.size),
        "n_selected": int(pick.size),
    }
    return TrainingSelection(tuple(infos), shard_index[pick], row[pick], object_id[pick], criteria)


def _water_fill(counts: np.ndarray, target: int, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """Quota q and per-bin extras (0/1) with sum(min(count, q + extra)) == target (extras: random bins)."""
    lo, hi = (
        0,
        int(counts.max()),
    )  # sum(min(counts, q)) grows with q: bisect for the largest q not above target
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if np.minimum(counts, mid).sum() <= target else (lo, mid - 1)
    q = lo
    extra = np.zeros_like(counts)
    short = target - int(np.minimum(counts, q).sum())
    if short:
        extra[rng.choice(np.flatnonzero(counts > q), short, replace=False)] = 1
    return q, extra


class ShardImages(Dataset):
    """Images and E(B-V) of a :class:`TrainingSelection`, read from the shards on demand.

    ``dataset[i]`` gives ((3, S, S) float32 nanomaggies, () float32 E(B-V)); ``dataset.__getitems__(indices)``
    reads a whole batch at once (the DataLoader uses it when given a batch sampler). Files are opened lazily
    in each process, so the dataset can go to DataLoader workers.
    """

    def __init__(self, selection: TrainingSelection) -> None:
        self.selection = selection
        self.size = min(s.cutout for s in selection.shards)  # mixed cutouts are centre-cut to the smallest
        ebv = np.zeros(len(selection), np.float32)
        for i, s in enumerate(selection.shards):
            mine = selection.shard_index == i
            with ShardReader(s.path) as reader:
                ebv[mine] = reader.read_rows("ebv", selection.row[mine])
        self.ebv = torch.from_numpy(ebv)
        self._readers: dict[int, ShardReader] = {}
        self._pid = -1

    def __len__(self) -> int:
        return len(self.selection)

    def _reader(self, i: int) -> ShardReader:
        if self._pid != os.getpid():  # a forked worker must not reuse the parent's handles
            self._readers, self._pid = {}, os.getpid()
        if i not in self._readers:
            self._readers[i] = ShardReader(self.selection.shards[i].path)
        return self._readers[i]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, ebv = self.__getitems__([index])
        return images[0], ebv[0]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch: ((B, 3, S, S) float32 nanomaggies, (B,) E(B-V)) in the order of ``indices``."""
        idx = np.asarray(indices, dtype=np.int64)
        out = np.empty((idx.size, 3, self.size, self.size), np.float32)
        shard_of, row_of = self.selection.shard_index[idx], self.selection.row[idx]
        for i in np.unique(shard_of):
            pos = np.flatnonzero(shard_of == i)
            # The shards were checked by ingest (finite pixels); training does not pay for the check again.
            out[pos] = self._reader(int(i)).cutouts(row_of[pos], self.size, check=False)
        return torch.from_numpy(out), self.ebv[idx]


class EpochBatchSampler(Sampler[list[int]]):
    """This rank's batches of one epoch: a seeded permutation, cut into global batches, each split across
    ranks.

    Every rank draws the same permutation from (seed, epoch), so ranks never overlap; an incomplete last
    global batch is dropped so all ranks take the same number of steps. ``start`` skips batches already
    trained (resume).
    """

    def __init__(
        self, n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1, start: int = 0
    ) -> None:
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.rank, self.world, self.start = rank, world, start

    def steps(self) -> int:
        """Steps per epoch."""
        return self.n // (self.batch_size * self.world)

    def __len__(self) -> int:
        return max(0, self.steps() - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        global_batch = self.batch_size * self.world
        for step in range(self.start, self.steps()):
            first = step * global_batch + self.rank * self.batch_size
            yield perm[first : first + self.batch_size].tolist()


def collate_batch(batch: Any) -> Any:
    """DataLoader collate for :meth:`ShardImages.__getitems__`, which already returns a stacked batch."""
    return batch
