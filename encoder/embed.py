"""The embedding job: survey shards -> L2-normalised 2048-d vectors + norm + catalogue metadata in the vector store.

    report = embed_shards(settings, ["/data/shards/south"], "lensdb-data/encoder/checkpoint.pt")

Per shard: the structure and every catalogue chunk are checked with :mod:`lensdb.ingest.validate` (a bad shard stops
the job
with the message naming file, key and problem), object ids must be unique in the shard, then a background thread reads
the next chunk of images and catalogue rows from HDF5 while the model runs on the current one (centre crop + arcsinh
stretch as at training time, ``torch.inference_mode``, bf16 autocast and channels_last on CUDA). Each chunk is
*upserted* into the collection of the checkpoint's encoder version, so a shard interrupted half-way is simply redone
without duplicates; once all its vectors are written, a small JSON marker
``<data_dir>/embed/<version>/done/<shard>-<hash>.json`` is written atomically and a later run skips the shard while the
file (size, mtime) and the Milvus URI are unchanged. One marker per shard, so the indexed Jobs of ``--shard i/n`` never
write the same file.

Only :func:`embed_shards` touches the vector store (pymilvus is imported there); the rest (loader, batch encoder) runs
with torch, numpy and h5py alone, which the GPU benchmark relies on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lensdb.core.errors import InvalidInput, LensDBError
from lensdb.core.partition import parse_partition, select_partition  # noqa: F401 (the CLI's)
from lensdb.encoder.inference import Embedder
from lensdb.encoder.transforms.crop import host_centre_crop
from lensdb.ingest import checks, validate
from lensdb.ingest.reader import IMAGES, ShardReader, catalog_columns, find_shards, object_ids, open_shard

log = logging.getLogger("lensdb.embed")

CHECKPOINT_DEFAULT = ("encoder", "checkpoint.pt")
#: Bytes of pixels per HDF5 read (whole HDF5 chunks when they fit).
READ_BYTES = 64 << 20


# ---------------------------------------------------------------------------------------------------- shard lists
def expand_shards(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given and folders expanded to their ``*.h5`` files (see :func:`lensdb.ingest.reader.find_shards`).

    Raises:
        InvalidInput: a path does not exist, or nothing is left.
    """
    found = find_shards(paths, must_exist=True)
    if not found:
        raise InvalidInput("no shards to embed: give .h5 files or folders that hold some")
    return found


