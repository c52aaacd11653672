"""The caller's deadline and cancellation, checked by the service layer between stages of a request.

The engines' calls are not interruptible from here, so a request checks before each costly stage (resolving the
query, embedding a cutout, the kNN search, each streamed chunk) and stops as soon as its caller can no longer use
the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lensdb.services.errors import Cancelled, DeadlineExceeded


@dataclass(frozen=True)
class Deadline:
    """When the caller stops waiting (``time.monotonic()`` seconds; ``None`` = never) and whether it left.

    Attributes:
        at: monotonic time of the deadline, or ``None``.
        cancelled: callable returning True once the caller has gone away.
    """

    at: float | None = None
    cancelled: Callable[[], bool] | None = None

    @classmethod
    def none(cls) -> Deadline:
        """No deadline, never cancelled (in-process calls)."""
        return cls()

    @classmethod
    def after(cls, seconds: float | None, cancelled: Callable[[], bool] | None = None) -> Deadline:
        """A deadline ``seconds`` from now (``None`` = none)."""
        return cls(None if seconds is None else time.monotonic() + seconds, cancelled)

    def remaining(self) -> float | None:
        """Seconds left (may be negative), or ``None`` without a deadline."""
        return None if self.at is None else self.at - time.monotonic()

    def check(self, stage: str) -> None:
        """Raise :class:`Cancelled` or :class:`DeadlineExceeded` instead of starting ``stage`` in vain."""
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(f"the caller cancelled the request before {stage}")
        left = self.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded(f"the deadline passed before {stage}")
