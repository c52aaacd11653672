"""Typed search filters and their compilation to a Milvus boolean expression plus a partition list.

No caller text ever reaches an expression: numbers are checked (finite reals, not strings or booleans) and
formatted here, text values must belong to closed sets (surveys, source types, bands), and ids are integers.
What an expression cannot say exactly (a cone on the sphere, more excluded ids than fit, duplicates of one galaxy)
is applied on the client side to the returned hits (see :mod:`lensdb.vectordb.search`).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from lensdb.core.errors import InvalidInput
from lensdb.core.ids import SURVEYS
from lensdb.vectordb import sky
from lensdb.vectordb.schema import MAG_FIELDS, PRIMARY, SOURCE_TYPES


def _real(name: str, value: object, *, allow_none: bool = False) -> float | None:
    """``value`` as a finite float; InvalidInput for text, booleans, NaN, inf and anything else."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(f"{name} must be a number; got {type(value).__name__} {value!r}")
    out = float(value)
    if not np.isfinite(out):
        raise InvalidInput(f"{name} must be finite; got {out}")
    return out


def _closed(name: str, values: Iterable[object] | None, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
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


@dataclass(frozen=True)
class MagRange:
    """``low <= mag_<band> < high``, AB mag; either bound may be ``None`` (unbounded)."""

    band: str
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.band, str) or self.band not in MAG_FIELDS:
            raise InvalidInput(f"magnitude band {self.band!r} is not one of {', '.join(MAG_FIELDS)}")
        low = _real(f"mag_{self.band} low", self.low, allow_none=True)
        high = _real(f"mag_{self.band} high", self.high, allow_none=True)
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
        width = _real("window width", self.width)
        if width <= 0:
            raise InvalidInput(f"window width must be > 0 mag; got {width}")
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "centre", _real("window centre", self.centre, allow_none=True))


@dataclass(frozen=True)
class Cone:
    """Objects within ``radius`` degrees of (``ra``, ``dec``) degrees."""

    ra: float
    dec: float
    radius: float

    def __post_init__(self) -> None:
        ra, dec, radius = (
            _real("cone ra", self.ra),
            _real("cone dec", self.dec),
            _real("cone radius", self.radius),
        )
        if not (0 <= ra < 360 and -90 <= dec <= 90 and 0 < radius <= 180):
            raise InvalidInput(
                f"cone: need 0 <= ra < 360, -90 <= dec <= 90, 0 < radius <= 180 degrees; "
                f"got ra={ra}, dec={dec}, radius={radius}"
            )
        for name, v in (("ra", ra), ("dec", dec), ("radius", radius)):
            object.__setattr__(self, name, v)


