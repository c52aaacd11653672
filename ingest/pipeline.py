"""Ingest survey shards into the catalogue: validate, fingerprint, then write each shard in one transaction.

Per shard, in this order:

1. Structure, from the HDF5 metadata (keys, shapes, dtypes, bands, cutout): instant.
2. Catalogue pass: each chunk of catalogue rows is value-checked and fed to the fingerprint; the object ids are
   kept (8 bytes a row) for the duplicate check. A shard of the same name already in the catalogue is *skipped*
   when its fingerprint matches and *rejected* (:class:`~lensdb.core.errors.Conflict`) when it does not.
3. Image pass: pixels checked finite, a bounded number of bytes at a time.
4. Write: one transaction inserts the ``shards`` row and streams the ``sources`` rows in with
   :func:`lensdb.catalog.bulk.copy_batches` (one COPY on PostgreSQL).

All checks run *before* the write transaction opens: a bad shard never touches the database, and the write
lock (SQLite) is held for the copy only, not for the long image scan. Object ids that collide with another
shard's fail on the primary key inside the transaction, which then rolls back whole. A killed process leaves an
open transaction that the database discards, so re-running the same command ingests exactly what is missing.

Programmatic use::

    from lensdb.ingest.pipeline import IngestConfig, ingest_paths
    report = ingest_paths(settings_or_engine_or_url, ["shards/"], config=IngestConfig(workers=4))
    assert report.ok, [o.message for o in report.rejected]
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import h5py
import numpy as np
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from lensdb.catalog import queries, roots
from lensdb.catalog.db import make_engine, require_current
from lensdb.catalog.jobs import job_scope, set_message
from lensdb.catalog.shards import write_shard
from lensdb.core.config import Settings
from lensdb.core.errors import Conflict, InvalidInput, LensDBError
from lensdb.core.ids import SURVEYS
from lensdb.ingest import checks, validate
from lensdb.ingest.reader import IMAGES, ShardReader, catalog_columns, find_shards, object_ids, open_shard

log = logging.getLogger(__name__)

FINGERPRINT_VERSION = b"lensdb-shard-fingerprint-v1"
#: Evenly spaced image rows hashed into the fingerprint: a few MB even for a 277 GB shard, yet a re-rendered or
#: re-cut shard changes them. Hashing every pixel would cost a full read of the file.
IMAGE_SAMPLES = 8


@dataclass(frozen=True)
class IngestConfig:
    """Tunables of ``lensdb ingest`` (section ``[ingest]`` of the config file).

    Attributes:
        chunk_rows: catalogue rows per read (memory: about 0.5 KB a row).
        image_chunk_mb: MiB of pixels read at a time by the image check.
        survey: survey (``south``/``north``) for rows whose release has no known survey, in shards without a
            ``survey`` column.
        workers: shards ingested at once, each in its own thread, connection and transaction (PostgreSQL
            only: SQLite has a single writer, so there shards go one by one).
        survey_root: the folder shard paths are recorded relative to (each shard must lie under it); ``None``:
            each shard's own folder. The root is a row of ``survey_roots``, re-pointed when the data moves.
        root_name: the name of that root (default: the folder's name).
    """

    chunk_rows: int = 100_000
    image_chunk_mb: float = 64.0
    survey: str | None = None
    workers: int = 1
    survey_root: str | None = None
    root_name: str | None = None

    def __post_init__(self):
        if self.chunk_rows < 1:
            raise InvalidInput(f"chunk_rows must be at least 1, got {self.chunk_rows}")
        if self.workers < 1:
            raise InvalidInput(f"workers must be at least 1, got {self.workers}")
        if self.image_chunk_mb <= 0:
            raise InvalidInput(f"image_chunk_mb must be positive, got {self.image_chunk_mb}")
        if self.survey is not None and self.survey not in SURVEYS:
            raise InvalidInput(f"survey {self.survey!r} is not one of {', '.join(SURVEYS)}")


Status = Literal["ingested", "skipped", "rejected"]


@dataclass(frozen=True)
class ShardOutcome:
    """What happened to one shard.

    Attributes:
        path: the shard file.
        status: ``ingested``, ``skipped`` (already ingested, same content) or ``rejected``.
        rows: rows written (ingested) or already in the catalogue (skipped).
        message: why it was skipped or rejected (names the file, the key and the problem).
        shard_id: the ``shards.id`` of the ingested or already present shard.
        fingerprint: sha256 of the shard's content (see :func:`ingest_shard`).
        seconds: wall time spent on the shard.
        error: the :class:`~lensdb.core.errors.LensDBError` of a rejected shard.
    """

    path: Path
    status: Status
    rows: int = 0
    message: str = ""
    shard_id: int | None = None
    fingerprint: str | None = None
    seconds: float = 0.0
    error: LensDBError | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class IngestReport:
    """The outcome of each shard of one ingest run, in processing order, and the run's job id."""

    outcomes: list[ShardOutcome] = field(default_factory=list)
    job_id: int | None = None
    seconds: float = 0.0

    def _with(self, status: Status) -> list[ShardOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def ingested(self) -> list[ShardOutcome]:
        return self._with("ingested")

    @property
    def skipped(self) -> list[ShardOutcome]:
        return self._with("skipped")

    @property
    def rejected(self) -> list[ShardOutcome]:
        return self._with("rejected")

    @property
    def rows_written(self) -> int:
        return sum(o.rows for o in self.ingested)

    @property
    def ok(self) -> bool:
        """True when no shard was rejected."""
        return not self.rejected

    def summary(self) -> str:
        rate = self.rows_written / self.seconds if self.seconds > 0 else 0.0
        return (f"{len(self.ingested)} shard(s) ingested ({self.rows_written:,} rows), "
                f"{len(self.skipped)} skipped, {len(self.rejected)} rejected in {self.seconds:.1f} s "
                f"({rate:,.0f} rows/s overall)")


class Progress:
    """Progress callbacks, per shard name; these defaults do nothing. Row counts are increments. With
    ``workers`` > 1 they come from several threads."""

    def shard_started(self, name: str, n_rows: int) -> None: ...
    def rows_checked(self, name: str, n: int) -> None: ...
    def rows_written(self, name: str, n: int) -> None: ...
    def shard_finished(self, outcome: ShardOutcome) -> None: ...


def ingest_paths(target: Engine | Settings | str, paths: Iterable[str | os.PathLike], *,
                 config: IngestConfig | None = None, progress: Progress | None = None) -> IngestReport:
    """Ingest shard files and folders of shards, one transaction per shard, recorded as one ``ingest`` job.

    Args:
        target: an engine, the settings (their ``database_url``) or a database URL, at the current schema.
        paths: shard files, or folders whose ``*.h5`` files are ingested in name order.
        config: chunk sizes, survey fallback, parallel shards (default: :class:`IngestConfig`).
        progress: progress callbacks.

    Returns:
        The outcome of every shard. A rejected shard does not stop the run: check ``report.ok``.

    Raises:
        InvalidInput: no shard among ``paths``.
        catalog.db.SchemaOutOfDate: the schema is not current (run ``lensdb db upgrade``).
    """
    config = config or IngestConfig()
    if isinstance(target, Settings) and config.survey_root is None and target.survey_root is not None:
        config = dataclasses.replace(config, survey_root=str(target.survey_root))
    progress = progress or Progress()
    shard_paths = find_shards(paths)
    if not shard_paths:
        raise InvalidInput("no shards to ingest: give .h5 files or folders that hold some")
    if isinstance(target, Engine):
        engine = target
    else:
        engine = make_engine(target.database_url if isinstance(target, Settings) else target)
    started = time.perf_counter()
    try:
        require_current(engine)
        report = IngestReport()
        params = {"paths": [str(p) for p in shard_paths], **dataclasses.asdict(config)}
        workers = config.workers if engine.dialect.name == "postgresql" else 1
        with job_scope(engine, "ingest", params) as job_id:
            report.job_id = job_id

            def one(path: Path) -> ShardOutcome:
                outcome = ingest_shard(engine, path, config=config, job_id=job_id, progress=progress)
                progress.shard_finished(outcome)
                return outcome

            if workers == 1:
                report.outcomes = [one(path) for path in shard_paths]
            else:
                # Threads suffice: the write's cost is in the database's own processes, and numpy's pixel
                # checks release the GIL. Outcomes keep the order of the paths.
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
                    try:
                        report.outcomes = list(pool.map(one, shard_paths))
                    except BaseException:
                        pool.shutdown(wait=True, cancel_futures=True)
                        raise
        report.seconds = time.perf_counter() - started
        set_message(engine, job_id, report.summary())  # job_scope leaves no message on success: keep the summary
        return report
    finally:
        if engine is not target:
            engine.dispose()


def ingest_shard(engine: Engine, source: str | os.PathLike | h5py.File, *, config: IngestConfig | None = None,
                 job_id: int | None = None, progress: Progress | None = None) -> ShardOutcome:
    """Validate and ingest one shard, given as a path or an open h5py file.

    The fingerprint is a sha256 over the file size, the image shape and dtype, every catalogue column LensDB
    reads and :data:`IMAGE_SAMPLES` image rows. Invalid input does not raise: it comes back as a ``rejected``
    outcome carrying the error. Database failures other than constraint violations do raise.
    """
    config = config or IngestConfig()
    progress = progress or Progress()
    started = time.perf_counter()
    path = Path(source.filename if isinstance(source, h5py.File) else source)
    try:
        with open_shard(source) as reader:
            outcome = _ingest(engine, reader, config, job_id, progress)
    except LensDBError as exc:
        log.warning("rejected %s", exc)
        outcome = ShardOutcome(path, "rejected", message=str(exc), error=exc)
    return dataclasses.replace(outcome, seconds=time.perf_counter() - started)


def _ingest(engine: Engine, reader: ShardReader, config: IngestConfig, job_id: int | None,
            progress: Progress) -> ShardOutcome:
    layout = validate.check_structure(reader)
    progress.shard_started(reader.name, layout.n_rows)
    fingerprint, ids = _catalogue_pass(reader, layout, config)

    known = queries.shard_named(engine, reader.name)
    if known is not None:
        if known.fingerprint == fingerprint:
            moved = _repoint(engine, known, reader.path, config)
            return ShardOutcome(reader.path, "skipped", known.n_rows, "already ingested (same content)" + moved,
                                known.id, fingerprint)
        raise Conflict(
            f"{reader.path}: another shard named {reader.name!r} was ingested before (from {known.path}; "
            f"fingerprint {known.fingerprint[:12]}, this file {fingerprint[:12]}): shards must not change "
            "after ingest and their names must be unique; give the new file a new name, or delete the old "
            "shard's rows first")

    validate.check_unique_ids(reader.path, ids)
    digest = hashlib.sha256()
    for start, images in reader.iter_images(int(config.image_chunk_mb * (1 << 20))):
        checks.check_images(reader.path, images, start)
        digest.update(np.ascontiguousarray(images).tobytes())
        progress.rows_checked(reader.name, len(images))

    try:
        shard_id = _write(engine, reader, layout, fingerprint, job_id, config, progress, digest.hexdigest())
    except IntegrityError as exc:
        raise _explain_integrity_error(engine, reader, ids, fingerprint, exc) from None
    log.info("ingested %s: %d rows (shard id %d)", reader.path, layout.n_rows, shard_id)
    return ShardOutcome(reader.path, "ingested", layout.n_rows, "", shard_id, fingerprint)


def shard_fingerprint(reader: ShardReader, layout: validate.Layout | None = None,
                      config: IngestConfig | None = None) -> str:
    """The fingerprint ingest records for a shard (see :func:`ingest_shard`): other commands compare it with the
    catalogue's to tell the shard that was ingested from another file of the same name."""
    return _catalogue_pass(reader, layout or validate.check_structure(reader), config or IngestConfig())[0]


def images_sha256(reader: ShardReader, chunk_mb: float = 64.0) -> str:
    """The sha256 of every image row as stored, as ingest records it (``shards.images_sha256``): a full read."""
    digest = hashlib.sha256()
    for _, images in reader.iter_images(int(chunk_mb * (1 << 20))):
        digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()


def _catalogue_pass(reader: ShardReader, layout: validate.Layout, config: IngestConfig):
    """Value-check and hash every catalogue chunk; returns (fingerprint, object ids)."""
    digest = hashlib.sha256(FINGERPRINT_VERSION)
    images = reader.dataset(IMAGES)
    digest.update(f"size={reader.file_size};images={images.shape}/{images.dtype.str};".encode())
    ids = np.empty(layout.n_rows, dtype=np.int64)
    for start, raw in reader.iter_columns(layout.read_keys, config.chunk_rows, layout.n_rows):
        validate.check_chunk(reader.path, raw, start, config.survey)
        ids[start:start + len(raw["release"])] = object_ids(raw)
        for key in layout.read_keys:
            values = raw[key]
            digest.update(key.encode())
            digest.update(repr(values.tolist()).encode() if values.dtype.kind == "O"
                          else np.ascontiguousarray(values).tobytes())
    for row in sorted({int(r) for r in np.linspace(0, layout.n_rows - 1, IMAGE_SAMPLES)}):
        digest.update(np.ascontiguousarray(reader.read(IMAGES, row, row + 1)).tobytes())
    return digest.hexdigest(), ids


def _write(engine: Engine, reader: ShardReader, layout: validate.Layout, fingerprint: str,
           job_id: int | None, config: IngestConfig, progress: Progress, images_sha256: str | None = None) -> int:
    """Insert the shard row and its sources in one transaction; returns the shard id."""
    folder, relative = _root_folder(reader.path, config)
    root = roots.root_for(engine, folder, config.root_name)
    shard = dict(name=reader.name, root=root, path=relative, fingerprint=fingerprint, n_rows=layout.n_rows,
                 cutout=layout.cutout, image_dtype=layout.image_dtype, job_id=job_id, images_sha256=images_sha256)
    return write_shard(engine, shard, _source_batches(reader, layout, config, progress))


def _root_folder(path: Path, config: IngestConfig) -> tuple[Path, str]:
    """(root folder, the shard's path relative to it) for a shard file at ``path``."""
    resolved = path.resolve()
    if config.survey_root is None:
        return resolved.parent, resolved.name
    root = Path(config.survey_root).expanduser().resolve()
    try:
        return root, resolved.relative_to(root).as_posix()
    except ValueError:
        raise InvalidInput(f"{path}: the shard is not under the survey root {root}; ingest shards from inside it, "
                           "or give another --survey-root") from None


def _repoint(engine: Engine, known: queries.ShardRow, path: Path, config: IngestConfig) -> str:
    """Record an already ingested shard found at a new place there; returns what was done, for the message.

    When its survey root's folder is gone and the shard lies at the same place under a new folder, the whole root
    moves (every shard of a moved folder at once); otherwise only this shard is re-pointed.
    """
    here = path.resolve()
    old = Path(known.path)
    if old.exists() and old.resolve() == here:
        return ""
    if known.root is not None and not Path(known.path).exists():
        old_root = Path(known.path[: len(known.path) - len(known.stored_path)])
        parts = Path(known.stored_path).parts
        if not old_root.exists() and here.parts[-len(parts):] == parts:
            new_root = Path(*here.parts[: len(here.parts) - len(parts)])
            if config.survey_root is None or Path(config.survey_root).expanduser().resolve() == new_root:
                roots.set_root(engine, known.root, new_root)
                log.warning("survey root %r re-pointed from %s (gone) to %s", known.root, old_root, new_root)
                return f"; survey root {known.root!r} re-pointed from {old_root} to {new_root}"
    folder, relative = _root_folder(path, config)
    root = roots.root_for(engine, folder, config.root_name)
    roots.move_shard(engine, known.id, root, relative)
    log.warning("shard %s re-pointed from %s to %s", known.name, known.path, here)
    return f"; re-pointed from {known.path} to {here}"


def _source_batches(reader: ShardReader, layout: validate.Layout, config: IngestConfig,
                    progress: Progress) -> Iterator[dict[str, np.ndarray]]:
    """The ``sources`` columns chunk by chunk, read lazily while the database stores the previous chunk."""
    for start, raw in reader.iter_columns(layout.read_keys, config.chunk_rows, layout.n_rows):
        survey = validate.resolve_survey(reader.path, raw, start, config.survey)
        cols = catalog_columns(raw, survey)
        n = len(cols["object_id"])
        cols["row"] = np.arange(start, start + n, dtype=np.int64)
        yield cols
        progress.rows_written(reader.name, n)  # inside the open write transaction


def _explain_integrity_error(engine: Engine, reader: ShardReader, ids: np.ndarray, fingerprint: str,
                             exc: IntegrityError) -> LensDBError:
    """A message for a constraint violation during the write (whose transaction has rolled back)."""
    other = queries.shard_named(engine, reader.name)
    if other is not None:  # another process ingested a shard of this name in the meantime
        same = "" if other.fingerprint == fingerprint else " with different content"
        return Conflict(f"{reader.path}: another run ingested shard {reader.name!r}{same} at the same "
                        "time; run the ingest again to see its state")
    clashes = queries.id_owners(engine, ids)
    if not clashes:
        return InvalidInput(f"{reader.path}: the database refused the rows ({exc.orig}); nothing was written")
    oid = clashes[0][0]
    return checks.problem(
        reader.path, "release/brickid/objid",
        f"{len(clashes)} object id(s) were already ingested from shard(s) "
        f"{', '.join(sorted({name for _, name in clashes}))} (e.g. object_id {oid} at row "
        f"{int(np.flatnonzero(ids == oid)[0])}); nothing of this shard was written",
        "drop the overlapping rows from this shard, or delete the other shard's rows first")
