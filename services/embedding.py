"""The embedding job: survey shards -> L2-normalised 2048-d vectors + norm + catalogue metadata in the vector store.

    report = embed_shards(settings, ["/data/shards/south"], "lensdb-data/encoder/checkpoint.pt")

Per shard: the structure and every catalogue chunk are checked with :mod:`lensdb.ingest.validate` (a bad shard stops
the job with the message naming file, key and problem), object ids must be unique in the shard, then the next chunk
of images and catalogue rows is read from HDF5 while the model runs on the current one
(:func:`lensdb.encoder.batch.encoded_chunks`). Each chunk is *upserted* into the collection of the checkpoint's
encoder version, so a shard interrupted half-way is simply redone without duplicates; once all its vectors are
written, a small JSON marker ``<data_dir>/embed/<version>/done/<shard>.json`` is written atomically and a
later run skips the shard while the file (size, mtime) and the Milvus URI are unchanged, wherever the file now
lies. One marker per shard, so the indexed Jobs of ``--shard i/n`` never write the same file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lensdb.catalog import queries
from lensdb.catalog.db import SchemaOutOfDate, domain_error, make_engine, require_current
from lensdb.catalog.jobs import job_scope
from lensdb.core.errors import InvalidInput
from lensdb.core.partition import select_partition
from lensdb.encoder.batch import READ_BYTES, BatchEncoder, encoded_chunks, normalise, resolve_device, resolve_precision
from lensdb.encoder.inference import Embedder
from lensdb.ingest import checks, validate
from lensdb.ingest.reader import IMAGES, find_shards, object_ids, open_shard
from lensdb.vectordb.naming import folder_name
from lensdb.vectordb.store import VectorStore

log = logging.getLogger("lensdb.embed")

CHECKPOINT_DEFAULT = ("encoder", "checkpoint.pt")


def _stat(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


class DoneMarkers:
    """``<data_dir>/embed/<version folder>/done/<shard name>.json``, one per shard.

    Keyed by the shard's name (unique in a catalogue), not its folder: a data folder that moved keeps its shards done
    while their size and modification time are unchanged (``mv``, ``rsync -a`` and ``cp -p`` keep both).
    """

    def __init__(self, folder: Path, milvus_uri: str, version: str):
        self.folder, self.milvus_uri, self.version = folder, milvus_uri, version

    def path(self, shard: Path) -> Path:
        return self.folder / f"{shard.name}.json"

    def is_done(self, shard: Path) -> bool:
        try:
            marker = json.loads(self.path(shard).read_text())
        except (OSError, ValueError):
            return False
        return (marker.get("milvus_uri") == self.milvus_uri and marker.get("encoder_version") == self.version
                and all(marker.get(k) == v for k, v in _stat(shard).items()))

    def mark(self, shard: Path, rows: int, seconds: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(shard)
        tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"shard": str(shard.resolve()), "rows": rows, **_stat(shard),
                                   "encoder_version": self.version, "milvus_uri": self.milvus_uri,
                                   "seconds": round(seconds, 3), "finished": time.time()}, indent=1))
        tmp.replace(target)



@dataclass
class ShardResult:
    path: Path
    status: str  # "embedded" or "skipped"
    rows: int = 0
    seconds: float = 0.0


@dataclass
class EmbedReport:
    encoder_version: str
    collection: str
    device: str
    precision: str
    shards: list[ShardResult] = field(default_factory=list)

    @property
    def embedded(self) -> list[ShardResult]:
        return [s for s in self.shards if s.status == "embedded"]

    @property
    def skipped(self) -> list[ShardResult]:
        return [s for s in self.shards if s.status == "skipped"]

    @property
    def images(self) -> int:
        return sum(s.rows for s in self.embedded)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.embedded)

    def summary(self) -> str:
        rate = self.images / self.seconds if self.seconds else 0.0
        return (f"{len(self.embedded)} shard(s) embedded ({self.images:,} vectors, {rate:,.0f} images/s), "
                f"{len(self.skipped)} skipped as done; encoder {self.encoder_version} -> collection "
                f"{self.collection} on {self.device} ({self.precision})")


#: ``progress(event, shard_name, n)``: event is "start" (n = rows) or "rows" (n = rows just written).
ProgressFn = Callable[[str, str, int], None]


def embed_shards(settings, shards: Iterable[str | os.PathLike], checkpoint: str | os.PathLike | None = None, *,
                 batch_size: int = 256, device: str | None = "auto", precision: str | None = "auto",
                 partition: tuple[int, int] | str | None = None, chunk_rows: int | None = None,
                 survey: str | None = None, progress: ProgressFn | None = None, vectordb_config=None,
                 read_workers: int = 0, orientations: int | None = None) -> EmbedReport:
    """Embed ``shards`` (files or folders) with ``checkpoint`` into the collection of its encoder version.

    Args:
        settings: LensDB settings (data folder, Milvus URI and token, ``[vectordb]``).
        shards: files or folders of ``*.h5``; folders expand sorted; ``partition`` ``(i, n)``/``"i/n"`` keeps every
            n-th of the sorted list from i.
        checkpoint: encoder checkpoint (default ``<data_dir>/encoder/checkpoint.pt``).
        batch_size: images per forward pass. chunk_rows: images per HDF5 read (default: 64 MiB of pixels, at least
            one batch). survey: survey of rows whose release has none (as ``lensdb ingest --survey``).
        progress: optional callback (see :data:`ProgressFn`).
        read_workers: processes reading the shards (0: one reader thread); see :func:`encoded_chunks`.
        orientations: 1 or 8 (each vector the mean over the object's 8 orientations, :mod:`lensdb.encoder.orientation`);
            None = the checkpoint's setting. Another setting is another encoder version, hence another collection.

    Raises:
        InvalidInput: a bad shard (message naming file, key, problem) or a cutout smaller than the encoder's crop.
        NotFound / InvalidInput: a missing or damaged checkpoint.
        Conflict: the collection of this version's name records another encoder version, or another dimension.
    """
    if read_workers < 0:
        raise InvalidInput(f"read_workers must be 0 (one reader thread) or more processes, got {read_workers}")
    paths = select_partition(find_shards(shards, must_exist=True), partition)
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    if orientations not in (None, 1, 8):
        raise InvalidInput(f"orientations must be 1 (no averaging) or 8 (rotations by 90 degrees x flips), got "
                           f"{orientations!r}")
    embedder = Embedder.from_checkpoint(checkpoint or settings.path(*CHECKPOINT_DEFAULT), device=dev,
                                        orientations=orientations)
    encode = BatchEncoder(embedder, prec, batch_size)
    markers = DoneMarkers(settings.path("embed", folder_name(embedder.version), "done"), settings.milvus_uri,
                          embedder.version)
    catalogue = _catalogue(settings)
    with contextlib.ExitStack() as stack:
        if catalogue is not None:
            stack.callback(catalogue.dispose)
            stack.enter_context(job_scope(catalogue, "embed", {
                "shards": [str(p) for p in paths], "encoder_version": embedder.version, "device": str(dev),
                "precision": prec, "partition": partition}))
        store = stack.enter_context(VectorStore.open(settings, embedder.version, dim=embedder.dim, create=True,
                                                     config=vectordb_config))
        report = EmbedReport(embedder.version, store.name, str(dev), prec)
        log.info("embedding %d shard(s) with encoder %s into %s", len(paths), embedder.version, store.name)
        for path in paths:
            if markers.is_done(path):
                log.info("skipping %s: already embedded with this encoder", path)
                report.shards.append(ShardResult(path, "skipped"))
                continue
            t0 = time.perf_counter()
            rows = _embed_one(path, store, encode, batch_size, chunk_rows, survey, progress, read_workers, catalogue)
            seconds = time.perf_counter() - t0
            markers.mark(path, rows, seconds)
            report.shards.append(ShardResult(path, "embedded", rows, seconds))
            log.info("embedded %s: %d vectors in %.1f s", path, rows, seconds)
        if report.embedded:
            # Sealed segments search fast; unflushed rows are searched from the growing buffer (Lite: seconds).
            store.flush()
    return report


def check_against_catalogue(engine, path: Path, shard: str, ids: np.ndarray) -> None:
    """Refuse a shard whose objects the catalogue records elsewhere (another shard, or another row of this one):
    embedding it would overwrite the vectors of those objects with other images.

    Objects the catalogue does not know are let through with a warning (vectors may come before the ingest, but the
    probes can only score objects that are in the catalogue).
    """
    known = queries.image_locations(engine, ids)
    row_of = {int(i): k for k, i in enumerate(ids.tolist())}
    wrong = [(i, loc) for i, loc in known.items() if loc.shard != shard or loc.row != row_of[i]]
    if wrong:
        oid, loc = wrong[0]
        raise checks.problem(
            path, "release/brickid/objid",
            f"{len(wrong)} object id(s) belong elsewhere in the catalogue (e.g. object_id {oid} at row {row_of[oid]} "
            f"here is row {loc.row} of shard {loc.shard}); embedding would overwrite their vectors",
            "embed the shard the catalogue ingested, or fix the ids and ingest this shard first")
    if len(known) < len(ids):
        log.warning("%s: %d of %d objects are not in the catalogue: ingest the shard too, or probes cannot score them",
                    path, len(ids) - len(known), len(ids))


def check_same_shard(engine, reader, layout, survey: str | None = None) -> None:
    """Refuse a file that bears the name of an ingested shard but is not that shard (other pixels, other rows,
    another size): its fingerprint (file size, catalogue columns and sampled image rows, as ingest computes it)
    must be the one the catalogue recorded. Embedding it would replace the ingested objects' vectors with the
    vectors of other pixels."""
    from lensdb.ingest.pipeline import IngestConfig, shard_fingerprint

    known = queries.shard_named(engine, reader.name)
    if known is None:
        return
    config = IngestConfig(survey=survey) if survey else IngestConfig()
    found = shard_fingerprint(reader, layout, config)
    if found != known.fingerprint:
        raise checks.problem(
            reader.path, IMAGES,
            f"this file is not the shard {reader.name!r} the catalogue ingested (fingerprint {found[:12]}, the "
            f"catalogue's {known.fingerprint[:12]}: other pixels, rows or size under the same name); embedding it "
            "would overwrite the ingested objects' vectors with other images",
            "embed the file that was ingested (see 'lensdb db shards'), or ingest this one under a new name")


def _catalogue(settings):
    """The catalogue's engine when it has its schema, else ``None`` (with a warning saying what is not checked)."""
    engine = make_engine(settings.database_url)
    try:
        require_current(engine)
    except SchemaOutOfDate as exc:
        engine.dispose()
        log.warning("object ids are not checked against the catalogue: %s", exc)
        return None
    except Exception as exc:  # unreachable: the settings name a catalogue, so say so rather than skip the check
        engine.dispose()
        raise (domain_error(exc) or exc) from exc
    return engine


def _embed_one(path: Path, store, encode: BatchEncoder, batch_size: int, chunk_rows: int | None,
               survey: str | None, progress: ProgressFn | None, read_workers: int = 0, catalogue=None) -> int:
    with open_shard(path) as reader:
        layout = validate.check_structure(reader)
        crop = encode.embedder.crop
        if layout.cutout < crop:
            raise checks.problem(path, IMAGES, f"cutouts of {layout.cutout} pixels are smaller than the "
                                   f"encoder's {crop}-pixel crop", "cut larger stamps or use another encoder")
        ids = object_ids({k: reader.read(k, 0, layout.n_rows) for k in ("release", "brickid", "objid")}, path)
        validate.check_unique_ids(path, ids)
        if catalogue is not None:
            check_against_catalogue(catalogue, path, reader.name, ids)
            check_same_shard(catalogue, reader, layout, survey)
        rows = chunk_rows or max(batch_size, reader.image_rows_per_read(READ_BYTES))
        if progress:
            progress("start", reader.name, layout.n_rows)
        # One Strong read for the whole shard (a first run: one count of its id range), not one per chunk: only this
        # job writes the shard's objects, so what was stored before it is all a chunk needs to know to replace
        # exactly its own rows (a re-run after a kill) or to insert them (a first run).
        before = store.stored(ids)
        written = 0
        for chunk, raw in encoded_chunks(reader, encode, rows, layout.read_keys, survey, read_workers):
            unit, norm = normalise(raw)
            cols = chunk.columns
            n = len(unit)
            store.upsert({
                "object_id": cols["object_id"], "vector": unit, "norm": norm, "survey": cols["survey"],
                "mag_g": cols["mag_g"], "mag_r": cols["mag_r"], "mag_z": cols["mag_z"],
                "ra": cols["ra"], "dec": cols["dec"], "source_type": cols["source_type"],
                "shard": np.full(n, reader.name, dtype=object),
                "shard_row": np.arange(chunk.start, chunk.start + n, dtype=np.int64),
            }, same_source=True, stored=before)
            written += n
            if progress:
                progress("rows", reader.name, n)
        return written

