"""The ``lensdb`` command line: one entry point, one sub-command per part of the data flow.

Each group of sub-commands is a module of :mod:`lensdb.commands` (``simulate``, ``ingest``, ``catalog``, ...) with a
``register`` function, so heavy imports (torch, pymilvus) happen only when a command that needs them runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from lensdb.core.config import ConfigError, Settings, load_settings
from lensdb.core.errors import LensDBError
from lensdb.core.logs import setup_logging

#: Modules that define ``register(subparsers)``; each adds its sub-commands with ``set_defaults(func=...)``
#: where ``func(args, settings) -> int | None``.
COMMAND_MODULES = (
    "lensdb.commands.simulate",
    "lensdb.commands.convert",
    "lensdb.commands.ingest",
    "lensdb.commands.catalog",
    "lensdb.commands.vectors",
    "lensdb.commands.encoder",
    "lensdb.commands.embed",
    "lensdb.demo",
    "lensdb.commands.classifiers",
    "lensdb.commands.api",
    "lensdb.commands.jobs",
    "lensdb.commands.export",
    "lensdb.commands.grading",
    "lensdb.commands.web",
)

log = logging.getLogger("lensdb")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lensdb",
        description=(
            "LensDB: embedding database and vector search for mining strong gravitational lenses. "
            "With no configuration everything lives in one data folder (./lensdb-data): a SQLite file for the "
            "catalogue, labels and predictions, and a Milvus Lite file for the vectors."
        ),
        epilog="Settings resolve as: defaults < config file < LENSDB_* environment < flags. "
        "Run 'lensdb COMMAND --help' for a command's inputs, outputs and defaults. Exit status: 0 done, 2 an error "
        "you can fix (input, configuration, state; the message says what), 3 a backend unavailable (retry later), "
        "1 a bug, 130 interrupted (re-run to resume).",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML config file (default: $LENSDB_CONFIG, else "
                        "<data-dir>/lensdb.toml when it exists)")
    parser.add_argument("--data-dir", metavar="DIR", help="data folder ($LENSDB_DATA_DIR, default ./lensdb-data)")
    parser.add_argument("--database-url", metavar="URL", help="SQLAlchemy URL of the relational database "
                        "($LENSDB_DATABASE_URL, default sqlite:///<data-dir>/lensdb.sqlite)")
    parser.add_argument("--milvus-uri", metavar="URI", help="Milvus Lite file or http://host:port "
                        "($LENSDB_MILVUS_URI, default <data-dir>/milvus.db)")
    parser.add_argument("--milvus-token", metavar="TOKEN", help="Milvus token ($LENSDB_MILVUS_TOKEN)")
    parser.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO (default), WARNING, ERROR")
    parser.add_argument("--survey-root", metavar="DIR", help="folder under which ingest records shard paths, "
                        "relative to it, so the data can move ($LENSDB_SURVEY_ROOT; default: each shard's folder; "
                        "re-point with 'lensdb db survey-root')")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    return load_settings(
        config_file=args.config,
        data_dir=args.data_dir,
        database_url=args.database_url,
        milvus_uri=args.milvus_uri,
        milvus_token=args.milvus_token,
        log_level=args.log_level,
        survey_root=args.survey_root,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"lensdb: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        return int(args.func(args, settings) or 0)
    except KeyboardInterrupt:
        print(f"lensdb {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place a command's failure becomes one line and an exit status
        return report_failure(args.command, exc)


#: Exit statuses: 2 for what the user can fix (input, configuration, state), 3 for a backend that is down (retry
#: later), 1 for a bug.
EXIT_USER, EXIT_UNAVAILABLE, EXIT_BUG = 2, 3, 1


def report_failure(command: str, exc: BaseException) -> int:
    """Print one line for a failed command and return its exit status.

    Known failures (LensDB's own errors, and the engines' errors that mean a known thing: a database that cannot
    be reached or has no schema, Milvus down) are said as they are; anything else is a bug, said in one line with
    the way to see its traceback.
    """
    from lensdb.core.errors import BackendUnavailable
    from lensdb.services.errors import as_domain

    # LensDB's own errors say what they mean; only the engines' raw errors need reading.
    domain = exc if isinstance(exc, LensDBError | ConfigError) else as_domain(exc)
    remote = getattr(getattr(domain, "code", None), "name", None)  # an API client's error carries the server's code
    if isinstance(domain, BackendUnavailable) or remote == "UNAVAILABLE":
        print(f"lensdb {command}: unavailable: {domain}; try again when it is back", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if isinstance(domain, LensDBError | ConfigError):
        print(f"lensdb {command}: error: {domain}", file=sys.stderr)
        return EXIT_USER
    log.debug("the traceback of the failure", exc_info=exc)
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    print(f"lensdb {command}: internal error: {type(exc).__name__}: {first} (a bug: re-run with --log-level DEBUG "
          "for the traceback, and report it)", file=sys.stderr)
    return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
