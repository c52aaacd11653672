"""``lensdb ingest PATH...``: load survey shards into the catalogue."""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from lensdb.core.config import Settings, load_section

log = logging.getLogger(__name__)

DESCRIPTION = """\
Read survey shards (HDF5: 'images' (N, 3, S, S) float32/float16 nanomaggies in g, r, z with S >= 110,
and the catalogue columns ra, dec, release, brickid, objid, flux (N, 3) or mag_g/mag_r/mag_z, ebv,
psfsize, psfdepth, source_type, optional survey and z_phot_*). Write one row per object to the 'sources'
table, one row per shard to 'shards' and one 'jobs' row for the run, in the configured database.

Each shard is checked completely first (keys, shapes, dtypes, finite values, surveys, unique object ids,
finite pixels), then written in one transaction: a bad shard is rejected whole, with a message naming the
file, the key and the problem, and nothing of it is written. Ingesting a shard again changes nothing
('skipped'): a shard is known by its file name plus a fingerprint of its content. A killed run can simply be
run again.

Shard paths are recorded relative to a survey root (a named folder: --survey-root, else each shard's own
folder), so the data can move: after moving the folder, run 'lensdb db survey-root NAME NEWDIR', or ingest
the shards again from the new place (they are skipped, and their root is re-pointed there).

The database must be at the current schema ('lensdb db upgrade'). For convenience an EMPTY SQLite database
(such as the embedded default, <data-dir>/lensdb.sqlite, on first use) gets the schema created; PostgreSQL
is never upgraded implicitly.

Exit status: 0 when every shard was ingested or skipped; 1 when a shard was rejected (the others are kept);
2 on an error before any shard (configuration, database).
"""


def register(sub) -> None:
    """Add ``ingest`` to the lensdb parser."""
    from lensdb.ingest.pipeline import IngestConfig

    defaults = IngestConfig()
    p = sub.add_parser("ingest", help="load survey shards (HDF5) into the catalogue",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="shard files, or folders whose *.h5 files are ingested in name order (not recursive)")
    p.add_argument("--survey", choices=("south", "north"),
                   help="survey of rows whose release is not DR9's 9010 (south) / 9011 (north), in shards "
                        "without a 'survey' column; it never overrides either (default: reject such rows)")
    p.add_argument("--chunk-rows", type=int, metavar="N",
                   help=f"catalogue rows per read and per bulk insert (default {defaults.chunk_rows:,}; "
                        "[ingest] chunk_rows in the config file)")
    p.add_argument("--image-chunk-mb", type=float, metavar="MB",
                   help=f"MiB of pixels per read while checking images (default {defaults.image_chunk_mb:g})")
    p.add_argument("--workers", type=int, metavar="N",
                   help=f"shards ingested at once, each in its own transaction (default {defaults.workers}); "
                        "PostgreSQL only, SQLite takes shards one by one")
    p.add_argument("--root-name", metavar="NAME",
                   help="name of the survey root the shard paths are recorded under (default: the root folder's "
                        "name); the root folder is --survey-root (a global flag, $LENSDB_SURVEY_ROOT), else each "
                        "shard's own folder")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they are drawn only on a terminal anyway)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from lensdb.catalog.db import make_engine
    from lensdb.ingest.pipeline import IngestConfig, ingest_paths

    config = load_section(IngestConfig, settings, "ingest", chunk_rows=args.chunk_rows,
                          image_chunk_mb=args.image_chunk_mb, survey=args.survey, workers=args.workers,
                          root_name=args.root_name,
                          survey_root=str(settings.survey_root) if settings.survey_root else None)
    engine = make_engine(settings.database_url)
    try:
        _ensure_schema(engine)
        with _tqdm_progress(disable=True if args.no_progress else None) as progress:
            report = ingest_paths(engine, args.paths, config=config, progress=progress)
    finally:
        engine.dispose()
    for outcome in report.outcomes:
        if outcome.status == "ingested":
            print(f"ingested  {outcome.path}: {outcome.rows:,} rows in {outcome.seconds:.1f} s")
        elif outcome.status == "skipped":
            print(f"skipped   {outcome.path}: {outcome.message}")
        else:  # the message starts with the path
            print(f"rejected  {outcome.message}")
    print(f"ingest job {report.job_id}: {report.summary()}")
    return 0 if report.ok else 1


def _ensure_schema(engine) -> None:
    """Create the schema in an empty SQLite database (the embedded default); else require the current one."""
    from sqlalchemy import inspect

    from lensdb.catalog.db import require_current, upgrade

    if engine.dialect.name == "sqlite" and not inspect(engine).get_table_names():
        log.info("creating the LensDB schema in the new SQLite database %s", engine.url.database)
        upgrade(engine.url.render_as_string(hide_password=False))
    require_current(engine)


def _tqdm_progress(disable: bool | None):
    """A :class:`lensdb.ingest.pipeline.Progress` that draws two tqdm bars with rows/s: rows checked (image scan)
    and rows written (catalogue copy). A context manager; the bars close on exit."""
    from tqdm import tqdm

    from lensdb.ingest.pipeline import Progress

    class TqdmProgress(Progress):
        def __enter__(self):
            kw = dict(total=0, unit=" rows", unit_scale=True, disable=disable, file=sys.stderr,
                      dynamic_ncols=True)
            self.checked = tqdm(desc="checked", position=0, **kw)
            self.written = tqdm(desc="written", position=1, **kw)
            self.shards: dict[str, list[int]] = {}
            self.lock = threading.Lock()  # callbacks come from several threads with --workers
            return self

        def __exit__(self, *exc):
            self.checked.close()
            self.written.close()

        def shard_started(self, name, n_rows):
            with self.lock:
                self.shards[name] = [n_rows, 0, 0]  # rows, checked, written
                for bar in (self.checked, self.written):
                    bar.total += n_rows
                    bar.set_postfix_str(name)

        def rows_checked(self, name, n):
            with self.lock:
                self.shards[name][1] += n
                self.checked.update(n)

        def rows_written(self, name, n):
            with self.lock:
                self.shards[name][2] += n
                self.written.update(n)

        def shard_finished(self, outcome):
            with self.lock:
                rows, checked, written = self.shards.pop(outcome.name, (0, 0, 0))
                if outcome.status != "ingested" and rows:
                    # A skipped or rejected shard leaves its share of the bars unfilled: take it out of the totals.
                    self.checked.total -= rows - checked
                    self.written.total -= rows - written
                    self.checked.refresh()
                    self.written.refresh()

    return TqdmProgress()
