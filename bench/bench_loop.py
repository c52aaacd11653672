"""The discovery loop, measured: lenses found per 1,000 images inspected by a (simulated) grader, for three ways
of choosing what to inspect, on the same survey with the same label budget, in one run.

  (a) probe ranking: a linear probe trained on the known lenses ranks the survey once; inspect it top down.
  (b) similarity: the objects most similar to any known lens (merged by their best similarity), best first.
  (c) active loop: inspect one page of the current probe's ranking, grade it, retrain on the known lenses plus the
      consensus grades (A/B positives, not-a-lens hard negatives, random negatives as the paper), rescore, repeat.

  (0) sklearn_baseline: scikit-learn ``LogisticRegression(class_weight="balanced", C=1)`` on every known lens and
      ``--ratio`` random non-lenses per lens, the same vectors, its ranking read top down (the plain baseline the
      probe must match, issue #22).
  (a') probe_ranking_paper: (a) with the paper's protocol (70/30 split, LBFGS epochs kept by TP@N): LensDB's
      one-shot probe before issue #22.

Each loop round records its training set (graded positives, how many of them are false, hard negatives, the weight
graded rows had), the penalty chosen, the cross-validated AP, whether the model was accepted, and where the hidden
lenses not yet found sit in the ranking of the model that ranks the next page (--diagnose).

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
    ap.add_argument("--rankings", default="bandit,probe",
                    help="active-loop variants to run: bandit (the default round ranking), fused and/or probe")
    ap.add_argument("--seed", type=int, default=0, help="seed of the simulated grader and of the training draws")
    ap.add_argument("--seeds", help="comma-separated grader seeds: run every strategy once per seed (default --seed)")
    ap.add_argument("--protocol", default="validated", choices=("validated", "paper"),
                    help="probe protocol of (a) and the loops (default validated)")
    ap.add_argument("--no-paper", action="store_true", help="skip (a') the paper protocol's one-shot ranking")
    ap.add_argument("--no-accept", action="store_true", help="loops: accept every round's model")
    ap.add_argument("--no-certainty", action="store_true", help="loops: every grade weighs 1")
    ap.add_argument("--assumed-error", type=float,
                    help="grader error rate the loop assumes (hit rate 1 - e, false alarms e; default: --error-rate, "
                         "as the blind calibration items would measure it)")
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
    a_err = args.error_rate if args.assumed_error is None else args.assumed_error
    base_config = GradingConfig(label_set=set_name, calibration_share=0.0, queue_size=args.budget,
                                round_score_n=min(16_384, args.budget * 4 + 2000), round_ratio=args.ratio,
                                round_accept=not args.no_accept, round_certainty=not args.no_certainty,
                                grader_hit_rate=max(1e-3, 1.0 - a_err), grader_false_alarm=a_err)
    services.grading.config = base_config
    g = services.grading
    seeds = [int(v) for v in args.seeds.split(",")] if args.seeds else [args.seed]
    result.update(seeds=seeds, protocol=args.protocol, accept=not args.no_accept, certainty=not args.no_certainty,
                  assumed_error=a_err, encoder_version=args.encoder_version)
    overrides["protocol"] = args.protocol
    rankings: dict[str, dict] = {}
    try:
        from lensdb.catalog import queries

        engine = services.backends.engine
        known = queries.labelled_ids(engine, classes=("lens",),
                                     set_ids=queries.list_set_ids(engine, "lensdb grade"))
        hidden_ids = np.array(sorted(o for o, lens in truth.items() if lens and o not in set(known.tolist())),
                              np.int64)
        hidden = int(hidden_ids.size)
        result.update(known_lenses=int(known.size), hidden_lenses=hidden)
        print(f"survey: {len(truth):,} objects, {result['truth_lenses']} lenses ({known.size} known, {hidden} "
              f"hidden); budget {args.budget} images, pages of {args.page}, grader error rate {args.error_rate}, "
              f"seeds {seeds}")
        version = args.encoder_version or services.backends.default_version()
        result["encoder_version"] = version
        with engine.connect() as conn:
            leave_out = g._known(conn)

        # (0) the plain baseline: scikit-learn's balanced logistic regression on every known lens.
        t0 = time.perf_counter()
        rankings["sklearn_baseline"] = {"ids": sklearn_ranking(services, version, known, leave_out, args),
                                        "seconds": round(time.perf_counter() - t0, 2)}

        # (a) the probe trained on the known lenses, its ranking inspected top down (known lenses left out).
        for key, protocol in (("probe_ranking", args.protocol),
                              *((() if args.no_paper or args.protocol == "paper" else
                                 (("probe_ranking_paper", "paper"),)))):
            t0 = time.perf_counter()
            r0 = g.run_round(grader="bench", label_set=f"{set_name}-a", encoder_version=version,
                             size=args.budget, seed=args.seed, **{**overrides, "protocol": protocol})
            q = g.create_queue("probe", grader="bench", label_set=f"{set_name}-a", model=r0["model"],
                               size=args.budget, calibration_share=0.0)
            rankings[key] = {"ids": queue_ids(services, q.id)[:args.budget],
                             "seconds": round(time.perf_counter() - t0, 2),
                             "val_tp": r0.get("val_tp"), "cv_ap": r0.get("cv_ap"), "chosen_c": r0.get("chosen_c")}
            drop_sets(services, set_name)

        # (b) similarity search from every known lens, in the same vectors.
        t0 = time.perf_counter()
        sim = g.create_queue("similar", grader="bench", label_set=f"{set_name}-b", object_ids=known.tolist(),
                             size=args.budget, calibration_share=0.0, encoder_version=version)
        rankings["similarity"] = {"ids": queue_ids(services, sim.id)[:args.budget],
                                  "seconds": round(time.perf_counter() - t0, 2)}
        drop_sets(services, set_name)

        runs = []
        for seed in seeds:
            grader = SimulatedGrader(truth, args.error_rate, seed)
            run: dict = {"seed": seed}
            for key, r in rankings.items():
                run[key] = {"inspected": len(r["ids"]), "found_curve": curve(r["ids"], grader),
                            **{k: v for k, v in r.items() if k != "ids"}}
                print(f"seed {seed} {key}: {run[key]['found_curve'][-1]} lenses in {len(r['ids'])} images")
            # (c) the active loop, with each round's ranking as configured: grade a page through the grading
            # service, retrain, rescore, next page. Each variant starts from no grades.
            for ranking_kind in args.rankings.split(","):
                key = "active_loop" if ranking_kind == "bandit" else f"active_loop_{ranking_kind}"
                services.grading.config = dataclasses.replace(base_config, round_ranking=ranking_kind)
                run[key] = active_loop(services, g, grader, truth, hidden_ids, f"{set_name}-{ranking_kind}",
                                       ranking_kind, version, seed, overrides, args)
                drop_sets(services, set_name)
            summarise(run)
            runs.append(run)
        result["runs"] = runs
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

    keys = [k for k in result["runs"][0] if k != "seed"]
    result["summary"] = aggregate(result["runs"], keys)
    # The first seed's figures at the top level, in the format of earlier runs (one object per strategy).
    result.update({k: result["runs"][0][k] for k in keys})
    base = result["probe_ranking"]["per_1000"]
    result["ratio_active_vs_probe"] = round(result["active_loop"]["per_1000"] / base, 3) \
        if base and "active_loop" in result else None
    result["ratio_similarity_vs_probe"] = round(result["similarity"]["per_1000"] / base, 3) if base else None
    for k in keys:
        s = result["summary"][k]
        print(f"{k:28s} " + "  ".join(f"@{n}: {s['at_mean'][n]:.1f} +- {s['at_std'][n]:.1f}" for n in s["at_mean"]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    plot(result, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


def sklearn_ranking(services, version: str, known: np.ndarray, leave_out: np.ndarray, args) -> list[int]:
    """(0): scikit-learn LogisticRegression(class_weight="balanced", C=1) on every known lens and ``--ratio`` random
    non-lenses per lens (the same source filter as the probe), ranking everything not known, best first."""
    from sklearn.linear_model import LogisticRegression

    from lensdb.classifiers.features import StoreFeatures
    from lensdb.classifiers.sampling import load_pools

    source = StoreFeatures.open(services.backends.settings, version)
    try:
        ids, vecs = [], []
        for i, v in source.blocks(8192):
            ids.append(np.asarray(i, np.int64))
            vecs.append(np.asarray(v, np.float32))
        ids, vecs = np.concatenate(ids), np.concatenate(vecs)
    finally:
        source.close()
    pools = load_pools(services.backends.engine, use_grades=False,
                       survey=None if args.survey == "any" else args.survey,
                       mag_z_max=None if args.mag_z_max == "none" else float(args.mag_z_max), available=ids)
    rng = np.random.default_rng([args.seed, 1])
    cand = pools.candidates
    neg = cand[rng.permutation(cand.size)[:min(cand.size, args.ratio * pools.known_lenses.size)]]
    pos_of = {int(o): i for i, o in enumerate(ids.tolist())}
    rows = [pos_of[int(o)] for o in np.concatenate([pools.known_lenses, neg])]
    y = np.r_[np.ones(pools.known_lenses.size), np.zeros(neg.size)]
    clf = LogisticRegression(class_weight="balanced", C=1.0, max_iter=5000).fit(vecs[rows], y)
    score = vecs @ clf.coef_[0]
    keep = ~np.isin(ids, leave_out)
    ids, score = ids[keep], score[keep]
    return ids[np.lexsort((ids, -score))][:args.budget].tolist()


def active_loop(services, g, grader: SimulatedGrader, truth: dict, hidden_ids: np.ndarray, name: str, ranking_kind: str,
                version: str, seed: int, overrides: dict, args) -> dict:
    """(c): grade a page, run a round, repeat; with each round's diagnostics."""
    from lensdb.catalog import queries

    engine = services.backends.engine
    inspected, rounds, seconds = [], [], []
    out = g.run_round(grader="bench", label_set=name, encoder_version=version, size=args.budget, seed=seed,
                      **overrides)
    queue = out["queue"]
    while True:
        page = queue_ids(services, queue)[:min(args.page, args.budget - len(inspected))]
        if not page:
            break
        for oid in page:
            g.grade(queue, "simulated grader", oid, grader.grade(oid))
        inspected += page
        found = curve(inspected, grader)[-1]
        said = [(oid, grader.grade(oid) in ("A", "B")) for oid in inspected]
        entry = {"inspected": len(inspected), "found": found, "page_found": int(sum(grader.found(o) for o in page)),
                 "graded_pos": int(sum(s for _, s in said)),
                 "graded_pos_false": int(sum(s and not truth.get(o, False) for o, s in said)),
                 "ranked_by": out.get("ranked_by_model_id"), "accepted": out.get("accepted"),
                 "decision": out.get("decision"), "cv_ap_new": out.get("cv_ap_new"),
                 "cv_ap_current": out.get("cv_ap_current"), "chosen_c": out.get("chosen_c"),
                 "val_tp": out.get("val_tp"), "top_n": out.get("top_n"),
                 "training_set": {k: (out.get("training_set") or {}).get(k) for k in
                                  ("n_known", "n_graded_pos", "n_hard_negatives", "n_train_neg",
                                   "graded_weight_mean", "graded_certainty_mean", "n_train_pos", "n_val_pos")},
                 "page_slots": page_slots(services, queue, page)}
        rounds.append(entry)
        print(f"seed {seed} (c) loop ({ranking_kind}): round {len(rounds)}: {found} lenses in {len(inspected)} images"
              f" (page {entry['page_found']}; {entry['decision']}; cv AP {entry['cv_ap_new']} vs "
              f"{entry['cv_ap_current']})")
        if len(inspected) >= args.budget:
            break
        t0 = time.perf_counter()
        out = g.run_round(grader="bench", label_set=name, encoder_version=version, size=args.budget, seed=seed,
                          **overrides)
        seconds.append(time.perf_counter() - t0)
        rounds[-1]["round_seconds"] = round(seconds[-1], 2)
        # Where the hidden lenses not yet found sit in the ranking of the model that ranks the next page.
        ids, _, _ = queries.ranking(engine, out["ranked_by_model_id"] or 0)
        with engine.connect() as conn:
            known = g._known(conn)
        ids = ids[~np.isin(ids, np.union1d(known, np.asarray(inspected, np.int64)))]
        left = hidden_ids[~np.isin(hidden_ids, np.asarray(inspected, np.int64))]
        pos = np.flatnonzero(np.isin(ids, left))
        rounds[-1]["next_ranking_hidden"] = {"left": int(left.size), "in_top_100": int((pos < 100).sum()),
                                             "in_top_250": int((pos < 250).sum()),
                                             "median_rank": float(np.median(pos)) if pos.size else None}
        queue = out["queue"]
    return {"inspected": len(inspected), "found_curve": curve(inspected, grader), "rounds": rounds,
            "ranking": ranking_kind, "median_round_s": round(float(np.median(seconds)), 2) if seconds else None}


