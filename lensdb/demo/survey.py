"""Demo steps 1-3: simulate a survey, ingest it into the catalogue, import part of its lenses as "known" lenses."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import numpy as np

from lensdb.core.config import Settings
from lensdb.core.errors import Conflict, InvalidInput
from lensdb.demo.plan import DemoPlan

KNOWN_SET = "demo-known-lenses"
#: What ``lensdb simulate`` writes into a survey folder (shards, their temporary files, the truth and manifest).
SIMULATED = re.compile(r"images_npix\d+_\d+_\d+\.h5(\.tmp)?|truth\.csv(\.tmp)?|survey\.json(\.tmp)?")


def simulate(plan: DemoPlan, out_dir: Path) -> dict:
    """Simulate the survey into ``out_dir`` (shards, truth.csv, survey.json); a partial folder is started over."""
    from lensdb.ingest.simulate import SimulateConfig, simulate_survey

    if out_dir.exists():  # a run killed mid-way: the step was not recorded, so nothing downstream used it
        foreign = [p.name for p in out_dir.iterdir() if not SIMULATED.fullmatch(p.name)]
        if foreign:
            raise Conflict(f"{out_dir} holds files the demo did not write ({', '.join(sorted(foreign)[:3])}); "
                           "use another --data-dir for the demo")
        shutil.rmtree(out_dir)
    config = SimulateConfig(n_objects=plan.n_objects, shard_size=plan.shard_size, cutout=plan.cutout,
                            dtype="float16", lens_rate=plan.lens_rate, seed=plan.seed, out_dir=out_dir)
    result = simulate_survey(config, out_dir, progress=True)
    return {"objects": plan.n_objects, "shards": len(result.shards), "classes": dict(result.counts),
            "megabytes": round(sum(p.stat().st_size for p in out_dir.iterdir()) / 2**20, 1)}


def ingest(settings: Settings, survey_dir: Path) -> dict:
    """Create or upgrade the catalogue database and ingest every shard (finished shards are skipped)."""
    from lensdb.catalog.db import upgrade
    from lensdb.ingest.pipeline import ingest_paths

    upgrade(settings.database_url)
    report = ingest_paths(settings, [survey_dir])
    if not report.ok:
        raise InvalidInput(f"ingest failed: {report.summary()}")
    return {"summary": report.summary()}


def import_known(settings: Settings, plan: DemoPlan, survey_dir: Path) -> dict:
    """Write a random ``known_fraction`` of the simulated lenses as a lens list and import it as labels."""
    from lensdb.catalog.db import make_engine
    from lensdb.catalog.labels import import_labels

    path = write_known_lenses(survey_dir, plan, settings.path("known_lenses.tsv"))
    engine = make_engine(settings.database_url)
    try:
        report = import_labels(engine, path, name=KNOWN_SET, author="lensdb demo")
    finally:
        engine.dispose()
    return {"file": str(path), "listed": report.n_rows, "lens_labels": report.lens_labels,
            "near_lens": report.near_lens, "unmatched": report.unmatched}


def write_known_lenses(survey_dir: Path, plan: DemoPlan, path: Path) -> Path:
    """Write a random part (``known_fraction``) of the simulated lenses as a known-lens list (name, ra, dec)."""
    from lensdb.ingest.simulate import read_truth

    truth = read_truth(survey_dir / "truth.csv")
    lenses = [row for row in truth if row["class"] == "lens"]
    rng = np.random.default_rng(plan.seed)
    chosen = sorted(rng.choice(len(lenses), int(round(plan.known_fraction * len(lenses))), replace=False))
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["name", "ra", "dec"])
        for i in chosen:
            row = lenses[i]
            w.writerow([f"SIM-{row['object_id']}", row["ra"], row["dec"]])
    return path
