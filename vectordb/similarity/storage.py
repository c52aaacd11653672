"""On-disk format of the similarity array: a plan, an id index, and chunk files written atomically.

Folder layout (``<data_dir>/similarity/<encoder_version>/`` by default)::

    plan.json                  inputs' fingerprint, n, k, window, chunk_rows, chunk count
    order.npy                  (n,) int64: object id of each row (rows are in increasing r magnitude)
    index_keys.npy, index_rows.npy
                               open-addressing hash table object id -> row (O(1) lookup, memory-mapped)
    chunks/chunk_000123.ids.npy    (rows, k) int64 neighbour object ids, -1 = none
    chunks/chunk_000123.sims.npy   (rows, k) float32 cosine similarities, decreasing, NaN = none

A chunk exists only once complete (written under a temporary name, then renamed), so any number of shard jobs
can write into one folder, and a killed job resumes by skipping the chunks that exist.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lensdb.core.errors import Conflict, InvalidInput, NotFound

FORMAT = "lensdb-similarity/1"
_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads consecutive ids over the table


@dataclass(frozen=True)
class Plan:
    """What a similarity array holds; identical for every shard of one build."""

    format: str
    encoder_version: str
    n: int
    dim: int
    k: int
    window: float
    chunk_rows: int
    fingerprint: str

    @property
    def n_chunks(self) -> int:
        return (self.n + self.chunk_rows - 1) // self.chunk_rows

    def chunk_range(self, chunk: int) -> tuple[int, int]:
        """Rows ``[start, stop)`` of a chunk."""
        return chunk * self.chunk_rows, min(self.n, (chunk + 1) * self.chunk_rows)


def _atomic_save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, array)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _slots(keys: np.ndarray, bits: int) -> np.ndarray:
    return ((keys.astype(np.uint64) * _MULT) >> np.uint64(64 - bits)).astype(np.int64)


def build_index(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hash table (keys, rows) of capacity >= 2n with linear probing; empty slots hold key -1."""
    bits = max(4, int(np.ceil(np.log2(max(2 * len(ids), 16)))))
    cap = 1 << bits
    keys = np.full(cap, -1, dtype=np.int64)
    rows = np.full(cap, -1, dtype=np.int64)
    pending = np.arange(len(ids))
    slot = _slots(ids, bits)
    while pending.size:  # each round places every pending id whose slot is free and first-claimed
        s = slot[pending]
        free = keys[s] == -1
        _, first = np.unique(s, return_index=True)
        claim = np.zeros(len(pending), dtype=bool)
        claim[first] = True
        place = free & claim
        keys[s[place]], rows[s[place]] = ids[pending[place]], pending[place]
        pending = pending[~place]
        slot[pending] = (slot[pending] + 1) & (cap - 1)
    return keys, rows


