"""One filter of catalogue objects, for every engine: the catalogue compiles it to SQL
(:func:`lensdb.catalog.queries.filter_conditions`), the vector store to a Milvus expression plus a partition list
(:func:`lensdb.vectordb.filters.expression`).

Every field is optional; all given conditions must hold. Values are checked here, once, whoever builds the filter (a
gRPC request, a web form, a CLI flag): numbers are finite reals within their ranges, text values belong to closed
sets (surveys, source types, bands), ids are non-negative 64-bit integers. So no caller text ever reaches an
engine's expression.

Units: magnitudes AB, positions and radii degrees, ``drop_duplicates_px`` pixels of 0.262 arcsec.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lensdb.core.errors import InvalidInput
from lensdb.core.ids import BANDS, SOURCE_TYPES, SURVEYS

#: Brightest and faintest magnitude a bound may name: wider than any survey, narrow enough that every engine's
#: float arithmetic on it stays exact (a bound of 1e19 is a typo, not a query).
MAG_LIMITS = (-50.0, 100.0)


def real(name: str, value: object, *, allow_none: bool = False) -> float | None:
    """``value`` as a finite float; InvalidInput for text, booleans, NaN, inf and anything else."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(f"{name} must be a number; got {type(value).__name__} {value!r}")
    out = float(value)
    if not np.isfinite(out):
        raise InvalidInput(f"{name} must be finite; got {out}")
    return out


def closed_set(name: str, values: Iterable[object] | None, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
    """``values`` as a tuple of distinct members of ``allowed`` (``None`` stays ``None``: no condition)."""
    if values is None:
        return None
    if isinstance(values, str | bytes):
        values = (values,)
    out = tuple(values)
    for v in out:
        if not isinstance(v, str) or v not in allowed:
            raise InvalidInput(f"{name}: {v!r} is not one of {', '.join(allowed)}")
    if not out:
        raise InvalidInput(f"{name}: an empty list matches nothing; omit it to allow every value")
    return tuple(dict.fromkeys(out))


def object_ids(name: str, values: Iterable[object]) -> tuple[int, ...]:
    """Sorted distinct object ids; InvalidInput for anything that is not a non-negative 64-bit integer."""
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= int(v) < 2**63:
            raise InvalidInput(f"{name}: {v!r} is not an object id (a non-negative 64-bit integer)")
        out.append(int(v))
    return tuple(sorted(set(out)))


def _magnitude(name: str, value: object) -> float | None:
    out = real(name, value, allow_none=True)
    if out is not None and not MAG_LIMITS[0] <= out <= MAG_LIMITS[1]:
        raise InvalidInput(f"{name} must lie in [{MAG_LIMITS[0]:g}, {MAG_LIMITS[1]:g}] mag; got {out:g}")
    return out


@dataclass(frozen=True)
class MagRange:
    """``low <= mag_<band> < high``, AB mag; either bound may be ``None`` (unbounded)."""

    band: str
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.band, str) or self.band not in BANDS:
            raise InvalidInput(f"magnitude band {self.band!r} is not one of {', '.join(BANDS)}")
        low = _magnitude(f"mag_{self.band} low", self.low)
        high = _magnitude(f"mag_{self.band} high", self.high)
        if low is None and high is None:
            raise InvalidInput(f"mag_{self.band} range needs a low or a high bound")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)


@dataclass(frozen=True)
class MagWindow:
    """``|mag_r - centre| < width``, AB mag. ``centre=None`` means the query object's own mag_r."""

    width: float = 0.5
    centre: float | None = None

    def __post_init__(self) -> None:
        width = real("window width", self.width)
        if not 0 < width <= MAG_LIMITS[1] - MAG_LIMITS[0]:
            raise InvalidInput(f"window width must be > 0 mag (and at most {MAG_LIMITS[1] - MAG_LIMITS[0]:g}); "
                               f"got {width:g}")
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "centre", _magnitude("window centre", self.centre))


@dataclass(frozen=True)
class Cone:
    """Objects within ``radius`` degrees of (``ra``, ``dec``) degrees."""

    ra: float
    dec: float
    radius: float

    def __post_init__(self) -> None:
        ra, dec, radius = real("cone ra", self.ra), real("cone dec", self.dec), real("cone radius", self.radius)
        if not (0 <= ra < 360 and -90 <= dec <= 90 and 0 < radius <= 180):
            raise InvalidInput(
                f"cone: need 0 <= ra < 360, -90 <= dec <= 90, 0 < radius <= 180 degrees; "
                f"got ra={ra}, dec={dec}, radius={radius}"
            )
        for name, v in (("ra", ra), ("dec", dec), ("radius", radius)):
            object.__setattr__(self, name, v)


