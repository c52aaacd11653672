"""Known-lens lists on disk: read a CSV/TSV of positions (with optional names and grades) and validate it.

Column names are recognised in the usual spellings (``ra``, ``RA``, ``RA [deg]``, ``ra_deg``, ...); the delimiter
(tab or comma) is detected. Every problem is reported with the file, line and column, and what to do.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lensdb.core.errors import InvalidInput
from lensdb.core.units import CUTOUT_RADIUS_ARCSEC

log = logging.getLogger(__name__)

#: One training cutout (96 px at 0.262 arcsec/px), the paper's exclusion radius around known lenses, arcsec.
DEFAULT_RADIUS_ARCSEC = CUTOUT_RADIUS_ARCSEC

#: Header names recognised per column (compared lower-case, bracketed units stripped: "RA [deg]" -> "ra").
ALIASES = {
    "ra": ("ra", "ra_deg", "radeg", "raj2000", "ra_j2000", "ra_icrs"),
    "dec": ("dec", "dec_deg", "decdeg", "dej2000", "decj2000", "dec_j2000", "de_icrs", "dec_icrs"),
    "name": ("name", "object", "objname", "object_name"),
    "grade": ("grade", "grading"),
}
_DEGREE_UNITS = ("", "deg", "degree", "degrees")
#: Grade values understood without --grade-map (case-insensitive); anything else must be mapped.
_BUILTIN_GRADES: dict[str, str | None] = {"a": "A", "b": "B", "": None, "-": None, "none": None, "null": None}
_MAX_SHOWN = 5  # problems listed in one error message
_NAME_MAX = 255  # labels.name is String(255)


@dataclass(frozen=True)
class ColumnNames:
    """Header names chosen by the user; ``None`` means "recognise it" (see :data:`ALIASES`)."""

    ra: str | None = None
    dec: str | None = None
    name: str | None = None
    grade: str | None = None


@dataclass(frozen=True)
class LensList:
    """A parsed known-lens list: positions (degrees), optional names and grades, each entry's file line."""

    path: Path
    sha256: str
    ra: np.ndarray
    dec: np.ndarray
    names: tuple[str | None, ...]
    grades: tuple[str | None, ...]
    lines: np.ndarray
    columns: dict[str, str]


def parse_grade_map(spec: str | None) -> dict[str, str | None]:
    """Parse ``"confident=A,probable=B"`` into a mapping; ``VALUE=none`` imports it without a grade."""
    out: dict[str, str | None] = {}
    for item in filter(None, (p.strip() for p in (spec or "").split(","))):
        key, sep, value = item.partition("=")
        target = value.strip().upper()
        if not sep or target not in ("A", "B", "NONE", ""):
            raise InvalidInput(f"grade map entry {item!r} must look like VALUE=A, VALUE=B or VALUE=none "
                               "(for lenscat: --grade-map confident=A,probable=B)")
        out[key.strip()] = None if target in ("NONE", "") else target
    return out


def read_lens_list(path: str | Path, *, columns: ColumnNames | None = None,
                   grade_map: Mapping[str, str | None] | None = None) -> LensList:
    """Read and validate a comma- or tab-separated known-lens list with a header line.

    Lines starting with ``#`` and blank lines are skipped. RA and Dec are decimal degrees (RA in [0, 360), Dec
    in [-90, 90]); name and grade are optional. Grades A/B are kept, blanks mean no grade, other values need
    ``grade_map``.

    Raises:
        InvalidInput: naming the file, line and column of each problem (up to five) and what to do.
    """
    path = Path(path)
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder; give the list's file (CSV or TSV)")
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    raw = path.read_bytes()
    if path.name.lower().endswith(ASTROPY_SUFFIXES):
        return _read_rows(path, raw, _table_lines(path), 1, ",", columns, grade_map)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text ({exc}); save it as UTF-8 CSV or TSV") from None
    lines = text.splitlines()
    content = [n for n, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]
    if not content:
        raise InvalidInput(f"{path}: the file is empty; expected a header line naming ra and dec columns, "
                           "then one line per lens")
    header_line = content[0]
    delimiter = _delimiter(path, lines[header_line - 1])
    try:
        return _read_rows(path, raw, lines, header_line, delimiter, columns, grade_map)
    except csv.Error as exc:  # e.g. a field longer than the csv module's limit (131,072 characters)
        raise InvalidInput(f"{path}: cannot be read as {_SEP_NAMES[delimiter]}-separated text ({exc}); check the "
                           "file: a field that long is usually an unclosed quote") from None


