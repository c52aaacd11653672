"""``lensdb db ...`` (schema migrations) and ``lensdb labels ...`` (known-lens lists and label sets)."""

from __future__ import annotations

import getpass
import logging
import sys

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
                    "file <data-dir>/lensdb.sqlite). Any PostgreSQL 13+ works: source positions carry a portable "
                    "sky-pixel index (HEALPix, B-tree) on every backend; where the server offers the q3c "
                    "extension (Debian package postgresql-<version>-q3c) the schema also gets a q3c index, "
                    "which LensDB then uses, and where it does not the upgrade says so in one line.")
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
    root = cmds.add_parser(
        "survey-root", help="list survey roots, or re-point one after moving the data",
        description="Shards are recorded relative to a survey root, a named folder. With no argument: list the "
                    "roots (name, folder, shards, whether the folder exists). With NAME PATH: point root NAME at "
                    "PATH, the folder its shards now lie in (after moving or copying the data: a laptop's disk to "
                    "a cluster volume); every shard of the root is then read from there. Checks that the shards "
                    "are found under PATH and refuses otherwise (--force to set it anyway). Writes only the "
                    "root's row. Each shard found must be the file that was ingested (its fingerprint: file size, "
                    "every catalogue column and sampled image rows) and must lie inside PATH (a symbolic link "
                    "leading out of it is refused).",
        epilog="Example: mv lensdb-data/survey /scratch/survey && lensdb db survey-root survey /scratch/survey")
    root.add_argument("name", nargs="?", metavar="NAME", help="root name (see the list)")
    root.add_argument("path", nargs="?", metavar="PATH", help="the folder the root's shards now lie in")
    root.add_argument("--create", action="store_true", help="create root NAME when there is none")
    root.add_argument("--force", action="store_true", help="set it even when shards are missing under PATH")
    root.add_argument("--full", action="store_true",
                      help="also compare every image row with the sha256 recorded at ingest (a full read of each "
                           "shard; the default compares file size, catalogue columns and sampled image rows)")
    root.set_defaults(func=_db_survey_root)
    sh = cmds.add_parser("shards", help="list ingested shards, their roots and whether each file is found",
                         description="Print every ingested shard: id, name, rows, cutout, survey root, the file "
                                     "it is read from now, and whether that file exists; reads only. Exit status "
                                     "2 when a shard's file is missing (re-point its root with 'lensdb db "
                                     "survey-root').")
    sh.set_defaults(func=_db_shards)


def _register_labels(sub) -> None:
    labels = sub.add_parser(
        "labels", help="import known-lens lists; list label sets",
        description="Label sets in the relational database: import a known-lens list by cross-matching it "
                    "to the ingested sources, or list the sets with their label counts.")
    cmds = labels.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    imp = cmds.add_parser(
        "import", help="import a known-lens list (CSV/TSV, FITS, VOTable, ECSV, parquet) as a label set",
        description="Read FILE (comma- or tab-separated with a header line, or a FITS, VOTable, ECSV or parquet "
                    "table read with astropy; columns ra/RA/'RA [deg]'/ra_deg "
                    "and dec/DEC/'DEC [deg]' in decimal degrees, optional name and grade/grading), "
                    "cross-match each entry to the sources table and write one label set to the database: "
                    "a 'lens' label on the nearest source within the radius (default 25.2 arcsec = one "
                    "96-pixel cutout) and a 'near_lens' label on every other source within it, so it is "
                    "never drawn as a non-lens. Prints matched, unmatched and duplicate counts. One "
                    "transaction: a bad file or an error writes nothing. Re-importing the same file into "
                    "the same set replaces its labels (no duplicates); a different file under an existing "
                    "set name needs --replace. Warns when fewer than 10 %% of the entries match, saying where the "
                    "ingested footprint is (RA/Dec ranges per survey) and where the list's positions are.",
        epilog="Example (lenscat's catalogue): lensdb labels import catalog.csv --name lenscat "
               "--grade-map confident=A,probable=B")
    imp.add_argument("file", metavar="FILE", help="known-lens list: CSV or TSV, or any table astropy reads by "
                     "its ending (.fits, .vot/.xml VOTable, .ecsv, .parquet)")
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
    imp.add_argument("--method", choices=("auto", "q3c", "healpix", "kdtree"), default="auto",
                     help="cross-match path (default: auto = q3c on PostgreSQL with q3c, else healpix, the "
                          "portable sky_pixel index)")
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


