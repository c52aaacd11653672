"""Structured logs for the server: one JSON object per line (time, level, logger, message, and the fields a
record carries in ``extra={"rpc": {...}}``), which log collectors index without parsing text."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

#: Record attributes copied into the JSON object when present.
FIELDS = ("rpc",)


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, dict):
                out.update(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def use_json(root: logging.Logger | None = None) -> None:
    """Switch LensDB's stderr handler (see :func:`lensdb.core.logs.setup_logging`) to JSON lines."""
    root = root or logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_lensdb", False):
            handler.setFormatter(JsonFormatter())
