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
    "lensdb.commands.ingest",
    "lensdb.commands.catalog",
    "lensdb.commands.vectors",
    "lensdb.commands.encoder",
    "lensdb.commands.embed",
    "lensdb.demo",
    "lensdb.commands.classifiers",
    "lensdb.commands.api",
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
        "Run 'lensdb COMMAND --help' for a command's inputs, outputs and defaults.",
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
    except (LensDBError, ConfigError) as exc:
        print(f"lensdb {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lensdb {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
