"""Positional cross-match and cone search against the ``sources`` table, on every backend.

Three paths that return the same pairs:

- **q3c** (PostgreSQL with the q3c extension, installed by migration 0002 when the server offers it): the
  positions go into a temporary table by COPY and one ``q3c_join`` statement finds every source within the radius,
  using the ``q3c_ang2ipix(ra, dec)`` index.
- **healpix** (the portable default: SQLite, and any PostgreSQL without q3c): each position's cover, the HEALPix
  pixel it lies in plus that pixel's neighbours at an order chosen from the radius
  (:func:`lensdb.core.sky.sky_pixel_cover`), is a handful of ranges of the ``sources.sky_pixel`` column (order 29,
  revision 0006); the ranges go into a temporary table and one join reads the candidates through the column's
  B-tree index. A cone search is one SELECT with the ranges of its centre.
- **kdtree** (kept for comparison): the positions are sorted into declination bands; each band
  reads the sources in its declination range (the ``dec`` index, plus an RA window when the band's positions
  are clustered) and a :class:`scipy.spatial.cKDTree` of unit vectors finds the neighbours. Unit vectors
  make RA wrap at 0/360 and the poles need no special case.

Every path over-selects slightly and then keep the pairs whose exact great-circle separation (the atan2
formula, accurate at all angles) is ``<= radius``, computed by the same function, so boundary sources are
treated alike.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.spatial import cKDTree
from sqlalchemy import Connection, Engine, and_, or_, select, text

from lensdb.catalog.bulk import copy_columns
from lensdb.catalog.models import Source
from lensdb.core.errors import InvalidInput
from lensdb.core.sky import separation_arcsec, sky_pixel_cover, sky_pixel_ranges, unit_vectors
from lensdb.core.units import ARCSEC_PER_DEG

log = logging.getLogger(__name__)

Method = Literal["auto", "q3c", "healpix", "kdtree"]
METHODS = ("auto", "q3c", "healpix", "kdtree")
#: Relative widening of every search before the exact cut, so no path loses a boundary pair to rounding.
_MARGIN = 1e-6


@dataclass(frozen=True)
class Matches:
    """Pairs (position, source) within the radius, sorted by position index, then separation, then object id.

    Attributes:
        index: (M,) int64, the row of each pair's position in the input arrays.
        object_id: (M,) int64, the matched source.
        ra, dec: (M,) float64, the source's position, degrees.
        separation_arcsec: (M,) float64, great-circle separation, arcsec.
        method: ``"q3c"``, ``"healpix"`` or ``"kdtree"``, the path that found them.
    """

    index: np.ndarray
    object_id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    separation_arcsec: np.ndarray
    method: str

    def __len__(self) -> int:
        return len(self.index)


def q3c_installed(conn: Connection) -> bool:
    """Whether the q3c extension is installed in the connected database (always False off PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'q3c'")).first() is not None


def q3c_usable(conn: Connection) -> bool:
    """Whether q3c can answer fast here: the extension is installed *and* ``sources`` has its q3c index (a
    superuser may have created the extension after the migrations skipped it, without the index)."""
    if not q3c_installed(conn):
        return False
    return conn.execute(text("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_sources_q3c_ang2ipix' "
                             "AND schemaname = current_schema()")).first() is not None


def crossmatch(bind: Engine | Connection, ra, dec, radius_arcsec: float, *, method: Method = "auto",
               band_deg: float = 1.0, band_size: int = 20_000) -> Matches:
    """Every source within ``radius_arcsec`` of each position.

    Args:
        bind: engine, or a connection whose transaction the work joins (the temporary table lives in it).
        ra, dec: (N,) positions, degrees; RA in [0, 360), Dec in [-90, 90].
        radius_arcsec: match radius, arcsec (inclusive).
        method: ``"auto"`` (q3c when installed with its index, else healpix), ``"q3c"``, ``"healpix"`` or
            ``"kdtree"``.
        band_deg: kdtree path, the widest declination band read at once, degrees.
        band_size: kdtree path, the most positions per band.
    """
    ra, dec = _check_positions(ra, dec)
    if not radius_arcsec > 0:
        raise InvalidInput(f"match radius must be positive arcsec, got {radius_arcsec}")
    with _connection(bind) as conn:
        use = _resolve_method(conn, method)
        if len(ra) == 0:
            idx, oid, sra, sdec = (np.zeros(0, t) for t in (np.int64, np.int64, float, float))
        elif use == "q3c":
            idx, oid, sra, sdec = _candidates_q3c(conn, ra, dec, radius_arcsec)
        elif use == "healpix":
            idx, oid, sra, sdec = _candidates_healpix(conn, ra, dec, radius_arcsec)
        else:
            idx, oid, sra, sdec = _candidates_kdtree(conn, ra, dec, radius_arcsec, band_deg, band_size)
    sep = separation_arcsec(ra[idx], dec[idx], sra, sdec)
    keep = sep <= radius_arcsec
    idx, oid, sra, sdec, sep = idx[keep], oid[keep], sra[keep], sdec[keep], sep[keep]
    order = np.lexsort((oid, sep, idx))
    return Matches(idx[order], oid[order], sra[order], sdec[order], sep[order], use)


def cone_search(bind: Engine | Connection, ra: float, dec: float, radius_arcsec: float, *,
                method: Method = "auto") -> Matches:
    """Every source within ``radius_arcsec`` of one position (degrees), nearest first.

    On PostgreSQL with q3c this is one ``q3c_radial_query``; otherwise one SELECT on the ``sky_pixel`` ranges of
    the centre's cover (``healpix``), or a single-position kdtree cross-match when asked for.
    """
    ra_arr, dec_arr = _check_positions([ra], [dec])
    if not radius_arcsec > 0:
        raise InvalidInput(f"cone radius must be positive arcsec, got {radius_arcsec}")
    with _connection(bind) as conn:
        use = _resolve_method(conn, method)
        if use == "kdtree":
            return crossmatch(conn, ra_arr, dec_arr, radius_arcsec, method="kdtree")
        s = Source.__table__.c
        wide = radius_arcsec * (1 + _MARGIN) / ARCSEC_PER_DEG
        if use == "q3c":
            cone = text("q3c_radial_query(ra, dec, :ra, :dec, :r)").bindparams(
                ra=float(ra_arr[0]), dec=float(dec_arr[0]), r=wide)
        else:
            cone = sky_pixel_condition(float(ra_arr[0]), float(dec_arr[0]), wide)
        rows = conn.execute(select(s.object_id, s.ra, s.dec).where(cone)).all()
    oid, sra, sdec = _columns(rows, 3)
    sep = separation_arcsec(ra_arr[0], dec_arr[0], sra, sdec)
    keep = sep <= radius_arcsec
    order = np.lexsort((oid[keep], sep[keep]))
    return Matches(np.zeros(int(keep.sum()), np.int64)[order], oid[keep][order], sra[keep][order],
                   sdec[keep][order], sep[keep][order], use)


def sky_pixel_condition(ra: float, dec: float, radius_deg: float):
    """SQL condition on ``sources.sky_pixel`` that holds for every source within ``radius_deg`` of (ra, dec) (and
    a few more: the exact separation decides): one BETWEEN per range of the centre's cover, index-friendly."""
    s = Source.__table__.c
    return or_(*(s.sky_pixel.between(lo, hi) for lo, hi in sky_pixel_ranges(ra, dec, radius_deg)))


@contextmanager
def _connection(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as conn:
            yield conn


def _resolve_method(conn: Connection, method: Method) -> str:
    if method not in METHODS:
        raise InvalidInput(f"cross-match method {method!r} is not one of {', '.join(METHODS)}")
    if method in ("kdtree", "healpix"):
        return method
    if method == "q3c":
        if not q3c_installed(conn):
            raise InvalidInput("the q3c method needs PostgreSQL with the q3c extension installed; use method "
                               "'healpix', which works everywhere")
        return "q3c"
    return "q3c" if q3c_usable(conn) else "healpix"


def _check_positions(ra, dec) -> tuple[np.ndarray, np.ndarray]:
    ra, dec = np.atleast_1d(np.asarray(ra, float)), np.atleast_1d(np.asarray(dec, float))
    if ra.shape != dec.shape or ra.ndim != 1:
        raise InvalidInput(f"ra and dec must be 1-d arrays of one length, got {ra.shape} and {dec.shape}")
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        raise InvalidInput("positions must be finite degrees (found NaN or inf)")
    if ra.size and (ra.min() < 0 or ra.max() >= 360 or dec.min() < -90 or dec.max() > 90):
        raise InvalidInput("positions out of range: RA must lie in [0, 360) and Dec in [-90, 90] degrees")
    return ra, dec


def _columns(rows, n: int) -> list[np.ndarray]:
    """Split ``n``-column rows into arrays: the last two (ra, dec) float64, the ones before them int64."""
    kinds = [np.int64] * (n - 2) + [float, float]
    if not rows:
        return [np.zeros(0, k) for k in kinds]
    cols = list(zip(*rows, strict=True))
    return [np.asarray(c, dtype=k) for c, k in zip(cols, kinds, strict=True)]


def _candidates_q3c(conn: Connection, ra: np.ndarray, dec: np.ndarray, radius_arcsec: float):
    """Pairs within a slightly widened radius: one ``q3c_join`` over a temporary table of the positions."""
    table = f"lensdb_xmatch_{uuid.uuid4().hex[:12]}"
    conn.execute(text(f"CREATE TEMPORARY TABLE {table} "
                      "(idx bigint, ra double precision, dec double precision) ON COMMIT DROP"))
    # COPY (binary: every bit of a float64 survives) loads all positions in one round trip.
    copy_columns(conn, table, {"idx": np.arange(len(ra), dtype=np.int64), "ra": ra, "dec": dec})
    # A temporary table has no statistics until analysed; without them the planner may pick a poor join.
    conn.execute(text(f"ANALYZE {table}"))
    wide = radius_arcsec * (1 + _MARGIN) / ARCSEC_PER_DEG
    rows = conn.execute(text(
        f"SELECT p.idx, s.object_id, s.ra, s.dec FROM {table} AS p JOIN sources AS s "
        "ON q3c_join(p.ra, p.dec, s.ra, s.dec, :r)"), {"r": wide}).all()
    conn.execute(text(f"DROP TABLE {table}"))
    log.debug("q3c cross-match: %d positions, %d candidate pairs", len(ra), len(rows))
    return _columns(rows, 4)


def _candidates_healpix(conn: Connection, ra: np.ndarray, dec: np.ndarray, radius_arcsec: float,
                        chunk: int = 50_000):
    """Pairs within a slightly widened radius: each position's sky_pixel ranges in a temporary table, one join on
    ``sources.sky_pixel`` (its B-tree index) per ``chunk`` positions."""
    radius_deg = radius_arcsec * (1 + _MARGIN) / ARCSEC_PER_DEG
    table = f"lensdb_xmatch_{uuid.uuid4().hex[:12]}"
    postgres = conn.dialect.name == "postgresql"
    conn.execute(text(f"CREATE TEMPORARY TABLE {table} (idx bigint, lo bigint, hi bigint)"
                      + (" ON COMMIT DROP" if postgres else "")))
    out: list[list[np.ndarray]] = []
    for start in range(0, len(ra), chunk):
        lo, hi = sky_pixel_cover(ra[start:start + chunk], dec[start:start + chunk], radius_deg)
        idx = np.repeat(np.arange(start, start + len(lo), dtype=np.int64), lo.shape[1])
        keep = lo.ravel() >= 0
        if start:
            conn.execute(text(f"DELETE FROM {table}"))
        copy_columns(conn, table, {"idx": idx[keep], "lo": lo.ravel()[keep], "hi": hi.ravel()[keep]})
        if postgres:  # a temporary table has no statistics until analysed: the planner needs them for the join
            conn.execute(text(f"ANALYZE {table}"))
        rows = conn.execute(text(
            f"SELECT r.idx, s.object_id, s.ra, s.dec FROM {table} AS r JOIN sources AS s "
            "ON s.sky_pixel BETWEEN r.lo AND r.hi")).all()
        out.append(_columns(rows, 4))
    conn.execute(text(f"DROP TABLE {table}"))
    log.debug("healpix cross-match: %d positions, %d candidate pairs", len(ra), sum(len(o[0]) for o in out))
    if not out:
        return [np.zeros(0, k) for k in (np.int64, np.int64, float, float)]
    return [np.concatenate(parts) for parts in zip(*out, strict=True)]


def _bands(dec_sorted: np.ndarray, band_deg: float, band_size: int) -> Iterator[tuple[int, int]]:
    """Slices [start, stop) of sorted declinations, each spanning <= band_deg and holding <= band_size."""
    start, n = 0, len(dec_sorted)
    while start < n:
        stop = int(np.searchsorted(dec_sorted, dec_sorted[start] + band_deg, side="right"))
        stop = min(max(stop, start + 1), start + band_size, n)
        yield start, stop
        start = stop


def _ra_window(ra: np.ndarray, dec_lo: float, dec_hi: float, radius_deg: float) -> tuple[float, float] | None:
    """The RA range (lo, hi) holding every source within ``radius_deg`` of the positions (lo > hi: wraps 0).

    ``None`` means "all RA": near a pole, or when the positions spread over most of the circle.
    """
    max_abs_dec = max(abs(dec_lo), abs(dec_hi))
    if max_abs_dec >= 89.0:
        return None
    # Within radius r of a point at |dec| <= d < 90 - r, RA differs by at most asin(sin r / cos d).
    ratio = np.sin(np.radians(radius_deg)) / np.cos(np.radians(max_abs_dec))
    if ratio >= 0.5:
        return None
    half = np.degrees(np.arcsin(ratio)) * (1 + _MARGIN) + 1e-9
    ras = np.sort(ra)
    gaps = np.diff(np.append(ras, ras[0] + 360.0))
    k = int(np.argmax(gaps))  # the largest empty arc lies between ras[k] and the next position
    if gaps[k] <= 2 * half:
        return None
    lo, hi = ras[(k + 1) % len(ras)] - half, ras[k] + half
    return float(lo % 360.0), float(hi % 360.0)


def _candidates_kdtree(conn: Connection, ra: np.ndarray, dec: np.ndarray, radius_arcsec: float,
                       band_deg: float, band_size: int):
    """Pairs within a slightly widened radius, band by band in declination, with a KD-tree of unit vectors."""
    s = Source.__table__.c
    radius_deg = radius_arcsec * (1 + _MARGIN) / ARCSEC_PER_DEG
    chord = 2 * np.sin(np.radians(radius_deg) / 2) * (1 + _MARGIN)
    order = np.argsort(dec, kind="stable")
    out: list[tuple[np.ndarray, ...]] = []
    for start, stop in _bands(dec[order], band_deg, band_size):
        members = order[start:stop]
        # Any source within r of a position differs from it in Dec by at most r, so the Dec range is exact.
        lo = max(-90.0, float(dec[members].min()) - radius_deg - 1e-9)
        hi = min(90.0, float(dec[members].max()) + radius_deg + 1e-9)
        where = [s.dec.between(lo, hi)]
        window = _ra_window(ra[members], lo, hi, radius_deg)
        if window is not None:
            wlo, whi = window
            where.append(s.ra.between(wlo, whi) if wlo <= whi else or_(s.ra >= wlo, s.ra <= whi))
        rows = conn.execute(select(s.object_id, s.ra, s.dec).where(and_(*where))).all()
        if not rows:
            continue
        oid, sra, sdec = _columns(rows, 3)
        tree = cKDTree(unit_vectors(sra, sdec))
        hits = tree.query_ball_point(unit_vectors(ra[members], dec[members]), chord)
        counts = np.fromiter((len(h) for h in hits), np.int64, len(hits))
        if counts.sum() == 0:
            continue
        src = np.concatenate([np.asarray(h, np.int64) for h in hits if h])
        pos = np.repeat(members, counts)
        out.append((pos, oid[src], sra[src], sdec[src]))
    if not out:
        return [np.zeros(0, k) for k in (np.int64, np.int64, float, float)]
    return [np.concatenate(parts) for parts in zip(*out, strict=True)]