def page_slots(services, queue: int, page: list[int]) -> dict | None:
    """How many of a page's items each ranking placed (bandit queues)."""
    info = services.grading.queue(queue)
    arms = info.params.get("arms")
    if not isinstance(arms, dict):
        return None
    out: dict[str, int] = {}
    for oid in page:
        a = arms.get(str(oid), "?")
        out[a] = out.get(a, 0) + 1
    return out


def summarise(run: dict) -> None:
    for key in [k for k in run if k != "seed"]:
        r = run[key]
        r["found"] = r["found_curve"][-1] if r["found_curve"] else 0
        r["per_1000"] = round(1000 * r["found"] / max(1, r["inspected"]), 1)
        r["at"] = {n: r["found_curve"][n - 1] for n in (100, 250, 500, 1000, 2000, 5000)
                   if n <= len(r["found_curve"])}


def aggregate(runs: list[dict], keys: list[str]) -> dict:
    """Mean, spread (standard deviation over seeds), min and max of each strategy's lenses found at each depth."""
    out = {}
    for k in keys:
        ats = [r[k]["at"] for r in runs]
        depths = sorted(set.intersection(*(set(a) for a in ats)))
        out[k] = {"at_mean": {n: round(float(np.mean([a[n] for a in ats])), 2) for n in depths},
                  "at_std": {n: round(float(np.std([a[n] for a in ats])), 2) for n in depths},
                  "at_min": {n: int(min(a[n] for a in ats)) for n in depths},
                  "at_max": {n: int(max(a[n] for a in ats)) for n in depths},
                  "found_mean": round(float(np.mean([r[k]["found"] for r in runs])), 2), "n_runs": len(runs)}
    return out


