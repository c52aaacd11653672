"""Logging set-up shared by the CLI, the server and the batch jobs."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    """Send LensDB's log records to stderr at ``level``; quiet the chattiest third-party loggers."""
    root = logging.getLogger()
    if not any(getattr(h, "_lensdb", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
        handler._lensdb = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("alembic.runtime.migration", "alembic.runtime.plugins", "matplotlib", "PIL", "urllib3", "h5py"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
