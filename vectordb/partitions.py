"""Partitioning by survey and r-band magnitude bin, and partition pruning for magnitude-restricted searches.

Every row goes to exactly one partition ``<survey>_magr_<bin>``. A search restricted to an r-band interval (a
magnitude range or a window around the query's own magnitude) names only the partitions whose bins overlap that
interval, so the engine never opens the others; the filter expression still applies the exact bounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lensdb.core.errors import InvalidInput
from lensdb.core.ids import SURVEYS
from lensdb.vectordb.naming import bin_names, partition_name

#: Stored in a magnitude field when the catalogue has none (flux <= 0 or missing): Milvus rejects NaN in scalar
#: fields, and 99 is the usual "not detected" magnitude. Such rows fall in the last (open) bin.
MAG_MISSING = 99.0


@dataclass(frozen=True)
class MagBins:
    """r-band magnitude bins defined by increasing edges (AB mag); bin ``i`` holds ``edges[i-1] <= mag_r < edges[i]``
    with open bins below the first and from the last edge up."""

    edges: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.edges or np.any(np.diff(self.edges) <= 0):
            raise InvalidInput(f"magnitude bin edges must be increasing; got {list(self.edges)}")

    @property
    def labels(self) -> list[str]:
        """One name per bin (``len(edges) + 1`` of them)."""
        return bin_names(self.edges)

    def bin_of(self, mag_r: np.ndarray) -> np.ndarray:
        """Bin index of each r magnitude (int64 array of the same shape)."""
        return np.searchsorted(
            np.asarray(self.edges, dtype=np.float64), np.asarray(mag_r, dtype=np.float64), side="right"
        ).astype(np.int64)

    def bins_overlapping(self, low: float | None, high: float | None) -> range:
        """Indices of the bins that may hold an r magnitude in ``[low, high]`` (``None`` = unbounded)."""
        edges = np.asarray(self.edges, dtype=np.float64)
        first = 0 if low is None else int(np.searchsorted(edges, low, side="right"))
        last = len(edges) if high is None else int(np.searchsorted(edges, high, side="right"))
        return range(first, last + 1)


def all_partitions(bins: MagBins, surveys: Sequence[str] = SURVEYS) -> list[str]:
    """Every partition of a collection, survey-major."""
    return [partition_name(s, label) for s in surveys for label in bins.labels]


def partitions_for(bins: MagBins, surveys: Iterable[str] | None, low: float | None, high: float | None) -> list[str]:
    """The partitions a search must open for the given surveys (``None`` = all) and r-magnitude bounds."""
    labels = bins.labels
    chosen = SURVEYS if surveys is None else tuple(surveys)
    return [partition_name(s, labels[i]) for s in chosen for i in bins.bins_overlapping(low, high)]


def row_partitions(bins: MagBins, survey: np.ndarray, mag_r: np.ndarray) -> np.ndarray:
    """The partition name of each row (object array), from its survey and r magnitude."""
    labels = np.asarray(bins.labels, dtype=object)
    names = np.char.add(np.char.add(np.asarray(survey).astype(str), "_magr_"), labels[bins.bin_of(mag_r)].astype(str))
    return names.astype(object)
