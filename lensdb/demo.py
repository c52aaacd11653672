"""``lensdb demo``: the main job on the embedded defaults (Milvus Lite file + SQLite file in the data folder).

Today it runs the first stages of the data flow: simulate a small survey with lenses and look-alikes, create the
catalogue database, ingest the shards, import part of the simulated lenses as the "known" lenses (as the paper
used 1,615 known lenses), and print what the catalogue holds. Every step resumes: a re-run skips what is done.
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from lensdb.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoPlan:
    """Sizes of the demo survey. ``quick`` is for CI: every step, tiny data."""

    n_objects: int
    shard_size: int
    cutout: int
    lens_rate: float
    known_fraction: float = 0.6
    seed: int = 2021


FULL = DemoPlan(n_objects=20_000, shard_size=2_500, cutout=128, lens_rate=0.015)
QUICK = DemoPlan(n_objects=600, shard_size=200, cutout=112, lens_rate=0.05)


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main job end to end on the embedded defaults",
        description=(
            "Simulate a survey (north and south, lenses and look-alikes), create the catalogue, ingest the shards, "
            "import part of the simulated lenses as known lenses, and print what the catalogue holds. Everything "
            "goes into the data folder (--data-dir, default ./lensdb-data): survey/ (HDF5 shards, truth.csv), "
            "lensdb.sqlite (catalogue, labels). Re-running resumes: finished steps are skipped."
        ),
    )
    p.add_argument("--quick", action="store_true", help=f"tiny survey ({QUICK.n_objects} objects) for CI; "
                   f"the full demo simulates {FULL.n_objects:,}")
    p.add_argument("--n-objects", type=int, help="override the number of simulated objects")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    plan = QUICK if args.quick else FULL
    if args.n_objects:
        plan = DemoPlan(**{**plan.__dict__, "n_objects": args.n_objects})
    t0 = time.perf_counter()
    survey_dir = settings.path("survey")
    print(f"LensDB demo: data folder {settings.data_dir.resolve()}")
    print(f"[1/4] simulate {plan.n_objects:,} objects into {survey_dir}")
    simulate(plan, survey_dir)
    print(f"[2/4] catalogue database {settings.database_url}")
    from catalog.db import upgrade

    upgrade(settings.database_url)
    print("[3/4] ingest the shards")
    from ingest.pipeline import ingest_paths

    report = ingest_paths(settings, [survey_dir])
    print("      " + report.summary())
    if not report.ok:
        return 1
    print("[4/4] import the known lenses")
    known = write_known_lenses(survey_dir, plan, settings.path("known_lenses.tsv"))
    from catalog.labels import import_labels

    import_labels(_engine(settings), known, name="demo-known-lenses", author="lensdb demo")
    print()
    print(catalogue_summary(settings))
    print(f"\nDone in {time.perf_counter() - t0:.0f} s. Query it: sqlite3 {settings.path('lensdb.sqlite')}")
    return 0


def simulate(plan: DemoPlan, out_dir: Path):
    from ingest.simulate import SimulateConfig, simulate_survey

    config = SimulateConfig(n_objects=plan.n_objects, shard_size=plan.shard_size, cutout=plan.cutout,
                            dtype="float16", lens_rate=plan.lens_rate, seed=plan.seed, out_dir=out_dir)
    return simulate_survey(config, out_dir)


def write_known_lenses(survey_dir: Path, plan: DemoPlan, path: Path) -> Path:
    """Write a random part (``known_fraction``) of the simulated lenses as a known-lens list (name, ra, dec)."""
    from ingest.simulate import read_truth

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


def _engine(settings: Settings):
    from catalog.db import make_engine

    return make_engine(settings.database_url)


def catalogue_summary(settings: Settings) -> str:
    """A short text table of what the catalogue holds: sources per survey and type, magnitudes, labels."""
    from catalog.models import Label, Shard, Source

    engine = _engine(settings)
    lines = ["What the catalogue holds:"]
    with engine.connect() as conn:
        n_shards = conn.execute(select(func.count()).select_from(Shard)).scalar_one()
        rows = conn.execute(
            select(Source.survey, func.count(), func.min(Source.mag_z), func.max(Source.mag_z))
            .group_by(Source.survey).order_by(Source.survey)
        ).all()
        total = sum(r[1] for r in rows)
        lines.append(f"  {total:,} sources in {n_shards} shards")
        lines.append(f"  {'survey':<8}{'sources':>10}{'mag_z min':>11}{'mag_z max':>11}")
        for survey, n, lo, hi in rows:
            lines.append(f"  {survey:<8}{n:>10,}{lo:>11.2f}{hi:>11.2f}")
        types = conn.execute(
            select(Source.source_type, func.count()).group_by(Source.source_type).order_by(func.count().desc())
        ).all()
        lines.append("  types: " + ", ".join(f"{t} {n:,}" for t, n in types))
        labels = conn.execute(
            select(Label.label_class, func.count()).group_by(Label.label_class).order_by(Label.label_class)
        ).all()
        lines.append("  labels: " + (", ".join(f"{c} {n:,}" for c, n in labels) or "none"))
    engine.dispose()
    return "\n".join(lines)
