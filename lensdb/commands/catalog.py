"""``lensdb db ...`` (schema migrations) and ``lensdb labels ...`` (known-lens lists and label sets)."""

from __future__ import annotations

import getpass
import logging

from lensdb.core.config import Settings
from lensdb.core.units import CUTOUT_RADIUS_ARCSEC as DEFAULT_RADIUS_ARCSEC

log = logging.getLogger(__name__)


def register(sub) -> None:
    """Add the ``db`` and ``labels`` sub-commands to the lensdb parser."""
    _register_db(sub)
    _register_labels(sub)


def _register_db(sub) -> None:
    db = sub.add_parser(
        "db", help="create or migrate the relational schema",
        description="Create, migrate or inspect the relational schema (sources, shards, label sets, labels, "
                    "models, predictions, jobs) of the database given by --database-url (default: the SQLite "
                    "file <data-dir>/lensdb.sqlite). On PostgreSQL the schema includes the q3c extension and "
                    "a q3c index on source positions (Debian package postgresql-<version>-q3c).")
    cmds = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = cmds.add_parser("upgrade", help="migrate the schema up (default: to the newest revision)",
                         description="Apply the migrations up to REV (default: head, the newest). Creates "
                                     "the tables on first use; safe to repeat. Writes the database schema.")
    up.add_argument("revision", nargs="?", default="head", metavar="REV",
                    help="target revision (default: head)")
    up.set_defaults(func=_db_upgrade)
    down = cmds.add_parser("downgrade", help="migrate the schema down to REV",
                           description="Undo migrations down to REV; 'base' drops every LensDB table and "
                                       "its data. The q3c extension stays installed on PostgreSQL.")
    down.add_argument("revision", metavar="REV", help="target revision, e.g. 0001, or base (no tables)")
    down.set_defaults(func=_db_downgrade)
    cur = cmds.add_parser("current", help="show the schema revision and the newest one",
                          description="Print the database's schema revision and the newest revision this "
                                      "LensDB knows; reads only.")
    cur.set_defaults(func=_db_current)


def _register_labels(sub) -> None:
    labels = sub.add_parser(
        "labels", help="import known-lens lists; list label sets",
        description="Label sets in the relational database: import a known-lens list by cross-matching it "
                    "to the ingested sources, or list the sets with their label counts.")
    cmds = labels.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    imp = cmds.add_parser(
        "import", help="import a known-lens list (CSV/TSV of positions) as a label set",
        description="Read FILE (comma- or tab-separated with a header line; columns ra/RA/'RA [deg]'/ra_deg "
                    "and dec/DEC/'DEC [deg]' in decimal degrees, optional name and grade/grading), "
                    "cross-match each entry to the sources table and write one label set to the database: "
                    "a 'lens' label on the nearest source within the radius (default 25.2 arcsec = one "
                    "96-pixel cutout) and a 'near_lens' label on every other source within it, so it is "
                    "never drawn as a non-lens. Prints matched, unmatched and duplicate counts. One "
                    "transaction: a bad file or an error writes nothing. Re-importing the same file into "
                    "the same set replaces its labels (no duplicates); a different file under an existing "
                    "set name needs --replace.",
        epilog="Example (lenscat's catalogue): lensdb labels import catalog.csv --name lenscat "
               "--grade-map confident=A,probable=B")
    imp.add_argument("file", metavar="FILE", help="CSV or TSV known-lens list")
    imp.add_argument("--name", help="label set name (default: FILE's name without extension)")
    imp.add_argument("--radius-arcsec", type=float, default=DEFAULT_RADIUS_ARCSEC, metavar="ARCSEC",
                     help=f"match radius, arcsec (default: {DEFAULT_RADIUS_ARCSEC})")
    imp.add_argument("--author", default=_user(),
                     help="who the labels are attributed to (default: the login name)")
    for role in ("ra", "dec", "name", "grade"):
        imp.add_argument(f"--{role}-col", metavar="HEADER", default=None,
                         help=f"header of the {role} column (default: recognised from the header)")
    imp.add_argument("--grade-map", metavar="VALUE=GRADE,...", default=None,
                     help="map the file's grade values to A, B or none, e.g. confident=A,probable=B for "
                          "lenscat (default: only A and B, blank means no grade)")
    imp.add_argument("--replace", action="store_true",
                     help="overwrite a label set that holds a different file (default: refuse)")
    imp.add_argument("--method", choices=("auto", "q3c", "kdtree"), default="auto",
                     help="cross-match path (default: auto = q3c on PostgreSQL with q3c, else kdtree)")
    imp.set_defaults(func=_labels_import)
    lst = cmds.add_parser("list", help="list label sets with their label counts",
                          description="Print each label set (or only SET) with its lens (grade A, B), "
                                      "near_lens and non_lens counts, author and time; reads only.")
    lst.add_argument("set", nargs="?", metavar="SET", help="only this label set (default: all)")
    lst.set_defaults(func=_labels_list)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers; the author is then left empty
        return None