# ---------------------------------------------------------------------------------------------------- device side
def resolve_device(device: str | None) -> torch.device:
    """``auto``/None -> cuda when available, else cpu."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput("--device cuda: no CUDA device is available here; use --device cpu")
    return dev


def resolve_precision(precision: str | None, device: torch.device) -> str:
    """``auto``: bf16 autocast on CUDA; fp32 on CPU (bf16 on CPU pays only where the CPU has AMX/AVX512-BF16:
    ask for it with ``bf16``, bench/bench_embed.py says which is faster on a given machine)."""
    if precision in (None, "auto"):
        return "bf16" if device.type == "cuda" else "fp32"
    if precision not in ("fp32", "bf16"):
        raise InvalidInput(f"precision {precision!r}: use auto, fp32 or bf16")
    return precision


class BatchEncoder:
    """The forward pass of the job: raw cutouts -> raw (un-normalised) representations, batch by batch.

    Same pipeline, weights and whitening as :meth:`lensdb.encoder.inference.Embedder.embed`, plus ``inference_mode``,
    bf16 autocast on CPU as well as CUDA, and channels_last where it helps (CUDA always; CPU on request).
    """

    def __init__(self, embedder: Embedder, precision: str = "fp32", batch_size: int = 256,
                 channels_last: bool | None = None, check_finite: bool | None = None):
        self.embedder, self.device = embedder, embedder.device
        self.precision, self.batch_size = precision, max(1, int(batch_size))
        self.channels_last = self.device.type == "cuda" if channels_last is None else channels_last
        self.check_finite = self.device.type == "cuda" if check_finite is None else check_finite
        if self.channels_last:
            embedder.backbone.to(memory_format=torch.channels_last)

    def __call__(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) nanomaggies (float16/32) -> (N, 2048) float32 on the CPU.

        Input already on the device is used as is, and pinned host input (the reader processes' chunks) is copied
        whole. Other host input is pinned per batch on CUDA: whole cutouts when the NaN check runs on the device
        (``check_finite``: it must see every pixel), else only the centre crop, cut on the host first (a 152-px
        cutout is 2.5x the bytes of its 96-px crop). The pipeline's own CenterCrop then sees a crop-sized image and
        leaves it as is, so the vectors are the same either way. Results stay on the device until the whole call is
        done: one copy back, no sync per batch.

        Raises:
            NonFinitePixels: with ``check_finite`` (default: on CUDA), a NaN or infinite pixel anywhere in
                ``images``, tested on the device (:func:`lensdb.ingest.checks.check_images` then names the row and
                band).
        """
        x = torch.as_tensor(images)
        cuda = self.device.type == "cuda"
        parts, finite = [], []
        with torch.inference_mode():
            for i in range(0, x.shape[0], self.batch_size):
                part = x[i : i + self.batch_size]
                if part.device.type == "cpu" and not (cuda and part.is_pinned()):
                    if not self.check_finite:  # the check must see every pixel
                        part = host_centre_crop(part, self.embedder.crop)
                    if cuda:
                        part = part.pin_memory()
                raw = part.to(self.device, non_blocking=True)
                if self.check_finite:
                    finite.append(torch.isfinite(raw).all())
                chunk = self.embedder.pipeline(raw.float())
                if self.channels_last:
                    chunk = chunk.contiguous(memory_format=torch.channels_last)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                    raw = self.embedder.backbone(chunk).float()
                parts.append(self.embedder.finish(raw))  # whitening (if any) in fp32, outside autocast
        if not parts:
            return torch.empty((0, self.embedder.dim), dtype=torch.float32)
        out = torch.cat(parts).cpu()
        if finite and not bool(torch.stack(finite).all()):
            raise NonFinitePixels("NaN or infinite pixels in the images")
        return out


class NonFinitePixels(InvalidInput):
    """A NaN or infinite pixel found by :class:`BatchEncoder`'s device-side check."""