def plot(result: dict, path: Path) -> None:
    """Lenses found against images inspected: the mean over grader seeds, the band from the lowest to the highest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"active_loop": "(c) active loop (bandit over rankings)",
              "active_loop_fused": "(c) active loop (fused)",
              "active_loop_probe": "(c') active loop (probe only)",
              "probe_ranking": "(a) probe ranking, top down",
              "probe_ranking_paper": "(a') paper-protocol probe, top down",
              "sklearn_baseline": "(0) sklearn LogisticRegression, top down",
              "similarity": "(b) similarity to known lenses"}
    fig, ax = plt.subplots(figsize=(7.2, 4.8), dpi=120)
    runs = result["runs"]
    for key, label in labels.items():
        if key not in runs[0]:
            continue
        curves = np.array([r[key]["found_curve"] for r in runs], float)
        x = np.arange(1, curves.shape[1] + 1)
        mean = curves.mean(axis=0)
        line, = ax.plot(x, mean, label=f"{label}: {mean[-1]:.1f}")
        if len(runs) > 1:
            ax.fill_between(x, curves.min(axis=0), curves.max(axis=0), color=line.get_color(), alpha=0.15, lw=0)
    ax.set_xlabel("images inspected")
    ax.set_ylabel(f"lenses found (mean of {len(runs)} grader seed(s), band = min..max)")
    ax.set_title(f"{result['hidden_lenses']} hidden lenses, grader error {result['error_rate']:.0%}, "
                 f"pages of {result['page']}", fontsize=10)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