class SimilarityArray:
    """Read access to a built (or partly built) similarity array folder."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        plan_path = self.folder / "plan.json"
        if not plan_path.is_file():
            raise NotFound(f"no similarity array in {self.folder} (plan.json missing); run 'lensdb similarity build'")
        self.plan = read_plan(self.folder)
        self._keys = np.load(self.folder / "index_keys.npy", mmap_mode="r")
        self._rows = np.load(self.folder / "index_rows.npy", mmap_mode="r")
        self._bits = int(np.log2(len(self._keys)))

    def row_of(self, object_id: int) -> int:
        """The row of ``object_id`` (O(1): a hash probe); NotFound when the array does not hold it."""
        if isinstance(object_id, bool) or not isinstance(object_id, int | np.integer) or object_id < 0:
            raise InvalidInput(f"object id must be a non-negative integer; got {object_id!r}")
        slot = int(_slots(np.array([object_id], dtype=np.int64), self._bits)[0])
        mask = len(self._keys) - 1
        while True:
            key = int(self._keys[slot])
            if key == object_id:
                return int(self._rows[slot])
            if key == -1:
                raise NotFound(f"object {object_id} is not in the similarity array {self.folder}")
            slot = (slot + 1) & mask

    def chunk_path(self, chunk: int, kind: str) -> Path:
        return chunk_path(self.folder, chunk, kind)

    def get(self, object_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(neighbour ids (k,) int64, similarities (k,) float32) of one object, most similar first."""
        row = self.row_of(object_id)
        chunk, offset = divmod(row, self.plan.chunk_rows)
        paths = [self.chunk_path(chunk, kind) for kind in ("ids", "sims")]
        if not all(p.is_file() for p in paths):
            raise NotFound(
                f"the chunk holding object {object_id} ({paths[0].name}) is not built yet; "
                "finish 'lensdb similarity build'"
            )
        ids, sims = (np.load(p, mmap_mode="r")[offset] for p in paths)
        return np.array(ids), np.array(sims)

    def done_chunks(self) -> list[int]:
        return [c for c in range(self.plan.n_chunks) if chunk_done(self.folder, c)]

    def load_all(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row ids (n,), neighbour ids (n, k), similarities (n, k)) in row order; every chunk must exist."""
        missing = sorted(set(range(self.plan.n_chunks)) - set(self.done_chunks()))
        if missing:
            raise NotFound(f"{len(missing)} chunk(s) missing in {self.folder} (first {missing[0]})")
        ids = np.concatenate([np.load(self.chunk_path(c, "ids")) for c in range(self.plan.n_chunks)])
        sims = np.concatenate([np.load(self.chunk_path(c, "sims")) for c in range(self.plan.n_chunks)])
        return np.load(self.folder / "order.npy"), ids, sims


def chunk_path(folder: Path, chunk: int, kind: str) -> Path:
    return folder / "chunks" / f"chunk_{chunk:06d}.{kind}.npy"


def chunk_done(folder: Path, chunk: int) -> bool:
    return chunk_path(folder, chunk, "ids").is_file() and chunk_path(folder, chunk, "sims").is_file()


def write_chunk(folder: Path, chunk: int, ids: np.ndarray, sims: np.ndarray) -> None:
    """Write one chunk: similarities first, ids last, so the ids file marks completion."""
    (folder / "chunks").mkdir(parents=True, exist_ok=True)
    _atomic_save(chunk_path(folder, chunk, "sims"), sims.astype(np.float32))
    _atomic_save(chunk_path(folder, chunk, "ids"), ids.astype(np.int64))


def read_plan(folder: Path) -> Plan:
    data = json.loads((folder / "plan.json").read_text())
    if data.get("format") != FORMAT:
        raise Conflict(f"{folder}/plan.json has format {data.get('format')!r}, expected {FORMAT}")
    return Plan(**data)


def prepare(folder: Path, plan: Plan, order_ids: np.ndarray) -> None:
    """Create the folder with its plan, row order and index, or check that an existing one matches the plan."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "plan.json").is_file():
        old = read_plan(folder)
        if old != plan:
            raise Conflict(
                f"{folder} holds a similarity array of other inputs or settings ({_diff(old, plan)}); "
                "use another --out folder or delete this one"
            )
    else:
        tmp = folder / f".plan.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(asdict(plan), indent=2))
        os.replace(tmp, folder / "plan.json")
    if not (folder / "index_rows.npy").is_file():
        keys, rows = build_index(order_ids)
        _atomic_save(folder / "order.npy", order_ids)
        _atomic_save(folder / "index_keys.npy", keys)
        _atomic_save(folder / "index_rows.npy", rows)


def _diff(a: Plan, b: Plan) -> str:
    da, db = asdict(a), asdict(b)
    return ", ".join(f"{k}: {da[k]!r} vs {db[k]!r}" for k in da if da[k] != db[k])


def merge(sources: list[Path], dest: Path) -> int:
    """Gather the chunks of shard folders into ``dest`` (hard links where possible). Returns chunks copied.

    Raises:
        Conflict: the sources were built from different inputs or settings.
    """
    if not sources:
        raise InvalidInput("merge: give at least one shard folder")
    plans = [read_plan(Path(s)) for s in sources]
    if any(p != plans[0] for p in plans[1:]):
        raise Conflict("merge: the shard folders hold arrays of different inputs or settings")
    prepare(dest, plans[0], np.load(Path(sources[0]) / "order.npy"))
    copied = 0
    for src in map(Path, sources):
        for chunk in range(plans[0].n_chunks):
            if chunk_done(src, chunk) and not chunk_done(dest, chunk):
                (dest / "chunks").mkdir(exist_ok=True)
                for kind in ("sims", "ids"):
                    target = chunk_path(dest, chunk, kind)
                    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                    try:
                        os.link(chunk_path(src, chunk, kind), tmp)
                    except OSError:
                        shutil.copyfile(chunk_path(src, chunk, kind), tmp)
                    os.replace(tmp, target)
                copied += 1
    return copied