def normalise(raw: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw vectors -> (unit vectors float32, L2 norms float32). Raises InvalidInput for a zero or non-finite norm."""
    v = np.asarray(raw, dtype=np.float32)
    norm = np.linalg.norm(v.astype(np.float64), axis=1)
    bad = ~(np.isfinite(norm) & (norm > 0))
    if bad.any():
        raise InvalidInput(f"the encoder gave {int(bad.sum())} zero or non-finite vector(s) (first at chunk row "
                           f"{int(np.flatnonzero(bad)[0])}); check the images and the checkpoint")
    return (v / norm[:, None]).astype(np.float32), norm.astype(np.float32)


# ---------------------------------------------------------------------------------------------------- host side
@dataclass
class Chunk:
    """Rows ``[start, start + len(images))`` of one shard: pixels (a fresh copy) and ``sources``-style columns."""

    start: int
    images: np.ndarray | torch.Tensor
    columns: dict[str, np.ndarray] | None = None

    def pin_memory(self) -> Chunk:
        """The chunk with its pixels in page-locked memory (called by the DataLoader's pinning thread)."""
        return Chunk(self.start, torch.as_tensor(self.images).pin_memory(), self.columns)


def read_chunks(reader: ShardReader, rows: int, keys: Sequence[str] | None = None,
                survey: str | None = None, *, check_images: bool = True) -> Iterator[Chunk]:
    """Chunks of ``rows`` images (plus, when ``keys`` are given, their checked catalogue columns).

    ``check_images=False`` leaves the NaN/inf test to the caller (:class:`BatchEncoder` can do it on the GPU).
    """
    n = reader.dataset(IMAGES).shape[0]
    for start in range(0, n, max(1, rows)):
        yield read_chunk(reader, start, min(n, start + rows), keys, survey, check_images)


def read_chunk(reader: ShardReader, start: int, stop: int, keys: Sequence[str] | None = None,
               survey: str | None = None, check_images: bool = True) -> Chunk:
    """Rows ``[start, stop)``: see :func:`read_chunks`."""
    images = reader.read(IMAGES, start, stop)
    if check_images:
        checks.check_images(reader.path, images, start)
    columns = None
    if keys is not None:
        raw = {key: reader.read(key, start, stop) for key in keys}
        columns = catalog_columns(raw, validate.check_chunk(reader.path, raw, start, survey))
    return Chunk(start, images, columns)


class ShardChunks(torch.utils.data.Dataset):
    """A shard as a map-style dataset of chunks, for reading in DataLoader worker processes.

    h5py holds the GIL while it reads, so a reader *thread* barely overlaps the model; worker processes do. Each
    process opens the shard itself on first use. Images come back as tensors (moved through shared memory, not
    pickled); a :class:`lensdb.core.errors.LensDBError` raised in a worker comes back as the item, so the consumer
    re-raises the same clear message rather than the DataLoader's wrapped traceback.
    """

    def __init__(self, path: Path, rows: int, keys: Sequence[str] | None, survey: str | None,
                 check_images: bool):
        self.path, self.rows, self.keys, self.survey, self.check = Path(path), max(1, rows), keys, survey, check_images
        with open_shard(self.path) as reader:
            self.n = reader.dataset(IMAGES).shape[0]
        self._reader: ShardReader | None = None

    def __len__(self) -> int:
        return -(-self.n // self.rows)

    def __getitem__(self, i: int) -> Chunk | LensDBError:
        if self._reader is None:
            self._reader = open_shard(self.path)
        start = i * self.rows
        try:
            chunk = read_chunk(self._reader, start, min(self.n, start + self.rows), self.keys, self.survey,
                               self.check)
        except LensDBError as exc:
            return exc
        chunk.images = torch.from_numpy(chunk.images)
        return chunk

    def __del__(self) -> None:
        if getattr(self, "_reader", None) is not None:
            self._reader.close()


def _worker_chunks(path: Path, rows: int, keys, survey, check_images: bool, workers: int,
                   pin: bool) -> Iterator[Chunk]:
    loader = torch.utils.data.DataLoader(ShardChunks(path, rows, keys, survey, check_images), batch_size=None,
                                         num_workers=workers, pin_memory=pin, prefetch_factor=PREFETCH_DEPTH)
    for item in loader:
        if isinstance(item, BaseException):
            raise item
        yield item


#: Chunks read ahead of the model by the reader thread (CPU) or by each worker process.
PREFETCH_DEPTH = 2


def encoded_chunks(reader: ShardReader, encode: BatchEncoder, rows: int, keys: Sequence[str] | None = None,
                   survey: str | None = None, workers: int = 0) -> Iterator[tuple[Chunk, torch.Tensor]]:
    """``(chunk, raw vectors)`` over a shard, the HDF5 reads of the next chunks overlapping the model.

    By default one reader thread reads ahead. With ``workers`` > 0, worker processes read the chunks (and a thread
    pins them on CUDA): for compressed shards or slow storage, where reads cost CPU time. On uncompressed shards in
    the page cache they are slower: on an H200, 5,300-6,500 ResNet50 images/s against 12,900 with the thread
    (``bench/results/embed_cuda.json``), since each chunk crosses shared memory and is pinned whole.

    Pixels are checked for NaN/inf on the device when ``encode.check_finite`` (on by default on CUDA: with the check
    and the crop on the host the same H200 run gave 9,100 images/s, not 12,900), else as they are read; either way a
    bad chunk raises :func:`lensdb.ingest.checks.check_images`'s error, which names the shard, the row and the band.
    """
    cuda = encode.device.type == "cuda"
    check_on_read = not encode.check_finite
    if workers:  # the DataLoader reads ahead itself
        source = contextlib.closing(_worker_chunks(reader.path, rows, keys, survey, check_on_read, workers, cuda))
    else:
        source = Prefetcher(read_chunks(reader, rows, keys, survey, check_images=check_on_read), depth=PREFETCH_DEPTH)
    with source as chunks:
        for chunk in chunks:
            try:
                raw = encode(chunk.images)
            except NonFinitePixels:
                checks.check_images(reader.path, np.asarray(chunk.images), chunk.start)
                raise
            yield chunk, raw


class Prefetcher:
    """Iterate ``source`` in a background thread, ``depth`` items ahead (HDF5 reads overlap the model).

    Errors raised by the source are re-raised in the consumer; closing early stops the thread.
    """

    _END = object()

    def __init__(self, source: Iterator[Any], depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(source,), name="embed-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterator[Any]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as exc:  # handed to the consumer
            self._put(exc)

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------- resume markers
def _stat(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


class DoneMarkers:
    """``<data_dir>/embed/<version folder>/done/<shard name>-<8 hex of its absolute path>.json``, one per shard."""

    def __init__(self, folder: Path, milvus_uri: str, version: str):
        self.folder, self.milvus_uri, self.version = folder, milvus_uri, version

    def path(self, shard: Path) -> Path:
        digest = hashlib.sha256(str(shard.resolve()).encode()).hexdigest()[:8]
        return self.folder / f"{shard.name}-{digest}.json"

    def is_done(self, shard: Path) -> bool:
        try:
            marker = json.loads(self.path(shard).read_text())
        except (OSError, ValueError):
            return False
        return (marker.get("milvus_uri") == self.milvus_uri and marker.get("encoder_version") == self.version
                and all(marker.get(k) == v for k, v in _stat(shard).items()))

    def mark(self, shard: Path, rows: int, seconds: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(shard)
        tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"shard": str(shard.resolve()), "rows": rows, **_stat(shard),
                                   "encoder_version": self.version, "milvus_uri": self.milvus_uri,
                                   "seconds": round(seconds, 3), "finished": time.time()}, indent=1))
        tmp.replace(target)


# ---------------------------------------------------------------------------------------------------- the job
@dataclass
class ShardResult:
    path: Path
    status: str  # "embedded" or "skipped"
    rows: int = 0
    seconds: float = 0.0


@dataclass
class EmbedReport:
    encoder_version: str
    collection: str
    device: str
    precision: str
    shards: list[ShardResult] = field(default_factory=list)

    @property
    def embedded(self) -> list[ShardResult]:
        return [s for s in self.shards if s.status == "embedded"]

    @property
    def skipped(self) -> list[ShardResult]:
        return [s for s in self.shards if s.status == "skipped"]

    @property
    def images(self) -> int:
        return sum(s.rows for s in self.embedded)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.embedded)

    def summary(self) -> str:
        rate = self.images / self.seconds if self.seconds else 0.0
        return (f"{len(self.embedded)} shard(s) embedded ({self.images:,} vectors, {rate:,.0f} images/s), "
                f"{len(self.skipped)} skipped as done; encoder {self.encoder_version} -> collection "
                f"{self.collection} on {self.device} ({self.precision})")


#: ``progress(event, shard_name, n)``: event is "start" (n = rows) or "rows" (n = rows just written).
ProgressFn = Callable[[str, str, int], None]


class ProgressBar:
    """A tqdm bar (images, across every shard) fed by :func:`embed_shards`'s progress events; a context manager.

    Args:
        disable: True hides it; None shows it only on a terminal (tqdm's rule).
    """

    def __init__(self, disable: bool | None = None):
        import sys

        from tqdm import tqdm

        self.bar = tqdm(total=0, unit="img", unit_scale=True, desc="embedded", file=sys.stderr, dynamic_ncols=True,
                        disable=disable)

    def __call__(self, event: str, name: str, n: int) -> None:
        if event == "start":
            self.bar.total += n
            self.bar.set_postfix_str(name)
            self.bar.refresh()
        else:
            self.bar.update(n)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def embed_shards(settings, shards: Iterable[str | os.PathLike], checkpoint: str | os.PathLike | None = None, *,
                 batch_size: int = 256, device: str | None = "auto", precision: str | None = "auto",
                 partition: tuple[int, int] | str | None = None, chunk_rows: int | None = None,
                 survey: str | None = None, progress: ProgressFn | None = None, vectordb_config=None,
                 read_workers: int = 0) -> EmbedReport:
    """Embed ``shards`` (files or folders) with ``checkpoint`` into the collection of its encoder version.

    Args:
        settings: LensDB settings (data folder, Milvus URI and token, ``[vectordb]``).
        shards: files or folders of ``*.h5``; folders expand sorted; ``partition`` ``(i, n)``/``"i/n"`` keeps every
            n-th of the sorted list from i.
        checkpoint: encoder checkpoint (default ``<data_dir>/encoder/checkpoint.pt``).
        batch_size: images per forward pass. chunk_rows: images per HDF5 read (default: 64 MiB of pixels, at least
            one batch). survey: survey of rows whose release has none (as ``lensdb ingest --survey``).
        progress: optional callback (see :data:`ProgressFn`).
        read_workers: processes reading the shards (0: one reader thread); see :func:`encoded_chunks`.

    Raises:
        InvalidInput: a bad shard (message naming file, key, problem) or a cutout smaller than the encoder's crop.
        NotFound / InvalidInput: a missing or damaged checkpoint.
        Conflict: the collection of this version's name records another encoder version, or another dimension.
    """
    from lensdb.vectordb.naming import folder_name
    from lensdb.vectordb.store import VectorStore

    if read_workers < 0:
        raise InvalidInput(f"read_workers must be 0 (one reader thread) or more processes, got {read_workers}")
    paths = select_partition(expand_shards(shards), partition)
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    embedder = Embedder.from_checkpoint(checkpoint or settings.path(*CHECKPOINT_DEFAULT), device=dev)
    encode = BatchEncoder(embedder, prec, batch_size)
    markers = DoneMarkers(settings.path("embed", folder_name(embedder.version), "done"), settings.milvus_uri,
                          embedder.version)
    with VectorStore.open(settings, embedder.version, dim=embedder.dim, create=True, config=vectordb_config) as store:
        report = EmbedReport(embedder.version, store.name, str(dev), prec)
        log.info("embedding %d shard(s) with encoder %s into %s", len(paths), embedder.version, store.name)
        for path in paths:
            if markers.is_done(path):
                log.info("skipping %s: already embedded with this encoder", path)
                report.shards.append(ShardResult(path, "skipped"))
                continue
            t0 = time.perf_counter()
            rows = _embed_one(path, store, encode, batch_size, chunk_rows, survey, progress, read_workers)
            seconds = time.perf_counter() - t0
            markers.mark(path, rows, seconds)
            report.shards.append(ShardResult(path, "embedded", rows, seconds))
            log.info("embedded %s: %d vectors in %.1f s", path, rows, seconds)
        if report.embedded:
            # Sealed segments search fast; unflushed rows are searched from the growing buffer (Lite: seconds).
            store.flush()
    return report


def _embed_one(path: Path, store, encode: BatchEncoder, batch_size: int, chunk_rows: int | None,
               survey: str | None, progress: ProgressFn | None, read_workers: int = 0) -> int:
    with open_shard(path) as reader:
        layout = validate.check_structure(reader)
        crop = encode.embedder.crop
        if layout.cutout < crop:
            raise checks.problem(path, IMAGES, f"cutouts of {layout.cutout} pixels are smaller than the "
                                   f"encoder's {crop}-pixel crop", "cut larger stamps or use another encoder")
        ids = object_ids({k: reader.read(k, 0, layout.n_rows) for k in ("release", "brickid", "objid")})
        validate.check_unique_ids(path, ids)
        rows = chunk_rows or max(batch_size, reader.image_rows_per_read(READ_BYTES))
        if progress:
            progress("start", reader.name, layout.n_rows)
        written = 0
        for chunk, raw in encoded_chunks(reader, encode, rows, layout.read_keys, survey, read_workers):
            unit, norm = normalise(raw)
            cols = chunk.columns
            n = len(unit)
            store.upsert({
                "object_id": cols["object_id"], "vector": unit, "norm": norm, "survey": cols["survey"],
                "mag_g": cols["mag_g"], "mag_r": cols["mag_r"], "mag_z": cols["mag_z"],
                "ra": cols["ra"], "dec": cols["dec"], "source_type": cols["source_type"],
                "shard": np.full(n, reader.name, dtype=object),
                "shard_row": np.arange(chunk.start, chunk.start + n, dtype=np.int64),
            })
            written += n
            if progress:
                progress("rows", reader.name, n)
        return written
