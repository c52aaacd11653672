"""The shared :class:`~lensdb.core.filters.ObjectFilter` compiled to a Milvus boolean expression plus a partition list.

No caller text ever reaches an expression: the filter's own type has checked every value (finite reals in range,
members of closed sets, integer ids), and numbers are formatted here. What an expression cannot say exactly (a cone
on the sphere, more excluded ids than fit, duplicates of one galaxy, labels kept in the catalogue) is applied on the
client side to the returned hits (see :mod:`lensdb.vectordb.search`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lensdb.core import sky
from lensdb.core.errors import InvalidInput
from lensdb.core.filters import ObjectFilter, object_ids, real
from lensdb.vectordb.schema import MAG_FIELDS, PRIMARY


def fmt(x: float) -> str:
    """A finite number as an expression literal, positional notation (no exponent), round-trip exact."""
    return np.format_float_positional(float(real("number", x)), unique=True, trim="-")


def expression(flt: ObjectFilter, centre: float | None, exclude: Iterable[int] = ()) -> str:
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
    ids = object_ids("excluded ids", exclude)
    if ids:
        parts.append(f"{PRIMARY} not in [" + ",".join(str(i) for i in ids) + "]")
    return " and ".join(f"({p})" for p in parts)
