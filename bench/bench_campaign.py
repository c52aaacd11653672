"""A simulated grading campaign through the inspection page's HTTP API: three graders of known skills grade the
same queue; how well the plain mean and the skill model (SWAP) recover the truth, how well the skills are
recovered from the blind calibration items, and how fast grades are saved.

The survey: a SQLite catalogue of ``--n`` sources with ``--lenses`` known lenses (a lens list) that serve as the
lens calibration items; the non-lens calibration items are random unlabelled sources (as LensDB draws them). One
random queue of ``--size`` objects with a calibration share of ``--share``; each queue object is a lens with
probability ``--lens-fraction`` (the simulated truth; a probe's top ranking holds many lenses). Graders (hit rate,
false-alarm rate): good 0.9 / 0.01, fair 0.7 / 0.05, poor 0.5 / 0.10 (the issue's). A grader who "sees a lens"
answers A (60 %) or B, else N. Each grader logs in (own session) and posts every grade with POST /api/grade, the
three at once in threads, as a campaign would.

Baseline in the same run: a plain SQLAlchemy loop that inserts the same number of grade rows into the same
``grades`` table of a fresh catalogue, one transaction per row (what one saved keystroke needs at least), without
the page's checks, consensus labels, cursor and session. The ratio printed is page grades/s / loop rows/s.

    python bench/bench_campaign.py            # writes bench/results/campaign.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

GRADERS = {"good": (0.9, 0.01), "fair": (0.7, 0.05), "poor": (0.5, 0.10)}
H = {"X-LensDB": "1"}


def make_catalogue(db_url: str, n: int, n_lenses: int, seed: int) -> np.ndarray:
    from sqlalchemy import insert

    from lensdb.catalog.bulk import copy_columns
    from lensdb.catalog.db import make_engine, upgrade
    from lensdb.catalog.models import Label, LabelSet, Shard
    from lensdb.core.ids import SURVEY_RELEASE, make_object_id

    rng = np.random.default_rng(seed)
    upgrade(db_url)
    engine = make_engine(db_url)
    k = np.arange(n)
    rel = np.full(n, SURVEY_RELEASE["south"])
    ids = make_object_id(rel, 100 + k // 1000, k % 1000 + 1)
    mag_r = rng.uniform(16.0, 22.0, n)
    cols = {"object_id": ids, "release": rel, "brickid": 100 + k // 1000, "objid": k % 1000 + 1,
            "survey": np.full(n, "south"), "ra": rng.uniform(150.0, 152.0, n), "dec": rng.uniform(1.0, 3.0, n),
            "mag_g": mag_r + 0.7, "mag_r": mag_r, "mag_z": mag_r - 0.5, "ebv": np.full(n, 0.02),
            "psfsize_g": np.full(n, 1.3), "psfsize_r": np.full(n, 1.2), "psfsize_z": np.full(n, 1.1),
            "psfdepth_g": np.full(n, 2000.0), "psfdepth_r": np.full(n, 800.0), "psfdepth_z": np.full(n, 150.0),
            "source_type": np.full(n, "DEV"), "z_phot_median": np.full(n, 0.5), "row": k}
    with engine.begin() as conn:
        shard = conn.execute(insert(Shard).values(name="bench.h5", path="/dev/null", fingerprint="0" * 64, n_rows=n,
                                                  cutout=64, image_dtype="float32").returning(Shard.id)).scalar_one()
        copy_columns(conn, "sources", {**cols, "shard_id": np.full(n, shard)})
        set_id = conn.execute(insert(LabelSet).values(name="known", source="bench list", author="bench")
                              .returning(LabelSet.id)).scalar_one()
        lenses = rng.choice(ids, n_lenses, replace=False)
        conn.execute(insert(Label), [{"label_set_id": set_id, "object_id": int(o), "class": "lens", "grade": "A",
                                      "author": "bench"} for o in lenses])
    engine.dispose()
    return ids


def insert_loop(db_url: str, ids: np.ndarray, n_rows: int) -> float:
    """Rows per second of a plain SQLAlchemy loop, one transaction per grade row."""
    from sqlalchemy import insert

    from lensdb.catalog.db import make_engine
    from lensdb.catalog.models import Grade, LabelSet

    engine = make_engine(db_url)
    with engine.begin() as conn:
        set_id = conn.execute(insert(LabelSet).values(name="grades-loop", source="lensdb grade")
                              .returning(LabelSet.id)).scalar_one()
    t0 = time.perf_counter()
    for k in range(n_rows):
        with engine.begin() as conn:
            conn.execute(insert(Grade).values(label_set_id=set_id, object_id=int(ids[k % len(ids)]),
                                              grader=f"g{k // len(ids)}", grade="N"))
    dt = time.perf_counter() - t0
    engine.dispose()
    return n_rows / dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--lenses", type=int, default=200)
    ap.add_argument("--size", type=int, default=800)
    ap.add_argument("--share", type=float, default=0.2)
    ap.add_argument("--lens-fraction", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "campaign.json"))
    args = ap.parse_args(argv)

    import httpx
    from sqlalchemy import select

    from lensdb.catalog.db import make_engine
    from lensdb.catalog.models import QueueItem
    from lensdb.core.config import load_settings
    from lensdb.services import Services
    from lensdb.services.config import ServiceConfig
    from lensdb.web.config import WebConfig
    from lensdb.web.server import WebServer

    tmp = Path(tempfile.mkdtemp(prefix="lensdb-bench-campaign-"))
    db_url = f"sqlite:///{tmp / 'lensdb.sqlite'}"
    make_catalogue(db_url, args.n, args.lenses, args.seed)
    settings = load_settings(env={}, data_dir=str(tmp / "data"), database_url=db_url,
                             milvus_uri=str(tmp / "milvus.db"))
    services = Services.open(settings, ServiceConfig())
    server = WebServer(services, WebConfig(host="127.0.0.1", port=0)).start()
    clients = {g: httpx.Client(base_url=server.url, timeout=120) for g in GRADERS}
    try:
        for g, c in clients.items():
            assert c.post("/api/login", json={"grader": g}, headers=H).status_code == 200
        q = clients["good"].post("/api/queues", json={"kind": "random", "size": args.size, "seed": args.seed,
                                                      "calibration_share": args.share, "label_set": "grades-sim"},
                                 headers=H).json()
        qid, n_items = q["queue"], q["n_items"]
        engine = make_engine(db_url)
        with engine.connect() as conn:  # the simulator knows the truth of the calibration items
            rows = conn.execute(select(QueueItem.object_id, QueueItem.calibration)
                                .where(QueueItem.queue_id == qid).order_by(QueueItem.position)).all()
        engine.dispose()
        rng = np.random.default_rng(args.seed + 1)
        truth = {int(o): (c == "lens") if c else bool(rng.random() < args.lens_fraction) for o, c in rows}
        calibration = {int(o) for o, c in rows if c}
        answers = {}
        for i, (g, (hit, fa)) in enumerate(GRADERS.items()):
            r = np.random.default_rng(args.seed + 10 + i)
            answers[g] = [(o, ("A" if r.random() < 0.6 else "B") if r.random() < (hit if truth[o] else fa) else "N")
                          for o, _ in rows]
        errors = []

        def grade_all(g):
            c = clients[g]
            for o, a in answers[g]:
                resp = c.post("/api/grade", json={"queue": qid, "object_id": str(o), "grade": a}, headers=H)
                if resp.status_code != 200:
                    errors.append(resp.text)

        threads = [threading.Thread(target=grade_all, args=(g,)) for g in GRADERS]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dt = time.perf_counter() - t0
        n_grades = sum(len(a) for a in answers.values())
        page_rate = n_grades / dt
        assert not errors, errors[:3]
        stats = clients["good"].get("/api/stats", params={"label_set": "grades-sim"}).json()
        model = services.grading.skill_consensus("grades-sim")
        from lensdb.catalog import grading as store

        with services.backends.engine.connect() as conn:
            consensus = {int(r.object_id): r.consensus
                         for r in store.consensus_rows(conn, store.set_id_of(conn, "grades-sim"))}
        objects = [o for o in truth if o not in calibration]
        acc_mean = float(np.mean([(consensus[o] in ("A", "B")) == truth[o] for o in objects]))
        acc_swap = float(np.mean([(model["objects"][o].probability >= 0.5) == truth[o] for o in objects]))
        settled = {o: s.status for o, s in model["objects"].items() if s.status != "open"}
        acc_settled = float(np.mean([(v == "lens") == truth[o] for o, v in settled.items()])) if settled else None
        cal_lens = {o for o, c in rows if c == "lens"}
        cal_non = {int(o) for o, c in rows if c == "non_lens"}

        def realised(g, items):  # the share of "lens" answers the simulator actually drew on these items
            said = [a != "N" for o, a in answers[g] if int(o) in items]
            return round(float(np.mean(said)), 3) if said else None

        skills = {k.grader: {"p_lens": round(k.p_lens, 3), "false_alarm": round(1 - k.p_non, 3),
                             "drawn_p_lens": realised(k.grader, {int(o) for o in cal_lens}),
                             "drawn_false_alarm": realised(k.grader, cal_non),
                             "true_p_lens": GRADERS[k.grader][0], "true_false_alarm": GRADERS[k.grader][1],
                             "lenses_shown": k.lenses_shown, "non_lenses_shown": k.non_lenses_shown}
                  for k in model["skills"].values()}
    finally:
        for c in clients.values():
            c.close()
        server.stop()
        services.close()
    loop_rate = insert_loop(db_url, np.array(sorted(truth)), n_grades)
    out = {
        "survey": f"synthetic catalogue of {args.n} sources, {args.lenses} known lenses (SQLite)",
        "queue": {"items": n_items, "calibration_items": len(calibration), "objects": len(objects),
                  "lens_fraction": args.lens_fraction},
        "graders": {g: {"hit_rate": h, "false_alarm_rate": f} for g, (h, f) in GRADERS.items()},
        "accuracy": {"plain_mean": round(acc_mean, 4), "skill_model": round(acc_swap, 4),
                     "settled_objects": len(settled), "settled_accuracy": acc_settled},
        "recovered_skills": skills,
        "speed": {"grades": n_grades, "seconds": round(dt, 2), "page_grades_per_s": round(page_rate, 1),
                  "baseline_insert_loop_rows_per_s": round(loop_rate, 1),
                  "ratio_page_over_loop": round(page_rate / loop_rate, 3)},
        "stats_skill_graders": stats["skill"]["graders"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("accuracy", "recovered_skills", "speed")}, indent=2))
    print(f"accuracy: plain mean {acc_mean:.3f}, skill model {acc_swap:.3f}; grades/s through the page "
          f"{page_rate:.1f} vs plain insert loop {loop_rate:.1f} (ratio {page_rate / loop_rate:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
