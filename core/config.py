"""Typed LensDB configuration: defaults < config file < environment < command-line flags.

The core settings say *where* things live (data folder, relational database, Milvus); each component keeps its own
frozen dataclass of tunables and reads it from a section of the same TOML file with :func:`load_section`.

Config file (TOML), found through ``--config``, ``LENSDB_CONFIG`` or ``<data_dir>/lensdb.toml``::

    data_dir = "/data/lensdb"
    database_url = "postgresql+psycopg2://postgres@127.0.0.1:5432/lensdb"
    milvus_uri = "http://milvus:19530"

    [simulate]
    n_objects = 20000
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ENV_PREFIX = "LENSDB_"
DEFAULT_DATA_DIR = "./lensdb-data"
SQLITE_NAME = "lensdb.sqlite"
MILVUS_LITE_NAME = "milvus.db"


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


@dataclass(frozen=True)
class Settings:
    """Where LensDB keeps its data.

    Attributes:
        data_dir: folder for the embedded defaults, shards, checkpoints and reports.
        database_url: SQLAlchemy URL of the relational database (SQLite file in ``data_dir`` by default).
        milvus_uri: Milvus Lite file path, or ``http://host:port`` of a Milvus server (Lite file in ``data_dir``).
        milvus_token: Milvus token (``user:password`` or an API key); ``None`` for none.
        log_level: Python logging level name.
        survey_root: the folder under which ``lensdb ingest`` records shard paths (relative to it, so the folder
            can move; ``lensdb db survey-root`` re-points it); ``None``: each shard's own folder is its root.
        config_file: the TOML file the settings were read from, if any.
        sections: the raw component sections of the config file (read them with :func:`load_section`).
    """

    data_dir: Path
    database_url: str
    milvus_uri: str
    milvus_token: str | None = None
    log_level: str = "INFO"
    survey_root: Path | None = None
    config_file: Path | None = None
    sections: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    def path(self, *parts: str) -> Path:
        """A path inside the data folder (not created)."""
        return self.data_dir.joinpath(*parts)


_CORE_KEYS = ("data_dir", "database_url", "milvus_uri", "milvus_token", "log_level", "survey_root")
#: The sections a config file may hold, one per component's typed config (read with :func:`load_section`).
SECTIONS = ("simulate", "ingest", "vectordb", "similarity", "encoder", "probe", "finetune", "service", "serve",
            "grading", "web")


def load_settings(
    config_file: str | os.PathLike | None = None,
    env: typing.Mapping[str, str] | None = None,
    *,
    sections: typing.Collection[str] = SECTIONS,
    **flags: Any,
) -> Settings:
    """Resolve the settings from defaults, a TOML file, the environment and explicit flags (highest wins).

    Args:
        config_file: TOML file; when ``None``, ``LENSDB_CONFIG`` or ``<data_dir>/lensdb.toml`` if it exists.
        env: environment mapping (``os.environ`` by default).
        sections: the section names the file may hold (an unknown one is a misspelling, and an error).
        **flags: values given on the command line; ``None`` means "not given".
    """
    env = os.environ if env is None else env
    allowed_sections = tuple(sections)
    unknown = set(flags) - set(_CORE_KEYS)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}; known: {', '.join(_CORE_KEYS)}")

    def pick_env(key: str) -> str | None:
        value = env.get(ENV_PREFIX + key.upper())
        return value if value not in (None, "") else None

    # The data folder decides where the default config file lives, so resolve it first without the file.
    data_dir = flags.get("data_dir") or pick_env("data_dir")
    path = config_file or pick_env("config")
    if path is None:
        candidate = Path(data_dir or DEFAULT_DATA_DIR) / "lensdb.toml"
        path = candidate if candidate.is_file() else None
    file_values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"config file {path} is a folder; pass the TOML file itself (for example "
                              f"{path / 'lensdb.toml'})")
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist; pass an existing TOML file or drop --config")
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc

    sections = {k: v for k, v in file_values.items() if isinstance(v, dict)}
    top = {k: v for k, v in file_values.items() if not isinstance(v, dict)}
    bad = set(top) - set(_CORE_KEYS)
    if bad:
        raise ConfigError(
            f"config file {path}: unknown top-level key(s) {', '.join(sorted(bad))}; known: {', '.join(_CORE_KEYS)}"
        )
    unknown = set(sections) - set(allowed_sections)
    if unknown:
        raise ConfigError(f"config file {path}: unknown section(s) [{'], ['.join(sorted(unknown))}]; known: "
                          f"[{'], ['.join(allowed_sections)}] (a misspelt section would be ignored otherwise)")

    def resolve(key: str) -> Any:
        for source in (flags.get(key), pick_env(key), top.get(key)):
            if source is not None:
                return source
        return None

    data_dir_path = Path(resolve("data_dir") or DEFAULT_DATA_DIR).expanduser()
    database_url = resolve("database_url") or f"sqlite:///{(data_dir_path / SQLITE_NAME).resolve()}"
    milvus_uri = resolve("milvus_uri") or str((data_dir_path / MILVUS_LITE_NAME).resolve())
    log_level = str(resolve("log_level") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"log_level {log_level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return Settings(
        data_dir=data_dir_path,
        database_url=str(database_url),
        milvus_uri=str(milvus_uri),
        milvus_token=resolve("milvus_token"),
        log_level=log_level,
        survey_root=Path(resolve("survey_root")).expanduser() if resolve("survey_root") else None,
        config_file=Path(path) if path else None,
        sections=sections,
    )


T = TypeVar("T")


def load_section(cls: type[T], settings: Settings | None, name: str, /, **overrides: Any) -> T:
    """Build the frozen dataclass ``cls`` from section ``[name]`` of the config file plus overrides.

    Overrides whose value is ``None`` are ignored (a flag not given). Unknown keys and values of the wrong type raise
    :class:`ConfigError` naming the section and key.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    values: dict[str, Any] = dict(settings.sections.get(name, {})) if settings else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"[{name}]: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    return cls(**{k: _coerce(name, k, v, hints[k]) for k, v in values.items()})


def _coerce(section: str, key: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against a type hint, converting the lossless cases (int to float, str to Path, list to tuple)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(section, key, value, option)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"[{section}] {key}: bad value {value!r}")
    if origin is typing.Literal:
        if value in typing.get_args(hint):
            return value
        raise ConfigError(f"[{section}] {key}: {value!r} is not one of {typing.get_args(hint)}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"[{section}] {key}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(_coerce(section, key, v, item) for v in value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is Path and isinstance(value, str | Path):
        return Path(value)
    if hint is bool and isinstance(value, str):
        low = value.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
    if hint in (int, float) and isinstance(value, str):
        try:
            return hint(value)
        except ValueError:
            pass
    if isinstance(hint, type) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"[{section}] {key}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
