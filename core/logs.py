"""Logging set-up shared by the CLI, the server and the batch jobs."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted, not to the stream of
    the moment it was set up (a program that swaps stderr, or calls the CLI several times in one process, would
    otherwise write to a closed stream)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logging(level: str = "INFO") -> None:
    """Send LensDB's log records to stderr at ``level``; quiet the chattiest third-party loggers."""
    root = logging.getLogger()
    if not any(getattr(h, "_lensdb", False) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
        handler._lensdb = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("alembic.runtime.migration", "alembic.runtime.plugins", "matplotlib", "PIL", "urllib3", "h5py",
                  "faiss.loader"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    quiet_lite_noise()


#: The loggers that carry Milvus Lite's expected timestamp noise (see :class:`LiteTimestampNoise`).
NOISY_LITE_LOGGERS = ("grpc._server", "pymilvus.client.iterator.query_iterator",
                      "pymilvus.client.iterator.search_iterator")


def quiet_lite_noise() -> None:
    """Install :class:`LiteTimestampNoise` on the loggers that carry it (once). The vector store calls this when
    it is imported, so a library use of LensDB (a benchmark, a test, a service in another program) is as quiet as
    the ``lensdb`` command."""
    for name in NOISY_LITE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, LiteTimestampNoise) for f in logger.filters):
            logger.addFilter(LiteTimestampNoise())


class LiteTimestampNoise(logging.Filter):
    """Drops the two records a pymilvus query iterator causes against Milvus Lite, which has no AllocTimestamp
    call: Lite's in-process gRPC server logs the NotImplementedError as an ERROR, and the client warns that it
    uses its own timestamp instead. Both are expected (the client's fallback is correct) and alarm users."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith(("failed to get mvccTs", "failed to set up mvccTs")):
            return False
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, NotImplementedError):
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None and tb.tb_frame.f_code.co_name == "AllocTimestamp":
                return False
        return True
