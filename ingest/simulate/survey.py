"""Simulate a survey into a folder: shards in the released format, ``truth.csv`` and a ``survey.json`` manifest.

Determinism: object ``i`` is drawn from ``default_rng([seed, 1, i])`` and its pixel noise from
``default_rng([seed, 2, i])``, so it is the same whatever the shard size or number of workers. Identity comes from a
plan of bricks: objects ``64 k ... 64 k + 63`` share a south brick and a north brick (drawn from
``default_rng([seed, 0, k])``); ``objid = slot * 64 + i % 64``, where ``slot`` counts earlier blocks that drew the same
brick, so (release, brickid, objid) is unique. Within a shard rows are sorted by decreasing z-band flux, as in the
released shards.

Resuming: a shard whose file exists is not rendered again (``write_shard`` renames a finished temporary file into
place, so an existing shard is complete); re-running with the same settings gives identical files, and running into a
folder made with different settings is refused.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from lensdb.core.errors import Conflict
from lensdb.ingest.schema import shard_name, write_shard
from lensdb.ingest.simulate.catalog import catalogue_columns, truth_rows, write_lens_list, write_truth
from lensdb.ingest.simulate.config import SimulateConfig
from lensdb.ingest.simulate.objects import ObjectSpec, draw_object
from lensdb.ingest.simulate.scene import render
from lensdb.ingest.simulate.sky import brick_id, draw_in_brick, draw_position

log = logging.getLogger(__name__)

SIMULATOR_VERSION = "1.0"
BLOCK = 64
MANIFEST = "survey.json"
TRUTH = "truth.csv"
#: The simulated survey's own known-lens list (name, ra, dec of its lenses), for 'lensdb labels import'.
LENS_LIST = "lenses.csv"
_CHUNK = 32  # objects per task sent to a worker


@dataclass(frozen=True)
class BrickPlan:
    """Per block of :data:`BLOCK` objects: brick ids and slots, index 0 = south, 1 = north; shape (n_blocks, 2)."""

    brickid: np.ndarray
    slot: np.ndarray

    def ids(self, index: int, survey: str) -> tuple[int, int]:
        """(brickid, objid) of object ``index`` in ``survey``."""
        b, s = index // BLOCK, int(survey == "north")
        return int(self.brickid[b, s]), int(self.slot[b, s]) * BLOCK + index % BLOCK


def plan_bricks(n_objects: int, seed: int) -> BrickPlan:
    """The brick plan of a survey of ``n_objects`` (a prefix of the plan of any larger survey with the same seed)."""
    n_blocks = -(-n_objects // BLOCK)
    bricks = np.empty((n_blocks, 2), dtype=np.int64)
    for b in range(n_blocks):
        rng = np.random.default_rng([seed, 0, b])
        for s, survey in enumerate(("south", "north")):
            bricks[b, s] = int(brick_id(*draw_position(rng, survey)))
    slots = np.empty_like(bricks)
    seen: Counter = Counter()
    for b in range(n_blocks):
        for s in range(2):
            slots[b, s] = seen[int(bricks[b, s])]
            seen[int(bricks[b, s])] += 1
    return BrickPlan(bricks, slots)


def draw_survey_object(config: SimulateConfig, plan: BrickPlan, index: int) -> ObjectSpec:
    """Object ``index`` of the survey (placed inside its planned brick)."""
    rng = np.random.default_rng([config.seed, 1, index])
    return draw_object(
        rng, lens_rate=config.lens_rate, lookalike_rate=config.lookalike_rate,
        north_fraction=config.north_fraction, mag_range=(config.mag_z_min, config.mag_z_max),
        place=lambda r, survey: draw_in_brick(r, plan.ids(index, survey)[0], survey),
    )


def render_survey_object(config: SimulateConfig, spec: ObjectSpec, index: int) -> np.ndarray:
    """The stored image of object ``index``: rendered with its own noise stream, cast to the storage dtype."""
    noise_rng = np.random.default_rng([config.seed, 2, index])
    return render(spec, config.cutout, noise_rng).astype(config.dtype, copy=False)


def simulate_arrays(config: SimulateConfig, start: int = 0, stop: int | None = None
                    ) -> tuple[np.ndarray, dict[str, np.ndarray], list[dict]]:
    """Objects ``start .. stop-1`` of the survey ``config`` describes, in memory, in index order (not flux order).

    The same objects (pixels, ids, columns) that :func:`simulate_survey` writes, for tests and notebooks that want
    arrays rather than files.

    Returns:
        (images (N, 3, S, S) of ``config.dtype``, catalogue columns as in a shard, truth rows as in truth.csv).
    """
    stop = config.n_objects if stop is None else stop
    plan = plan_bricks(stop, config.seed)
    specs, images = _make_objects(config, plan, list(range(start, stop)))
    ids = [plan.ids(i, spec.survey) for i, spec in zip(range(start, stop), specs, strict=True)]
    brickids, objids = [b for b, _ in ids], [o for _, o in ids]
    columns = catalogue_columns(specs, brickids, objids, inds=np.arange(start, stop))
    return np.stack(images), columns, truth_rows(specs, brickids, objids)


def _make_objects(config: SimulateConfig, plan: BrickPlan, indices: list[int], images: bool = True):
    specs = [draw_survey_object(config, plan, i) for i in indices]
    pixels = [render_survey_object(config, s, i) for s, i in zip(specs, indices, strict=True)] if images else None
    return specs, pixels


@dataclass(frozen=True)
class SurveyResult:
    """What :func:`simulate_survey` produced."""

    out_dir: Path
    shards: list[Path]
    truth: Path
    manifest: Path
    counts: dict[str, int]
    rendered: int  # objects rendered in this run (0 when everything was already there)


def simulate_survey(config: SimulateConfig, out_dir: str | Path | None = None, *,
                    progress: bool = False) -> SurveyResult:
    """Simulate ``config.n_objects`` objects into ``out_dir`` (default ``config.out_dir``).

    Writes ``images_npix{S}_{start:09d}_{end:09d}.h5`` shards, ``truth.csv`` (one row per object, shard order),
    ``lenses.csv`` (the survey's own known-lens list: name, ra, dec of its lenses) and ``survey.json``.
    Finished shards are skipped, so an interrupted run resumes where it stopped.

    Raises:
        Conflict: the folder holds a survey made with different settings.
    """
    out = Path(out_dir or config.out_dir or "survey")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    _check_manifest(manifest_path, config)
    manifest = {"format": "lensdb-simulated-survey", "simulator_version": SIMULATOR_VERSION,
                "config": _jsonable(config.survey_fields()), "complete": False}
    _write_json(manifest_path, manifest)

    plan = plan_bricks(config.n_objects, config.seed)
    bounds = [(s, min(s + config.shard_size, config.n_objects)) for s in range(0, config.n_objects, config.shard_size)]
    truth: list[dict] = []
    shards: list[Path] = []
    rendered = 0
    bar = _progress_bar(config.n_objects, progress)
    pool = (ProcessPoolExecutor(config.workers, mp_context=get_context("spawn"))
            if config.workers > 1 else None)
    try:
        for start, end in bounds:
            path = out / shard_name(start, end, config.cutout)
            todo = not path.exists()
            specs, images = _shard_objects(config, plan, start, end, todo, pool, bar)
            order = sorted(range(end - start), key=lambda k: (-float(specs[k].flux[2]), k))
            specs = [specs[k] for k in order]
            ids = [plan.ids(start + k, specs[j].survey) for j, k in enumerate(order)]
            brickids, objids = [b for b, _ in ids], [o for _, o in ids]
            if todo:
                stack = np.stack([images[k] for k in order])
                cols = catalogue_columns(specs, brickids, objids, inds=np.arange(start, end))
                write_shard(path, stack, cols, compression=None if config.compression == "none" else config.compression)
                rendered += end - start
                log.debug("wrote %s", path.name)
            else:
                log.info("%s exists, skipped", path.name)
            truth.extend(truth_rows(specs, brickids, objids))
            shards.append(path)
    finally:
        if pool is not None:
            pool.shutdown()
        if bar is not None:
            bar.close()

    truth_path = write_truth(out / TRUTH, truth)
    write_lens_list(out / LENS_LIST, truth)
    counts = dict(sorted(Counter(r["class"] for r in truth).items()))
    manifest.update(complete=True, n_objects=config.n_objects, counts=counts,
                    surveys=dict(sorted(Counter(r["survey"] for r in truth).items())),
                    shards=[{"file": p.name, "start": s, "end": e} for p, (s, e) in zip(shards, bounds, strict=True)],
                    truth=TRUTH, lens_list=LENS_LIST)
    _write_json(manifest_path, manifest)
    log.info("survey of %d objects in %s (%d rendered now): %s", config.n_objects, out, rendered, counts)
    return SurveyResult(out, shards, truth_path, manifest_path, counts, rendered)


def _shard_objects(config, plan, start, end, images, pool, bar):
    """Draw (and render when ``images``) objects start..end-1, in index order, in chunks for the progress bar."""
    indices = list(range(start, end))
    chunks = [indices[i:i + _CHUNK] for i in range(0, len(indices), _CHUNK)]
    work = partial(_make_objects, config, plan, images=images)
    specs, pixels = [], []
    for s, p in (pool.map(work, chunks) if pool is not None else map(work, chunks)):
        specs.extend(s)
        pixels.extend(p or [])
        if bar is not None:
            bar.update(len(s))
    return specs, (pixels if images else None)


def _check_manifest(path: Path, config: SimulateConfig) -> None:
    if not path.exists():
        return
    old = json.loads(path.read_text()).get("config", {})
    new = _jsonable(config.survey_fields())
    differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if differ:
        raise Conflict(f"{path.parent} holds a survey made with different settings ({', '.join(differ)} differ); "
                       "use another output folder or delete this one")


def _jsonable(values: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="simulate", dynamic_ncols=True)
