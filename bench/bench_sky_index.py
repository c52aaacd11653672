"""What q3c buys: cone search and the 1,615-lens cross-match with and without q3c, in one run.

One demo-sized catalogue on the real sky (``--n`` sources, default 200,000: galaxies spread over the Legacy Surveys'
declination range, plus each of the paper's 1,615 training lenses (``/work/shared/data/training_lenses.tsv``, or
``catalog/data/training_lenses.tsv``) with 0-5 neighbours within 25") is loaded, through the same path, into:

- PostgreSQL with q3c: LensDB's ``auto`` path is q3c (the baseline), and the portable ``healpix`` path (the
  ``sky_pixel`` B-tree) is timed on the very same database;
- PostgreSQL without q3c: the path a stock or managed PostgreSQL takes.

Both PostgreSQL servers are private clusters of the same installation and settings, started side by side by
``tests/pg_cluster.py`` (the second one with q3c hidden), so neither shares a server with other work;
- SQLite (the embedded default): the same portable path.

Measured per backend and path: the cross-match of the 1,615 lenses at 25.2" (one call of
:func:`lensdb.catalog.crossmatch.crossmatch`, median of ``--repeats``), and cone searches (60" around ``--cones``
lens positions, one :func:`~lensdb.catalog.crossmatch.cone_search` each, median latency). Every path must return
the same pairs (checked). Ratios are against q3c in the same run. Writes ``bench/results/sky_index.json``.

    nice -n 10 .venv/bin/python bench/bench_sky_index.py            # about 4-6 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LENSES = [Path("/work/shared/data/training_lenses.tsv"), REPO / "catalog" / "data" / "training_lenses.tsv"]


def lenses() -> tuple[np.ndarray, np.ndarray, str]:
    path = next(p for p in LENSES if p.exists())
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return np.array([float(r["ra"]) for r in rows]), np.array([float(r["dec"]) for r in rows]), str(path)


def catalogue(n: int, lens_ra, lens_dec, seed: int) -> dict[str, np.ndarray]:
    """Columns of ``n`` sources: the lenses, their neighbours, and a field at Dec -70..+85 (Legacy Surveys)."""
    from lensdb.core.ids import make_object_id

    rng = np.random.default_rng(seed)
    k_near = rng.integers(0, 6, len(lens_ra))
    near_ra = np.repeat(lens_ra, k_near)
    near_dec = np.repeat(lens_dec, k_near)
    sep = np.sqrt(rng.uniform(0, 1, len(near_ra))) * 25.0 / 3600.0
    pa = rng.uniform(0, 2 * np.pi, len(near_ra))
    near_dec2 = np.clip(near_dec + sep * np.cos(pa), -90, 90)
    near_ra2 = (near_ra + sep * np.sin(pa) / np.cos(np.radians(near_dec))) % 360.0
    n_field = n - len(lens_ra) - len(near_ra)
    field_dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-70)), np.sin(np.radians(85)), n_field)))
    ra = np.concatenate([lens_ra, near_ra2, rng.uniform(0, 360, n_field)])
    dec = np.concatenate([lens_dec, near_dec2, field_dec])
    k = np.arange(n)
    mag = rng.uniform(16, 21, n)
    return {"object_id": make_object_id(np.full(n, 9010), 100_000 + k // 5000, k % 5000 + 1),
            "release": np.full(n, 9010), "brickid": 100_000 + k // 5000, "objid": k % 5000 + 1,
            "survey": np.full(n, "south"), "ra": ra, "dec": dec, "mag_g": mag + 0.8, "mag_r": mag + 0.4,
            "mag_z": mag, "ebv": np.full(n, 0.03), **{f"psfsize_{b}": np.full(n, 1.2) for b in "grz"},
            **{f"psfdepth_{b}": np.full(n, 500.0) for b in "grz"}, "source_type": np.full(n, "DEV"),
            "row": k}


def load(url: str, cols: dict[str, np.ndarray]) -> float:
    """Migrate ``url`` to head and load the catalogue (COPY on PostgreSQL); returns seconds."""
    from sqlalchemy import insert, text

    from lensdb.catalog.bulk import copy_columns
    from lensdb.catalog.db import make_engine, upgrade
    from lensdb.catalog.models import Shard

    upgrade(url)
    engine = make_engine(url)
    t0 = time.perf_counter()
    n = len(cols["ra"])
    with engine.begin() as conn:
        sid = conn.execute(insert(Shard).values(name="bench", path="/dev/null", fingerprint="0" * 64, n_rows=n,
                                                cutout=152, image_dtype="float32").returning(Shard.id)).scalar_one()
        copy_columns(conn, "sources", {**cols, "shard_id": np.full(n, sid)})
    with engine.begin() as conn:
        conn.execute(text("ANALYZE sources" if engine.dialect.name == "postgresql" else "ANALYZE"))
    engine.dispose()
    return time.perf_counter() - t0


def measure(url: str, methods: list[str], lens_ra, lens_dec, cones: int, repeats: int, seed: int) -> dict:
    from lensdb.catalog.crossmatch import cone_search, crossmatch
    from lensdb.catalog.db import make_engine

    engine = make_engine(url)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(lens_ra), cones, replace=False)
    out = {}
    try:
        for method in methods:
            crossmatch(engine, lens_ra[:50], lens_dec[:50], 25.2, method=method)  # warm the caches
            times, pairs = [], None
            for _ in range(repeats):
                t0 = time.perf_counter()
                m = crossmatch(engine, lens_ra, lens_dec, 25.2, method=method)
                times.append(time.perf_counter() - t0)
                pairs = sorted(zip(m.index.tolist(), m.object_id.tolist(), strict=True))
            lat, found = [], []
            for i in pick:
                t0 = time.perf_counter()
                c = cone_search(engine, float(lens_ra[i]), float(lens_dec[i]), 60.0, method=method)
                lat.append(time.perf_counter() - t0)
                found.append(sorted(c.object_id.tolist()))
            out[method] = {"crossmatch_s": round(statistics.median(times), 4), "pairs": len(pairs),
                           "matched_lenses": len({p[0] for p in pairs}),
                           "cone_ms_median": round(1000 * statistics.median(lat), 3),
                           "cone_ms_p90": round(1000 * float(np.percentile(lat, 90)), 3),
                           "cone_rows": sum(len(f) for f in found), "_pairs": pairs, "_cones": found}
    finally:
        engine.dispose()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="sources in the catalogue (default 200,000)")
    ap.add_argument("--cones", type=int, default=200, help="cone searches per path (default 200)")
    ap.add_argument("--repeats", type=int, default=3, help="cross-match runs per path; the median counts")
    ap.add_argument("--seed", type=int, default=26)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "sky_index.json"))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests"))
    from pg_cluster import PrivatePostgres

    lens_ra, lens_dec, lens_file = lenses()
    cols = catalogue(args.n, lens_ra, lens_dec, args.seed)
    results: dict = {"n_sources": args.n, "n_lenses": len(lens_ra), "lens_file": lens_file,
                     "crossmatch_radius_arcsec": 25.2, "cone_radius_arcsec": 60.0, "cones": args.cones,
                     "repeats": args.repeats, "backends": {}}
    with_q3c = PrivatePostgres().start()
    private = PrivatePostgres(without=("q3c",)).start()
    tmp = Path(tempfile.mkdtemp(prefix="lensdb-bench-sky-"))
    try:
        q3c_url = with_q3c.create_database("bench")
        # PostgreSQL's default jit=on compiles the cross-match joins (large cost estimates): the same database
        # again with jit off, which many astronomy servers set, so both settings are on record.
        setups = [("postgresql_q3c", q3c_url, ["q3c", "healpix", "kdtree"]),
                  ("postgresql_q3c_jit_off", q3c_url + "?options=-c%20jit%3Doff", ["q3c", "healpix"]),
                  ("postgresql_no_q3c", private.create_database("bench"), ["healpix", "kdtree"]),
                  ("sqlite", f"sqlite:///{tmp / 'bench.sqlite'}", ["healpix", "kdtree"])]
        for label, url, methods in setups:
            load_s = load(url, cols) if label != "postgresql_q3c_jit_off" else 0.0
            print(f"{label}: loaded {args.n:,} sources in {load_s:.1f} s", flush=True)
            res = measure(url, methods, lens_ra, lens_dec, args.cones, args.repeats, args.seed)
            results["backends"][label] = {"load_s": round(load_s, 2), "paths": res}
            for m, r in res.items():
                print(f"  {m:8s} cross-match {r['crossmatch_s']:.3f} s ({r['pairs']} pairs), cone median "
                      f"{r['cone_ms_median']:.2f} ms", flush=True)
    finally:
        with_q3c.remove()
        private.remove()
        for f in tmp.glob("*"):
            f.unlink()
        tmp.rmdir()
    # Every path, every backend: the same pairs and the same cones.
    base = results["backends"]["postgresql_q3c"]["paths"]["q3c"]
    same = all(r["_pairs"] == base["_pairs"] and r["_cones"] == base["_cones"]
               for b in results["backends"].values() for r in b["paths"].values())
    results["same_rows_everywhere"] = same
    for b in results["backends"].values():
        for r in b["paths"].values():
            r.pop("_pairs"), r.pop("_cones")
            r["crossmatch_vs_q3c"] = round(r["crossmatch_s"] / base["crossmatch_s"], 2)
            r["cone_vs_q3c"] = round(r["cone_ms_median"] / base["cone_ms_median"], 2)
    results["reading"] = ("*_vs_q3c: time of the path divided by q3c's on PostgreSQL (default settings) in the "
                          "same run (> 1: slower than q3c). postgresql_no_q3c/healpix is what a stock or managed "
                          "PostgreSQL does; postgresql_q3c/healpix is the portable path on the very same database "
                          "as q3c; *_jit_off is that database with jit = off. Times include LensDB's Python work "
                          "(cover, exact distance) and the round trips, as a caller sees them.")
    import os

    results["machine"] = {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()}
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if not same:
        print("ERROR: the paths returned different rows", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
