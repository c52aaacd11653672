"""A shard read in chunks of rows: the pixels and the checked ``sources`` columns of each chunk, and a reader that runs
ahead of its consumer in a background thread.

The embedding job reads this way (:func:`lensdb.encoder.batch.encoded_chunks`): a chunk's catalogue columns pass the
same checks as ``lensdb ingest`` (:func:`lensdb.ingest.validate.check_chunk`), its pixels the same NaN/inf check.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensdb.ingest import checks, validate
from lensdb.ingest.reader import IMAGES, ShardReader, catalog_columns


@dataclass
class Chunk:
    """Rows ``[start, start + len(images))`` of one shard: pixels (a fresh copy) and ``sources``-style columns."""

    start: int
    images: Any  # np.ndarray, or a torch.Tensor once moved to shared or pinned memory
    columns: dict[str, np.ndarray] | None = None

    def pin_memory(self) -> Chunk:
        """The chunk with its pixels in page-locked memory (called by the DataLoader's pinning thread)."""
        import torch  # only reader processes on a GPU machine pin; reading a shard needs no torch

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