def _db_upgrade(args, settings: Settings) -> int:
    from lensdb.catalog.db import current_revision, upgrade

    upgrade(settings.database_url, args.revision)
    print(f"schema at revision {current_revision(settings.database_url)}")
    return 0


def _db_downgrade(args, settings: Settings) -> int:
    from lensdb.catalog.db import current_revision, downgrade

    downgrade(settings.database_url, args.revision)
    print(f"schema at revision {current_revision(settings.database_url) or 'base (no tables)'}")
    return 0


def _db_current(args, settings: Settings) -> int:
    from lensdb.catalog.db import current_revision, head_revision

    current, head = current_revision(settings.database_url), head_revision()
    state = "up to date" if current == head else "run 'lensdb db upgrade'"
    print(f"current: {current or 'none (empty database)'}  head: {head}  ({state})")
    return 0


def _labels_import(args, settings: Settings) -> int:
    from lensdb.catalog.db import make_engine
    from lensdb.catalog.jobs import job_scope
    from lensdb.catalog.labels import import_labels
    from lensdb.catalog.lenslist import ColumnNames, parse_grade_map

    columns = ColumnNames(ra=args.ra_col, dec=args.dec_col, name=args.name_col, grade=args.grade_col)
    grade_map = parse_grade_map(args.grade_map)
    engine = make_engine(settings.database_url)
    try:
        params = {k: v for k, v in vars(args).items() if k != "func"}
        with job_scope(engine, "labels_import", params):
            report = import_labels(engine, args.file, name=args.name, radius_arcsec=args.radius_arcsec,
                                   author=args.author, columns=columns, grade_map=grade_map,
                                   replace=args.replace, method=args.method)
    finally:
        engine.dispose()
    print(report.summary())
    if report.unmatched_lines:
        shown = ", ".join(map(str, report.unmatched_lines[:20]))
        more = " ..." if len(report.unmatched_lines) > 20 else ""
        print(f"unmatched file lines: {shown}{more}")
    return 0


def _labels_list(args, settings: Settings) -> int:
    from lensdb.catalog.db import make_engine
    from lensdb.catalog.labels import list_label_sets

    engine = make_engine(settings.database_url)
    try:
        sets = list_label_sets(engine, args.set)
    finally:
        engine.dispose()
    if not sets:
        print("no label sets; import one with 'lensdb labels import FILE'")
        return 0
    print(f"{'label set':<28} {'lens':>7} {'A':>6} {'B':>6} {'near':>7} {'non':>7}  author      created")
    for s in sets:
        print(f"{s.name:<28} {s.lens:>7} {s.grade_a:>6} {s.grade_b:>6} {s.near_lens:>7} {s.non_lens:>7}  "
              f"{(s.author or '-'):<11} {s.created_at:%Y-%m-%d %H:%M}")
    return 0