def _db_survey_root(args, settings: Settings) -> int:
    import os

    from lensdb.catalog import queries
    from lensdb.catalog.db import make_engine, require_current
    from lensdb.catalog.roots import set_root
    from lensdb.core.errors import InvalidInput

    if args.name is not None and args.path is None:
        raise InvalidInput("give NAME and PATH to re-point a root, or nothing to list them")
    engine = make_engine(settings.database_url)
    try:
        require_current(engine)
        if args.name is None:
            roots = queries.survey_roots(engine)
            if not roots:
                print("no survey roots (ingest shards first)")
            for r in roots:
                state = "ok" if os.path.isdir(r.path) else "MISSING"
                print(f"{r.name:<24} {r.n_shards:>6} shard(s)  {state:<8} {r.path}")
            return 0
        new = os.path.realpath(os.path.expanduser(args.path))
        mine = [s for s in queries.shards(engine) if s.root == args.name]
        missing = [s for s in mine if not os.path.isfile(os.path.join(new, s.stored_path))]
        if missing and not args.force:
            raise InvalidInput(
                f"{len(missing)} of {len(mine)} shard(s) of root {args.name!r} are not under {new} (e.g. "
                f"{os.path.join(new, missing[0].stored_path)}); give the folder that holds them, or --force")
        unchecked = _verify_shards(new, [s for s in mine if s not in missing], full=args.full)
        for name in unchecked:
            print(f"shard {name}: no full digest recorded (ingested before revision 0008); checked by its "
                  "fingerprint only", file=sys.stderr)
        old, new = set_root(engine, args.name, new, create=args.create)
    finally:
        engine.dispose()
    print(f"survey root {args.name!r}: {old or '(new)'} -> {new} ({len(mine)} shard(s)"
          + (f", {len(missing)} missing" if missing else "") + ")")
    return 0


def _verify_shards(folder: str, shards: list, *, full: bool = False) -> list[str]:
    """Refuse a folder whose files are not the root's shards: each must stay inside the folder (no symbolic link
    leading out) and be the file that was ingested (its fingerprint: file size, every catalogue column and sampled
    image rows, as ingest computed it; with ``full``, also the sha256 of every image row). Returns the shards
    that have no full digest to compare (ingested before revision 0008)."""
    import os

    from lensdb.catalog.queries import outside_root
    from lensdb.core.errors import InvalidInput
    from lensdb.ingest.pipeline import images_sha256, shard_fingerprint
    from lensdb.ingest.reader import open_shard

    for s in shards:
        why = outside_root(folder, s.stored_path)
        if why is not None:
            raise InvalidInput(f"shard {s.name} under {folder}: {why}; nothing was changed: put the file itself "
                               "in the folder")
    unchecked = []
    for s in shards:
        path = os.path.join(folder, s.stored_path)
        try:
            with open_shard(path) as reader:
                found = shard_fingerprint(reader)
                if found == s.fingerprint and full and s.images_sha256 is not None:
                    found_images = images_sha256(reader)
                else:
                    found_images = s.images_sha256
        except InvalidInput as exc:
            raise InvalidInput(f"{path} is not the shard {s.name} that was ingested: {exc}; nothing was changed") \
                from None
        if found != s.fingerprint:
            raise InvalidInput(
                f"{path} is not the shard {s.name} that was ingested (fingerprint {found[:12]}, the catalogue's "
                f"{s.fingerprint[:12]}: other pixels, rows or size under the same name); nothing was changed: give "
                "the folder that holds the ingested shards")
        if full and s.images_sha256 is None:
            unchecked.append(s.name)
        elif found_images != s.images_sha256:
            raise InvalidInput(f"{path} is not the shard {s.name} that was ingested: its images differ from those "
                               "ingested (full check: sha256 of every image row); nothing was changed: give the "
                               "folder that holds the ingested shards")
    return unchecked


def _db_shards(args, settings: Settings) -> int:
    import os

    from lensdb.catalog import queries
    from lensdb.catalog.db import make_engine, require_current

    engine = make_engine(settings.database_url)
    try:
        require_current(engine)
        shards = queries.shards(engine)
    finally:
        engine.dispose()
    if not shards:
        print("no shards ingested; see 'lensdb ingest --help'")
        return 0
    print(f"{'id':>4} {'name':<40} {'rows':>9} {'px':>4} {'root':<16} {'state':<8} file")
    missing = 0
    outside = [s for s in shards if s.outside]
    for s in shards:
        ok = os.path.isfile(s.path)
        missing += not ok and not s.outside
        state = "OUTSIDE" if s.outside else "ok" if ok else "MISSING"
        print(f"{s.id:>4} {s.name:<40} {s.n_rows:>9,} {s.cutout:>4} {(s.root or '-'):<16} "
              f"{state:<8} {s.path}")
    for s in outside:
        print(f"shard {s.name}: {s.outside}: it is not read")
    if missing:
        print(f"{missing} shard file(s) missing: move the data back, or re-point the root "
              "('lensdb db survey-root NAME NEWDIR')")
    if missing or outside:
        return 2
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
    if report.warning:
        print(f"warning: {report.warning}", file=sys.stderr)
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