def _ids(name: str, values: Iterable[object]) -> tuple[int, ...]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= int(v) < 2**63:
            raise InvalidInput(f"{name}: {v!r} is not an object id (a non-negative 64-bit integer)")
        out.append(int(v))
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class SearchFilter:
    """What a kNN search may return. Every field is optional; all given conditions must hold.

    Attributes:
        surveys: allowed surveys (``south``, ``north``); ``None`` = both.
        mag_ranges: magnitude ranges per band (AB mag).
        window: r-band window around the query's magnitude (or an explicit centre).
        cone: sky cone (degrees).
        source_types: allowed Tractor types (PSF, REX, DEV, EXP, SER, DUP).
        exclude_ids: object ids never to return.
        exclude_labelled: drop objects carrying a label (resolved through a :class:`LabelSource`).
        label_set: restrict ``exclude_labelled`` to one label set (``None`` = any label).
        drop_duplicates_px: drop results within this many pixels (0.262 arcsec each) of a better result or of the
            query itself, as the paper's tool did with 96; ``None`` keeps all.
    """

    surveys: tuple[str, ...] | None = None
    mag_ranges: tuple[MagRange, ...] = ()
    window: MagWindow | None = None
    cone: Cone | None = None
    source_types: tuple[str, ...] | None = None
    exclude_ids: tuple[int, ...] = field(default=())
    exclude_labelled: bool = False
    label_set: str | None = None
    drop_duplicates_px: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "surveys", _closed("surveys", self.surveys, SURVEYS))
        object.__setattr__(self, "source_types", _closed("source_types", self.source_types, SOURCE_TYPES))
        ranges = tuple(self.mag_ranges) if not isinstance(self.mag_ranges, MagRange) else (self.mag_ranges,)
        for r in ranges:
            if not isinstance(r, MagRange):
                raise InvalidInput(f"mag_ranges must hold MagRange objects; got {type(r).__name__}")
        object.__setattr__(self, "mag_ranges", ranges)
        for name, kind in (("window", MagWindow), ("cone", Cone)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise InvalidInput(f"{name} must be a {kind.__name__}; got {type(value).__name__}")
        object.__setattr__(self, "exclude_ids", _ids("exclude_ids", self.exclude_ids))
        if not isinstance(self.exclude_labelled, bool):
            raise InvalidInput("exclude_labelled must be True or False")
        if self.label_set is not None and not isinstance(self.label_set, str):
            raise InvalidInput("label_set must be a label-set name or None")
        px = _real("drop_duplicates_px", self.drop_duplicates_px, allow_none=True)
        if px is not None and px <= 0:
            raise InvalidInput(f"drop_duplicates_px must be > 0 pixels; got {px}")
        object.__setattr__(self, "drop_duplicates_px", px)


def fmt(x: float) -> str:
    """A finite number as an expression literal, positional notation (no exponent), round-trip exact."""
    return np.format_float_positional(float(_real("number", x)), unique=True, trim="-")


def r_bounds(flt: SearchFilter, centre: float | None) -> tuple[float | None, float | None]:
    """The r-band interval ``[low, high]`` the filter allows (``None`` = open), for partition pruning."""
    low, high = None, None
    for r in flt.mag_ranges:
        if r.band == "r":
            low = r.low if low is None or (r.low is not None and r.low > low) else low
            high = r.high if high is None or (r.high is not None and r.high < high) else high
    if flt.window is not None and centre is not None:
        wl, wh = centre - flt.window.width, centre + flt.window.width
        low, high = (wl if low is None else max(low, wl)), (wh if high is None else min(high, wh))
    return low, high


def expression(flt: SearchFilter, centre: float | None, exclude: Iterable[int] = ()) -> str:
    """The Milvus boolean expression of the filter's conditions ('' when there are none).

    Args:
        flt: the validated filter.
        centre: the r magnitude the window is centred on (required when ``flt.window`` is set).
        exclude: object ids to exclude in the expression (validated integers).
    """
    parts: list[str] = []
    if flt.surveys is not None:
        parts.append("survey in [" + ", ".join(f'"{s}"' for s in flt.surveys) + "]")
    if flt.source_types is not None:
        parts.append("source_type in [" + ", ".join(f'"{s}"' for s in flt.source_types) + "]")
    for r in flt.mag_ranges:
        name = MAG_FIELDS[r.band]
        if r.low is not None:
            parts.append(f"{name} >= {fmt(r.low)}")
        if r.high is not None:
            parts.append(f"{name} < {fmt(r.high)}")
    if flt.window is not None:
        if centre is None:
            raise InvalidInput("a magnitude window needs a centre: query by object id, or give MagWindow(centre=...)")
        parts.append(f"mag_r > {fmt(centre - flt.window.width)} and mag_r < {fmt(centre + flt.window.width)}")
    if flt.cone is not None:
        dec_low, dec_high, ra_ranges = sky.cone_box(flt.cone.ra, flt.cone.dec, flt.cone.radius)
        parts.append(f"dec >= {fmt(dec_low)} and dec <= {fmt(dec_high)}")
        if ra_ranges is not None:
            parts.append("(" + " or ".join(f"(ra >= {fmt(lo)} and ra <= {fmt(hi)})" for lo, hi in ra_ranges) + ")")
    ids = _ids("excluded ids", exclude)
    if ids:
        parts.append(f"{PRIMARY} not in [" + ",".join(str(i) for i in ids) + "]")
    return " and ".join(f"({p})" for p in parts)
