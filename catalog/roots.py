"""Writes of the ``survey_roots`` table: the named folders that shards are recorded under.

A shard's ``path`` is relative to its root, so a data folder that moves (a laptop's disk to a cluster volume) needs
one update, :func:`set_root`, and every cutout is served again. Ingest finds or creates the root of each shard with
:func:`root_for` and re-points a moved shard with :func:`move_shard`.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from lensdb.catalog.models import Shard, SurveyRoot
from lensdb.core.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

MAX_NAME = 64


def _check_name(name: str) -> str:
    if not name or len(name) > MAX_NAME or any(c in name for c in "/\\\0") or name.strip() != name:
        raise InvalidInput(f"survey root name {name!r} is not valid: 1-{MAX_NAME} characters, no slashes and no "
                           "surrounding blanks")
    return name


def _folder(path: str | os.PathLike) -> str:
    return str(Path(path).expanduser().resolve())


def root_for(engine: Engine, folder: str | os.PathLike, name: str | None = None) -> str:
    """The name of the root at ``folder``, created when there is none (named ``name``, else after the folder).

    A root named ``name`` that points elsewhere is re-pointed when its old folder no longer exists (the data moved)
    and refused otherwise (two folders cannot share a name); an automatic name gets a number instead.
    """
    folder = _folder(folder)
    for attempt in range(3):
        try:
            return _root_for_once(engine, folder, name)
        except IntegrityError:  # another process created a root at the same moment (parallel ingest workers)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _root_for_once(engine: Engine, folder: str, name: str | None) -> str:
    with engine.begin() as conn:
        existing = conn.execute(select(SurveyRoot.name, SurveyRoot.path)).all()
        by_path = {p: n for n, p in existing}
        by_name = dict(existing)
        if name is None and folder in by_path:
            return by_path[folder]
        if name is not None:
            _check_name(name)
            if name in by_name:
                old = by_name[name]
                if old == folder:
                    return name
                if os.path.isdir(old):
                    raise InvalidInput(
                        f"survey root {name!r} already points to {old}, which still exists; give another root name "
                        f"or re-point it with 'lensdb db survey-root {name} {folder}'")
                log.warning("survey root %r re-pointed from %s (gone) to %s", name, old, folder)
                conn.execute(update(SurveyRoot).where(SurveyRoot.name == name)
                             .values(path=folder, updated_at=datetime.now(UTC)))
                return name
            chosen = name
        else:
            base = (os.path.basename(folder.rstrip(os.sep)) or "root")[:MAX_NAME - 4]
            chosen, k = base, 2
            while chosen in by_name:
                chosen, k = f"{base}-{k}", k + 1
        conn.execute(insert(SurveyRoot).values(name=chosen, path=folder, updated_at=datetime.now(UTC)))
        return chosen


def set_root(engine: Engine, name: str, folder: str | os.PathLike, *, create: bool = False) -> tuple[str | None, str]:
    """Point root ``name`` at ``folder`` (which must exist); returns (old folder or None, new folder).

    Raises:
        NotFound: no root of that name (and not ``create``).
        InvalidInput: the folder does not exist.
    """
    _check_name(name)
    new = _folder(folder)
    if not os.path.isdir(new):
        raise InvalidInput(f"{folder}: no such folder; give the folder the survey's shards now lie in")
    with engine.begin() as conn:
        old = conn.execute(select(SurveyRoot.path).where(SurveyRoot.name == name)).scalar()
        if old is None:
            if not create:
                known = [n for (n,) in conn.execute(select(SurveyRoot.name).order_by(SurveyRoot.name))]
                raise NotFound(f"no survey root named {name!r}; known: {', '.join(known) or 'none'} "
                               "('lensdb db survey-root' lists them; --create makes a new one)")
            conn.execute(insert(SurveyRoot).values(name=name, path=new, updated_at=datetime.now(UTC)))
        else:
            conn.execute(update(SurveyRoot).where(SurveyRoot.name == name)
                         .values(path=new, updated_at=datetime.now(UTC)))
    return old, new


def move_shard(engine: Engine, shard_id: int, root: str, relative: str) -> None:
    """Record shard ``shard_id`` at ``relative`` under root ``root``."""
    with engine.begin() as conn:
        conn.execute(update(Shard).where(Shard.id == shard_id).values(root=root, path=relative))
