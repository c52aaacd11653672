"""The ``i/n`` split of a list of work items across the pods of a Kubernetes indexed Job (``--shard i/n``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from lensdb.core.errors import InvalidInput

T = TypeVar("T")


def parse_partition(text: str, flag: str = "--shard") -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n`` (the index of an indexed Job and its completions)."""
    try:
        i, n = (int(p) for p in str(text).split("/"))
    except ValueError:
        raise InvalidInput(f"{flag} {text!r}: expected i/n, e.g. 0/16") from None
    if n < 1 or not 0 <= i < n:
        raise InvalidInput(f"{flag} {text!r}: need 0 <= i < n")
    return i, n


def select_partition(items: Sequence[T], part: tuple[int, int] | str | None, flag: str = "--shard") -> list[T]:
    """Every n-th item of ``items`` from the i-th (all when ``part`` is None): the n parts are disjoint and cover
    every item, and each pod computes its own part from the same sorted list without talking to the others."""
    if part is None:
        return list(items)
    i, n = parse_partition(part, flag) if isinstance(part, str) else part
    return list(items)[i::n]