#: Lists in these formats are read with astropy (FITS, VOTable, ECSV, parquet); CSV and TSV by the text reader,
#: which names each problem's line.
ASTROPY_SUFFIXES = (".fits", ".fit", ".fits.gz", ".vot", ".votable", ".xml", ".ecsv", ".parquet", ".pq")


def _table_lines(path: Path) -> list[str]:
    """An astropy-readable table as CSV lines (header first; masked values blank; vector columns left out), so
    that one reader checks every format alike (a problem's "line" is then the row + 1)."""
    import io

    from lensdb.core.tables import read_table

    table = read_table(path)
    names = [n for n in table.colnames if table[n].ndim == 1]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(names)
    columns = []
    for n in names:
        col = table[n]
        mask = getattr(col, "mask", None)
        values = [v.decode() if isinstance(v, bytes) else v for v in col.tolist()]
        columns.append(["" if (mask is not None and bool(mask[i])) or v is None else str(v)
                        for i, v in enumerate(values)])
    for row in zip(*columns, strict=True):
        writer.writerow(row)
    return buffer.getvalue().splitlines()


def _read_rows(path: Path, raw: bytes, lines: list[str], header_line: int, delimiter: str,
               columns: ColumnNames | None, grade_map: Mapping[str, str | None] | None) -> LensList:
    reader = csv.reader(lines[header_line - 1:], delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    cols = _resolve_columns(path, header, columns or ColumnNames())
    where = {role: header.index(h) for role, h in cols.items()}
    ras, decs, names, grades, numbers, problems = [], [], [], [], [], []
    shortened = 0
    for row in reader:
        lineno = header_line - 1 + reader.line_num
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != len(header):
            problems.append(f"line {lineno} has {len(row)} fields but the header has {len(header)} "
                            f"(separator {_SEP_NAMES[delimiter]}); check for mixed separators or unquoted "
                            f"{_SEP_NAMES[delimiter]}s inside values")
            continue
        ra = _number(row[where["ra"]], lineno, cols["ra"], 0.0, 360.0, "[0, 360)", problems, upper_open=True)
        dec = _number(row[where["dec"]], lineno, cols["dec"], -90.0, 90.0, "[-90, 90]", problems)
        name = row[where["name"]].strip() if "name" in where else ""
        if name and not name.isprintable():
            problems.append(f"line {lineno}: the name in column '{cols['name']}' holds control characters "
                            f"({name[:40]!r}); names are printable text")
            continue
        if len(name) > _NAME_MAX:
            # Merged catalogues list every alias in one field (lenscat has 3 such rows); names are for people,
            # so a shortened one is better than refusing the list.
            name = name[:_NAME_MAX - 1] + "\u2026"
            shortened += 1
        ras.append(ra)
        decs.append(dec)
        names.append(None if name in ("", "-") else name)
        grades.append(row[where["grade"]].strip() if "grade" in where else "")
        numbers.append(lineno)
    if problems:
        shown = "; ".join(problems[:_MAX_SHOWN])
        more = f" (and {len(problems) - _MAX_SHOWN} more)" if len(problems) > _MAX_SHOWN else ""
        raise InvalidInput(f"{path}: {len(problems)} problem(s), nothing imported: {shown}{more}; "
                           "fix the file and import it again")
    if not numbers:
        raise InvalidInput(f"{path}: the header is there but no data lines follow; add one line per lens")
    if shortened:
        log.warning("%s: %d names longer than %d characters were shortened", path, shortened, _NAME_MAX)
    return LensList(path=path, sha256=hashlib.sha256(raw).hexdigest(), ra=np.asarray(ras, float),
                    dec=np.asarray(decs, float), names=tuple(names),
                    grades=_map_grades(path, cols.get("grade"), grades, numbers, grade_map or {}),
                    lines=np.asarray(numbers, np.int64), columns=cols)


_SEP_NAMES = {"\t": "tab", ",": "comma"}


def _delimiter(path: Path, header: str) -> str:
    """Tab when the header has one (CSV headers rarely do), else comma; anything else is refused."""
    if "\t" in header:
        return "\t"
    if "," in header:
        return ","
    for sep, word in ((";", "semicolons"), ("|", "'|' characters"), (" ", "spaces")):
        if sep in header.strip():
            raise InvalidInput(f"{path}: the header {header.strip()!r} seems separated by {word}; "
                               "LensDB reads comma- or tab-separated files: convert it to CSV or TSV")
    raise InvalidInput(f"{path}: the header {header.strip()!r} has a single column; a lens list needs at "
                       "least ra and dec columns, separated by commas or tabs")


def _resolve_columns(path: Path, header: list[str], chosen: ColumnNames) -> dict[str, str]:
    """Map roles (ra, dec, name, grade) to header names: the user's choice, else the one recognised alias."""
    found: dict[str, str] = {}
    for role, aliases in ALIASES.items():
        wanted = getattr(chosen, role)
        if wanted is not None:
            hits = [h for h in header if h == wanted] or [h for h in header if h.lower() == wanted.lower()]
            if not hits:
                raise InvalidInput(f"{path}: no column {wanted!r} (from --{role}-col); the header has "
                                   f"{', '.join(map(repr, header))}")
        else:
            hits = [h for h in header if _base_name(h)[0] in aliases]
            if len(hits) > 1:
                raise InvalidInput(f"{path}: columns {', '.join(map(repr, hits))} could each be {role}; "
                                   f"choose one with --{role}-col")
        if not hits:
            if role in ("ra", "dec"):
                names = " or ".join(repr(a) for a in aliases[:2])
                raise InvalidInput(f"{path}: no {role.upper()} column; the header has "
                                   f"{', '.join(map(repr, header))}. Name it {names} (units in brackets "
                                   f"allowed, e.g. '{role.upper()} [deg]') or pass --{role}-col")
            continue
        if role in ("ra", "dec") and _base_name(hits[0])[1] not in _DEGREE_UNITS:
            raise InvalidInput(f"{path}: column {hits[0]!r} is not in degrees; LensDB needs decimal degrees")
        found[role] = hits[0]
    return found


def _base_name(header_name: str) -> tuple[str, str]:
    """("ra", "deg") from "RA [deg]" or "ra (deg)"; ("ra", "") from "RA"."""
    m = re.fullmatch(r"\s*(.*?)\s*[\[(]\s*([^\])]*?)\s*[\])]\s*", header_name)
    base, unit = (m.group(1), m.group(2)) if m else (header_name.strip(), "")
    return base.lower().replace(" ", "_"), unit.lower()


def _number(value: str, lineno: int, column: str, lo: float, hi: float, span: str, problems: list[str],
            upper_open: bool = False) -> float:
    try:
        x = float(value)
    except ValueError:
        problems.append(f"line {lineno}, column '{column}': {value.strip()!r} is not a number "
                        "(decimal degrees expected)")
        return float("nan")
    if not np.isfinite(x) or x < lo or x > hi or (upper_open and x == hi):
        problems.append(f"line {lineno}, column '{column}': {value.strip()} is outside {span} degrees")
    return x


def _map_grades(path: Path, column: str | None, raw: list[str], lines: list[int],
                grade_map: Mapping[str, str | None]) -> tuple[str | None, ...]:
    """Grades A/B/None from the file's values, through the user's map first, then the built-in one."""
    if column is None:
        return (None,) * len(raw)
    user = {k.strip().lower(): v for k, v in grade_map.items()}
    out: list[str | None] = []
    unknown: dict[str, list[int]] = {}
    for value, lineno in zip(raw, lines, strict=True):
        key = value.lower()
        if key in user:
            out.append(user[key])
        elif key in _BUILTIN_GRADES:
            out.append(_BUILTIN_GRADES[key])
        else:
            unknown.setdefault(value, []).append(lineno)
            out.append(None)
    if unknown:
        listed = ", ".join(f"{v!r} ({len(n)} lines, first line {n[0]})"
                           for v, n in list(unknown.items())[:_MAX_SHOWN])
        example = ",".join(f"{v}=A" for v in list(unknown)[:2])
        raise InvalidInput(f"{path}: column '{column}' has values that are not grades A or B: {listed}; "
                           f"map them with --grade-map (for example --grade-map {example}; VALUE=none "
                           "imports without a grade), nothing imported")
    return tuple(out)
