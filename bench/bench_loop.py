"""The discovery loop, measured: lenses found per 1,000 images inspected by a (simulated) grader, for three ways
of choosing what to inspect, on the same survey with the same label budget, in one run.

  (a) probe ranking: a linear probe trained on the known lenses ranks the survey once; inspect it top down.
  (b) similarity: the objects most similar to any known lens (merged by their best similarity), best first.
  (c) active loop: inspect one page of the current probe's ranking, grade it, retrain on the known lenses plus the
      consensus grades (A/B positives, not-a-lens hard negatives, random negatives as the paper), rescore, repeat.

(a) is the baseline: it is what LensDB did before the loop existed (``lensdb probe score`` and a TSV to grade).
Known lenses and objects near them are never shown (LensDB's queues leave them out). The simulated grader answers
from a truth table: a lens is graded A or B, anything else "not a lens", each answer wrong with probability
``--error-rate`` (the same object always gets the same answer, so the three strategies face the same grader).
A lens is *found* when it is truly a lens and the grader said A or B.

Runs on any ingested and embedded survey given a truth table that astropy can read (CSV, FITS, VOTable, ECSV,
parquet) with ``object_id`` or ``release``/``brickid``/``objid`` and a lens flag (``--lens-column``: a boolean or
0/1 column, or a class column compared with ``--lens-value``)::

    lensdb demo                                             # a simulated survey in ./lensdb-data (or your own)
    python bench/bench_loop.py --data-dir lensdb-data --truth lensdb-data/survey/truth.csv \
        --lens-column class --lens-value lens --budget 1000 --page 100

The catalogue is copied first when it is a SQLite file (the bench's grades, probes and queues go to the copy);
on PostgreSQL they go to a grading set ``grades-bench-<time>`` and the probes ``grades-bench-<time>-round<n>``,
removed at the end unless ``--keep``. Figures go to ``--out`` (JSON) and a PNG of the curves beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_loop")


def read_truth(path: str, lens_column: str, lens_value: str | None) -> dict[int, bool]:
    """object id -> is a lens, from any table astropy reads."""
    from astropy.table import Table

    from lensdb.core.ids import make_object_id

    fmt = "ascii.csv" if path.endswith(".csv") else None
    table = Table.read(path, format=fmt) if fmt else Table.read(path)
    cols = {c.lower(): c for c in table.colnames}
    if "object_id" in cols:
        ids = np.asarray(table[cols["object_id"]], np.int64)
    elif {"release", "brickid", "objid"} <= set(cols):
        ids = make_object_id(np.asarray(table[cols["release"]]), np.asarray(table[cols["brickid"]]),
                             np.asarray(table[cols["objid"]]))
    else:
        sys.exit(f"{path}: needs an object_id column, or release, brickid and objid; has {table.colnames}")
    if lens_column.lower() not in cols:
        sys.exit(f"{path}: no column {lens_column!r} (the lens flag); has {table.colnames}")
    flag = table[cols[lens_column.lower()]]
    if lens_value is not None:
        is_lens = np.array([str(v).strip() == lens_value for v in flag])
    else:
        is_lens = np.array([str(v).strip().lower() in ("1", "true", "t", "yes", "lens") for v in flag])
    return dict(zip(ids.tolist(), is_lens.tolist(), strict=True))


class SimulatedGrader:
    """Answers from the truth table, wrong with probability ``error_rate``; the same object, the same answer."""

    def __init__(self, truth: dict[int, bool], error_rate: float, seed: int):
        self.truth, self.error_rate, self.seed = truth, error_rate, seed

    def _u(self, oid: int, salt: str) -> float:
        h = hashlib.blake2b(f"{self.seed}:{salt}:{oid}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "little") / 2**64

    def grade(self, oid: int) -> str:
        lens = self.truth.get(int(oid), False)
        wrong = self._u(oid, "err") < self.error_rate
        if lens != wrong:  # a lens answered right, or a non-lens answered wrong
            return "A" if self._u(oid, "ab") < 0.5 else "B"
        return "N"

    def found(self, oid: int) -> bool:
        return self.truth.get(int(oid), False) and self.grade(oid) in ("A", "B")


def curve(ids, grader: SimulatedGrader) -> list[int]:
    """Cumulative lenses found after each inspected image."""
    return np.cumsum([grader.found(int(i)) for i in ids]).astype(int).tolist()


def drop_sets(services, prefix: str) -> None:
    """Delete the bench's grading sets (their grades, consensus labels, queues and rounds go with them), so that
    the next strategy starts from the same labels as the first."""
    from sqlalchemy import delete

    from lensdb.catalog.models import LabelSet

    with services.backends.engine.begin() as conn:
        conn.execute(delete(LabelSet).where(LabelSet.name.like(f"{prefix}%")))


def queue_ids(services, queue_id: int) -> list[int]:
    from lensdb.catalog import grading as store

    items = store.queue_items(services.backends.engine, queue_id, 0, 10**9)
    return [int(r.object_id) for r in items]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True, help="the LensDB data folder of an ingested, embedded survey")
    ap.add_argument("--database-url", help="instead of the data folder's SQLite file")
    ap.add_argument("--milvus-uri", help="instead of the data folder's Milvus Lite file")
    ap.add_argument("--truth", required=True, help="truth table (any astropy format)")
    ap.add_argument("--lens-column", default="class", help="lens flag column (default 'class')")
    ap.add_argument("--lens-value", default="lens", help="value of --lens-column meaning lens (default 'lens'; "
                    "'' for a boolean or 0/1 column)")
    ap.add_argument("--budget", type=int, default=1000, help="images inspected per strategy (default 1000)")
    ap.add_argument("--page", type=int, default=100, help="images per active-learning round (default 100)")
    ap.add_argument("--error-rate", type=float, default=0.05, help="the grader's error rate (default 0.05)")
    ap.add_argument("--ratio", type=int, default=100, help="non-lenses per lens in probe training (default 100)")
    ap.add_argument("--survey", default="any", help="training sources: south, north or any (default any)")
    ap.add_argument("--mag-z-max", default="none", help="training sources with mag_z below (default none)")
    ap.add_argument("--encoder-version", help="vectors to use (default: the only one)")
    ap.add_argument("--rankings", default="fused,probe",
                    help="active-loop variants to run: fused (the default round ranking) and/or probe")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the bench's grades and probes (PostgreSQL)")
    ap.add_argument("--out", default="bench/results/loop.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    from lensdb.core.config import load_settings
    from lensdb.services import Services
    from lensdb.services.grading import GradingConfig

    truth = read_truth(args.truth, args.lens_column, args.lens_value or None)
    grader = SimulatedGrader(truth, args.error_rate, args.seed)
    settings = load_settings(data_dir=args.data_dir, database_url=args.database_url, milvus_uri=args.milvus_uri)
    tmp = None
    if settings.database_url.startswith("sqlite:///"):
        tmp = Path(tempfile.mkdtemp(prefix="bench-loop-"))
        src = Path(settings.database_url[len("sqlite:///"):])
        shutil.copy(src, tmp / "catalogue.sqlite")
        settings = load_settings(data_dir=args.data_dir, database_url=f"sqlite:///{tmp / 'catalogue.sqlite'}",
                                 milvus_uri=args.milvus_uri)
    stamp = time.strftime("%Y%m%d%H%M%S")
    set_name = f"grades-bench-{stamp}"
    overrides = {"survey": None if args.survey == "any" else args.survey,
                 "mag_z_max": None if args.mag_z_max == "none" else float(args.mag_z_max), "ratio": args.ratio}
    result: dict = {"budget": args.budget, "page": args.page, "error_rate": args.error_rate, "ratio": args.ratio,
                    "truth": args.truth, "truth_lenses": int(sum(truth.values())), "truth_objects": len(truth)}
    services = Services.open(settings)
    base_config = GradingConfig(label_set=set_name, calibration_share=0.0, queue_size=args.budget,
                                round_score_n=min(16_384, args.budget * 4 + 2000), round_ratio=args.ratio)
    services.grading.config = base_config
    g = services.grading
    try:
        from lensdb.catalog import queries

        known = queries.labelled_ids(services.backends.engine, classes=("lens",),
                                     set_ids=queries.list_set_ids(services.backends.engine, "lensdb grade"))
        hidden = sum(1 for o, lens in truth.items() if lens and o not in set(known.tolist()))
        result.update(known_lenses=int(known.size), hidden_lenses=hidden)
        print(f"survey: {len(truth):,} objects, {result['truth_lenses']} lenses ({known.size} known, {hidden} "
              f"hidden); budget {args.budget} images, pages of {args.page}, grader error rate {args.error_rate}")

        # (a) the probe trained on the known lenses, its ranking inspected top down (known lenses left out).
        t0 = time.perf_counter()
        r0 = g.run_round(grader="bench", label_set=f"{set_name}-a", encoder_version=args.encoder_version,
                         size=args.budget, seed=args.seed, **overrides)
        q = g.create_queue("probe", grader="bench", label_set=f"{set_name}-a", model=r0["model"], size=args.budget,
                           calibration_share=0.0)
        ranking = queue_ids(services, q.id)[:args.budget]
        result["probe_ranking"] = {"inspected": len(ranking), "found_curve": curve(ranking, grader),
                                   "seconds": round(time.perf_counter() - t0, 2)}
        print(f"(a) probe ranking: {result['probe_ranking']['found_curve'][-1]} lenses in {len(ranking)} images")

        # (b) similarity search from every known lens.
        t0 = time.perf_counter()
        sim = g.create_queue("similar", grader="bench", label_set=f"{set_name}-b", object_ids=known.tolist(),
                             size=args.budget, calibration_share=0.0)
        similar = queue_ids(services, sim.id)[:args.budget]
        result["similarity"] = {"inspected": len(similar), "found_curve": curve(similar, grader),
                                "seconds": round(time.perf_counter() - t0, 2)}
        print(f"(b) similarity:    {result['similarity']['found_curve'][-1]} lenses in {len(similar)} images")
        drop_sets(services, set_name)

        # (c) the active loop, with each round's ranking as configured (fused, or the probe alone): grade a page
        # through the grading service, retrain, rescore, next page. Each variant starts from no grades.
        for ranking_kind in args.rankings.split(","):
            key = "active_loop" if ranking_kind == "fused" else f"active_loop_{ranking_kind}"
            services.grading.config = dataclasses.replace(base_config, round_ranking=ranking_kind)
            name = f"{set_name}-{ranking_kind}"
            inspected, rounds, seconds = [], [], []
            out = g.run_round(grader="bench", label_set=name, encoder_version=args.encoder_version,
                              size=args.budget, seed=args.seed, **overrides)
            queue = out["queue"]
            while True:
                page = queue_ids(services, queue)[:min(args.page, args.budget - len(inspected))]
                if not page:
                    break
                for oid in page:
                    g.grade(queue, "simulated grader", oid, grader.grade(oid))
                inspected += page
                found = curve(inspected, grader)[-1]
                rounds.append({"inspected": len(inspected), "found": found})
                print(f"(c) active loop ({ranking_kind}): round {len(rounds)}: {found} lenses in {len(inspected)} "
                      "images")
                if len(inspected) >= args.budget:
                    break
                t0 = time.perf_counter()
                out = g.run_round(grader="bench", label_set=name, encoder_version=args.encoder_version,
                                  size=args.budget, seed=args.seed, **overrides)
                seconds.append(time.perf_counter() - t0)
                rounds[-1]["round_seconds"] = round(seconds[-1], 2)
                queue = out["queue"]
            result[key] = {"inspected": len(inspected), "found_curve": curve(inspected, grader), "rounds": rounds,
                           "ranking": ranking_kind,
                           "median_round_s": round(float(np.median(seconds)), 2) if seconds else None}
            drop_sets(services, set_name)
    finally:
        if tmp is None and not args.keep:
            from sqlalchemy import delete

            from lensdb.catalog.models import Model

            drop_sets(services, set_name)
            with services.backends.engine.begin() as conn:
                conn.execute(delete(Model).where(Model.name.like(f"{set_name}-%")))
        services.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    for key in [k for k in result if k in ("probe_ranking", "similarity") or k.startswith("active_loop")]:
        r = result[key]
        r["found"] = r["found_curve"][-1] if r["found_curve"] else 0
        r["per_1000"] = round(1000 * r["found"] / max(1, r["inspected"]), 1)
        r["at"] = {n: r["found_curve"][n - 1] for n in (100, 250, 500, 1000, 2000, 5000)
                   if n <= len(r["found_curve"])}
    base = result["probe_ranking"]["per_1000"]
    result["ratio_active_vs_probe"] = round(result["active_loop"]["per_1000"] / base, 3) if base else None
    if "active_loop_probe" in result:
        result["ratio_active_probe_only_vs_probe"] = round(result["active_loop_probe"]["per_1000"] / base, 3) \
            if base else None
    result["ratio_similarity_vs_probe"] = round(result["similarity"]["per_1000"] / base, 3) if base else None
    print(f"lenses found per 1,000 images inspected: probe ranking {base}, similarity "
          f"{result['similarity']['per_1000']}, active loop {result['active_loop']['per_1000']} "
          f"(active / probe = {result['ratio_active_vs_probe']})"
          + (f", active loop with the probe's ranking only {result['active_loop_probe']['per_1000']}"
             if "active_loop_probe" in result else ""))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    plot(result, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for key, label in (("active_loop", "(c) active loop (probe + similarity, fused)"),
                       ("active_loop_probe", "(c') active loop (probe only)"),
                       ("probe_ranking", "(a) probe ranking, top down"),
                       ("similarity", "(b) similarity to known lenses")):
        if key not in result:
            continue
        c = result[key]["found_curve"]
        ax.plot(np.arange(1, len(c) + 1), c, label=f"{label}: {result[key]['per_1000']} per 1,000")
    for r in result["active_loop"]["rounds"]:
        ax.axvline(r["inspected"], color="0.85", lw=0.6, zorder=0)
    ax.set_xlabel("images inspected")
    ax.set_ylabel("lenses found")
    ax.set_title(f"{result['hidden_lenses']} hidden lenses, grader error {result['error_rate']:.0%}, "
                 f"pages of {result['page']}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
