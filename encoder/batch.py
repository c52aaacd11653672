"""The embedding's forward pass, batch by batch: raw cutouts in, raw (un-normalised) representations out, with the
HDF5 reads of the next chunks overlapping the model.

- :class:`BatchEncoder`: the same pipeline, weights and whitening as :meth:`lensdb.encoder.inference.Embedder.embed`,
  plus ``inference_mode``, bf16 autocast and channels_last where they help, and the NaN/inf check on the device.
- :func:`encoded_chunks`: a shard's chunks (read by :mod:`lensdb.ingest.chunks`, ahead of the model in a thread or in
  reader processes) paired with their raw vectors.
- :func:`normalise`: raw vectors to the unit vectors and norms the vector store keeps.

It runs with torch, numpy and h5py alone (no database, no Milvus), which the GPU benchmark relies on; the job that
writes the vectors is :mod:`lensdb.services.embedding`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from lensdb.core.errors import InvalidInput, LensDBError
from lensdb.encoder.inference import Embedder
from lensdb.encoder.transforms.crop import host_centre_crop
from lensdb.ingest import checks
from lensdb.ingest.chunks import Chunk, Prefetcher, read_chunk, read_chunks
from lensdb.ingest.reader import IMAGES, ShardReader, open_shard

#: Bytes of pixels per HDF5 read (whole HDF5 chunks when they fit).
READ_BYTES = 64 << 20


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
                raw = self.embedder.represent(chunk, amp=self.precision == "bf16")  # orientations averaged here
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


def worker_chunks(path: Path, rows: int, keys, survey, check_images: bool, workers: int,
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
        source = contextlib.closing(worker_chunks(reader.path, rows, keys, survey, check_on_read, workers, cuda))
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


