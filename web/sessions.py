"""The page's memory of sessions: session lookups cached for a few seconds (a page of 100 stamps must not mean 100
catalogue reads), and failed logins counted per client address for the login rate limit."""

from __future__ import annotations

import threading
import time
from collections import deque

#: Seconds a session lookup is remembered (a revoked session stops working within this time).
SESSION_CACHE_S = 5.0


class Sessions:
    """Session lookups with a short cache, and the failed-login counter per client address."""

    def __init__(self, grading, failures_per_minute: int):
        self.grading = grading
        self.limit = failures_per_minute
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._failures: dict[str, deque] = {}
        self._lock = threading.Lock()

    def grader(self, secret: str | None) -> str | None:
        if not secret:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(secret)
        if hit is not None and now - hit[0] < SESSION_CACHE_S:
            return hit[1]
        grader = self.grading.session_grader(secret)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[secret] = (now, grader)
        return grader

    def forget(self, secret: str | None) -> None:
        with self._lock:
            self._cache.pop(secret or "", None)

    def blocked(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._failures.setdefault(client, deque())
            while q and now - q[0] > 60.0:
                q.popleft()
            return len(q) >= self.limit

    def failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, deque()).append(time.monotonic())