@dataclass(frozen=True)
class ObjectFilter:
    """Which catalogue objects a search, a ranking or a listing may return.

    Attributes:
        surveys: allowed surveys (``south``, ``north``); ``None`` = both.
        mag_ranges: magnitude ranges per band (AB mag).
        window: r-band window around the query's magnitude (or an explicit centre).
        cone: sky cone (degrees).
        source_types: allowed Tractor types (PSF, REX, DEV, EXP, SER, DUP).
        exclude_ids: object ids never to return.
        exclude_labelled: leave out objects carrying a label of any class.
        label_sets: restrict ``exclude_labelled`` to these label sets (empty = a label in any set).
        drop_duplicates_px: drop results within this many pixels (0.262 arcsec each) of a better result or of the
            query itself, as the paper's tool did with 96; ``None`` keeps all. Ranked results only.
    """

    surveys: tuple[str, ...] | None = None
    mag_ranges: tuple[MagRange, ...] = ()
    window: MagWindow | None = None
    cone: Cone | None = None
    source_types: tuple[str, ...] | None = None
    exclude_ids: tuple[int, ...] = field(default=())
    exclude_labelled: bool = False
    label_sets: tuple[str, ...] = ()
    drop_duplicates_px: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "surveys", closed_set("surveys", self.surveys, SURVEYS))
        object.__setattr__(self, "source_types", closed_set("source_types", self.source_types, SOURCE_TYPES))
        ranges = tuple(self.mag_ranges) if not isinstance(self.mag_ranges, MagRange) else (self.mag_ranges,)
        for r in ranges:
            if not isinstance(r, MagRange):
                raise InvalidInput(f"mag_ranges must hold MagRange objects; got {type(r).__name__}")
        object.__setattr__(self, "mag_ranges", ranges)
        for name, kind in (("window", MagWindow), ("cone", Cone)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise InvalidInput(f"{name} must be a {kind.__name__}; got {type(value).__name__}")
        object.__setattr__(self, "exclude_ids", object_ids("exclude_ids", self.exclude_ids))
        if not isinstance(self.exclude_labelled, bool):
            raise InvalidInput("exclude_labelled must be True or False")
        sets = (self.label_sets,) if isinstance(self.label_sets, str) else tuple(self.label_sets or ())
        for name in sets:
            if not isinstance(name, str) or not name or len(name) > 255 or not name.isprintable():
                raise InvalidInput("label_sets must hold label-set names (printable text of 1-255 characters)")
        object.__setattr__(self, "label_sets", tuple(dict.fromkeys(sets)))
        px = real("drop_duplicates_px", self.drop_duplicates_px, allow_none=True)
        if px is not None and not 0 < px <= 1e6:
            raise InvalidInput(f"drop_duplicates_px must be > 0 pixels (at most 1e6); got {px}")
        object.__setattr__(self, "drop_duplicates_px", px)

    @property
    def empty(self) -> bool:
        """True when the filter lets every object through."""
        return self == ObjectFilter()

    def r_bounds(self, centre: float | None) -> tuple[float | None, float | None]:
        """The r-band interval ``[low, high]`` the filter allows (``None`` = open), for partition pruning."""
        low, high = None, None
        for r in self.mag_ranges:
            if r.band == "r":
                low = r.low if low is None or (r.low is not None and r.low > low) else low
                high = r.high if high is None or (r.high is not None and r.high < high) else high
        if self.window is not None and centre is not None:
            wl, wh = centre - self.window.width, centre + self.window.width
            low, high = (wl if low is None else max(low, wl)), (wh if high is None else min(high, wh))
        return low, high

    def as_dict(self) -> dict[str, Any]:
        """The conditions that are set, as plain JSON values (for provenance records)."""
        out: dict[str, Any] = {}
        if self.surveys is not None:
            out["surveys"] = list(self.surveys)
        if self.mag_ranges:
            out["mag_ranges"] = [{"band": r.band, "low": r.low, "high": r.high} for r in self.mag_ranges]
        if self.window is not None:
            out["window"] = {"width": self.window.width, "centre": self.window.centre}
        if self.cone is not None:
            out["cone"] = {"ra": self.cone.ra, "dec": self.cone.dec, "radius": self.cone.radius}
        if self.source_types is not None:
            out["source_types"] = list(self.source_types)
        if self.exclude_ids:
            out["exclude_ids"] = len(self.exclude_ids)
        if self.exclude_labelled:
            out["exclude_labelled"] = list(self.label_sets) or True
        if self.drop_duplicates_px is not None:
            out["drop_duplicates_px"] = self.drop_duplicates_px
        return out
