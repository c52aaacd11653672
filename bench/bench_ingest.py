"""Benchmark of catalogue ingest and of the shard image stream, with the baselines measured in the same run.

1. Catalogue rows/s into the ``sources`` table (all its indexes, its foreign key and, on PostgreSQL, the q3c
   index), from the same numpy columns: catalog.bulk (binary COPY on PostgreSQL, raw executemany on SQLite)
   against two ORM baselines, ``session.add_all`` of Source objects and ``session.execute(insert(Source),
   list_of_dicts)`` (SQLAlchemy's batched executemany). Each method starts from an empty table and its time
   includes turning the arrays into what it consumes (dicts, objects, bytes) and the commit. Also: the same
   COPY into an index-free copy of the table, to show what the indexes and the foreign key cost.
2. ``lensdb ingest`` end to end (validation, fingerprint, image check, write) on a shard with small cutouts.
3. HDF5 read MB/s of the image stream (released format: float32, 152 px) against a plain h5py full read and a
   raw read of the file's bytes. The file was just written and fits in RAM: these are warm-cache figures.

The machine is shared (2 cores, other jobs running): figures move by 10-30 % between runs.

Run:  python bench/bench_ingest.py [--rows 300000] [--orm-rows 30000] [--out bench/results/ingest.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import sqlalchemy
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from lensdb.catalog.bulk import copy_batches
from lensdb.catalog.db import make_engine, upgrade
from lensdb.catalog.models import Shard, Source
from lensdb.core.ids import SOURCE_TYPES
from lensdb.ingest import checks
from lensdb.ingest.pipeline import IngestConfig, Progress, ingest_paths
from lensdb.ingest.reader import catalog_columns, open_shard
from lensdb.ingest.schema import write_shard

PG_ADMIN_URL = os.environ.get("LENSDB_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
CHUNK = 100_000  # rows per batch handed to catalog.bulk, as ingest does


def raw_catalogue(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Shard-like catalogue columns (released variant: flux (N, 3), fixed-length bytes text)."""
    rng = np.random.default_rng(seed)
    return {
        "release": np.full(n, 9010, np.int16), "brickid": rng.integers(0, 600_000, n).astype(np.int32),
        "objid": np.arange(n, dtype=np.int32), "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-60, 80, n),
        "ebv": rng.uniform(0, 0.1, n).astype(np.float32),
        "psfsize": rng.uniform(0.8, 2.0, (n, 3)).astype(np.float32),
        "psfdepth": rng.uniform(100, 5000, (n, 3)).astype(np.float32),
        "flux": rng.lognormal(1, 1, (n, 3)).astype(np.float32),
        "source_type": np.array([t.encode() for t in SOURCE_TYPES[:5]])[rng.integers(0, 5, n)],
        "z_phot_mean": rng.uniform(0, 1.2, n).astype(np.float32),
        "z_phot_std": rng.uniform(0, 0.2, n).astype(np.float32),
    }


def source_columns(n: int) -> dict[str, np.ndarray]:
    raw = raw_catalogue(n)
    cols = catalog_columns(raw, np.full(n, b"south"))
    cols["shard_id"] = np.ones(n, np.int64)
    cols["row"] = np.arange(n, dtype=np.int64)
    return cols


def dicts(cols: dict[str, np.ndarray], n: int) -> list[dict]:
    """Row dicts with plain Python values (NaN as None), as an ORM user would build them."""
    lists = {}
    for key, values in cols.items():
        values = values[:n]
        if values.dtype.kind == "S":
            lists[key] = values.astype("U").tolist()
        elif values.dtype.kind == "f":
            lists[key] = [None if v != v else v for v in values.tolist()]
        else:
            lists[key] = values.tolist()
    return [dict(zip(lists, row, strict=True)) for row in zip(*lists.values(), strict=True)]


def reset(engine, shard_row: bool = True) -> None:
    """Empty the catalogue; with ``shard_row``, add the shard (id 1) that the benchmark rows refer to."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE sources, shards, jobs RESTART IDENTITY CASCADE"))
        else:
            for table in ("sources", "shards", "jobs"):
                conn.execute(text(f"DELETE FROM {table}"))
        if shard_row:
            conn.execute(insert(Shard).values(name="bench", path="-", fingerprint="-", n_rows=0, cutout=152,
                                              image_dtype="float32"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE sources"))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by the PostgreSQL backend process ``pid`` (on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def measure(fn, rows: int) -> dict:
    """Run ``fn(note_pid)`` once: wall time, and CPU time of this process and of the database backend.

    Rows per CPU second (client + server) does not depend on what else the shared machine runs; it is what one
    otherwise idle core would give if client and server did not overlap (with two cores they do)."""
    backends: list[tuple[int, float]] = []  # (pid, its CPU seconds before the work)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    fn(backends.append)
    wall, client = time.perf_counter() - wall0, time.process_time() - cpu0
    server = sum(server_cpu(pid) - before for pid, before in backends)
    return {"rows": rows, "seconds": round(wall, 3), "rows_per_s": round(rows / wall),
            "client_cpu_s": round(client, 3), "server_cpu_s": round(server, 3),
            "rows_per_cpu_s": round(rows / (client + server))}


def _note_backend(conn, note) -> None:
    """Report the PostgreSQL backend behind ``conn`` and its CPU time before the work starts."""
    if conn.dialect.name == "postgresql":
        pid = conn.connection.dbapi_connection.get_backend_pid()
        note((pid, server_cpu(pid)))


def bench_database(url: str, cols: dict[str, np.ndarray], n: int, n_core: int, n_orm: int,
                   repeats: int) -> dict:
    engine = make_engine(url)
    backend = engine.dialect.name
    out: dict = {"backend": backend}

    def orm_add_all(note):
        with Session(engine) as session:
            _note_backend(session.connection(), note)
            session.add_all([Source(**row) for row in dicts(cols, n_orm)])
            session.commit()

    def orm_bulk_insert(note):
        with Session(engine) as session:
            _note_backend(session.connection(), note)
            session.execute(insert(Source), dicts(cols, n_core))
            session.commit()

    def bulk(note, table="sources"):
        with engine.begin() as conn:
            _note_backend(conn, note)
            batches = ({k: v[s:s + CHUNK] for k, v in cols.items()} for s in range(0, n, CHUNK))
            copy_batches(conn, table, batches)

    def show(name, r):
        print(f"  {backend:<10} {name:<24} {r['rows']:>8,} rows {r['seconds']:7.2f} s {r['rows_per_s']:>9,} rows/s"
              f"  (cpu: client {r['client_cpu_s']:.2f} s, server {r['server_cpu_s']:.2f} s, "
              f"{r['rows_per_cpu_s']:,} rows/cpu-s)", flush=True)

    try:
        plans = [("orm_add_all", orm_add_all, n_orm, 1), ("orm_bulk_insert", orm_bulk_insert, n_core, 1),
                 ("catalog_bulk", bulk, n, repeats)]
        for name, fn, rows, times in plans:
            runs = []
            for _ in range(times):
                reset(engine)
                runs.append(measure(fn, rows))
                show(name, runs[-1])
            # The median run, so that one lucky (or starved) run on the shared machine does not decide.
            out[name] = sorted(runs, key=lambda r: r["rows_per_s"])[len(runs) // 2] | {"runs": len(runs)}
        if backend == "postgresql":  # what --workers 2 does for the database stage: two shards at once
            reset(engine)
            out["catalog_bulk_2_workers"] = measure(lambda note: two_shards_at_once(engine, cols, n, note), n)
            show("catalog_bulk, 2 workers", out["catalog_bulk_2_workers"])
        reset(engine)
        with engine.begin() as conn:  # the table's columns without its indexes, constraints or foreign key
            conn.execute(text("CREATE TABLE bench_plain AS SELECT * FROM sources WHERE 1 = 0"))
        out["catalog_bulk_no_indexes"] = measure(lambda note: bulk(note, "bench_plain"), n)
        show("(same, no indexes/FK)", out["catalog_bulk_no_indexes"])
        for base in ("orm_add_all", "orm_bulk_insert"):
            for metric in ("rows_per_s", "rows_per_cpu_s"):
                out[f"speedup_vs_{base}_{metric}"] = round(out["catalog_bulk"][metric] / out[base][metric], 1)
    finally:
        engine.dispose()
    return out


def two_shards_at_once(engine, cols: dict[str, np.ndarray], n: int, note) -> None:
    """Half of the rows each in two threads, connections and transactions, as two shards would go."""
    with engine.begin() as conn:
        conn.execute(insert(Shard).values(name="bench2", path="-", fingerprint="-", n_rows=0, cutout=152,
                                          image_dtype="float32"))
        second = conn.execute(text("SELECT max(id) FROM shards")).scalar()

    def half(k: int) -> None:
        part = slice(0, n // 2) if k == 0 else slice(n // 2, n)
        with engine.begin() as conn:
            _note_backend(conn, note)
            batch = {key: values[part] for key, values in cols.items()}
            if k == 1:
                batch["shard_id"] = np.full(len(batch["row"]), second, np.int64)
            copy_batches(conn, "sources", ({key: v[s:s + CHUNK] for key, v in batch.items()}
                                           for s in range(0, len(batch["row"]), CHUNK)))

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(half, (0, 1)))


class PhaseClock(Progress):
    """Records when the image check and the write of a shard start and end."""

    def __init__(self):
        self.marks: dict[str, float] = {}

    def shard_started(self, name, n_rows):
        self.marks["start"] = time.perf_counter()

    def rows_checked(self, name, n):
        self.marks.setdefault("check_first", time.perf_counter())
        self.marks["check_last"] = time.perf_counter()

    def rows_written(self, name, n):
        self.marks.setdefault("write_first", time.perf_counter())

    def shard_finished(self, outcome):
        self.marks["finished"] = time.perf_counter()


def bench_full_ingest(url: str, shard: Path, n: int) -> dict:
    engine = make_engine(url)
    try:
        reset(engine, shard_row=False)
        clock = PhaseClock()
        start = time.perf_counter()
        report = ingest_paths(engine, [shard], config=IngestConfig(), progress=clock)
        total = time.perf_counter() - start
        assert report.ok and report.rows_written == n, report.summary()
        again = timed(lambda: ingest_paths(engine, [shard]))
    finally:
        engine.dispose()
    m = clock.marks
    phases = {"catalogue_pass_and_fingerprint": m["check_first"] - m["start"],
              "image_check": m["check_last"] - m["check_first"], "write_and_commit": m["finished"] - m["check_last"]}
    result = {"rows": n, "shard_mb": round(shard.stat().st_size / 2**20, 1), "seconds": round(total, 3),
              "rows_per_s": round(n / total), "phase_seconds": {k: round(v, 3) for k, v in phases.items()},
              "rows_per_s_write_phase": round(n / phases["write_and_commit"]),
              "reingest_skip_seconds": round(again, 3)}
    print(f"  {engine.dialect.name:<10} full ingest {n:,} rows ({result['shard_mb']} MB): {total:.2f} s = "
          f"{result['rows_per_s']:,} rows/s end to end; phases (s) {result['phase_seconds']}; write phase "
          f"{result['rows_per_s_write_phase']:,} rows/s; re-ingest (skipped) {again:.2f} s", flush=True)
    return result


def bench_hdf5(path: Path, repeats: int) -> dict:
    size_mb = path.stat().st_size / 2**20
    with h5py.File(path) as f:
        image_mb = f["images"].size * f["images"].dtype.itemsize / 2**20

    def full_h5py():
        with h5py.File(path) as f:
            f["images"][()]

    def raw_bytes():
        np.fromfile(path, dtype=np.uint8)

    def stream(check: bool):
        with open_shard(path) as reader:
            for start, images in reader.iter_images(64 << 20):
                if check:
                    checks.check_images(path, images, start)

    results = {"file_mb": round(size_mb, 1), "image_mb": round(image_mb, 1)}
    for name, fn, mb in (("raw_file_read", raw_bytes, size_mb), ("h5py_full_read", full_h5py, image_mb),
                         ("lensdb_stream", lambda: stream(False), image_mb),
                         ("lensdb_stream_checked", lambda: stream(True), image_mb)):
        best = min(timed(fn) for _ in range(repeats))
        results[name] = {"seconds": round(best, 3), "mb_per_s": round(mb / best)}
        print(f"  hdf5 {name:<22} {mb:8.0f} MB {best:6.2f} s {mb / best:8,.0f} MB/s", flush=True)
    return results


def make_pg_database() -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lensdb_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000, help="catalogue rows for catalog.bulk")
    parser.add_argument("--core-rows", type=int, default=100_000,
                        help="rows for the session.execute(insert(Source), dicts) baseline")
    parser.add_argument("--orm-rows", type=int, default=30_000, help="rows for the (slow) add_all baseline")
    parser.add_argument("--db-repeats", type=int, default=3, help="catalog.bulk runs per backend (median)")
    parser.add_argument("--shard-rows", type=int, default=20_000, help="rows of the full-ingest shard (110 px)")
    parser.add_argument("--image-rows", type=int, default=4_000, help="rows of the 152 px float32 read shard")
    parser.add_argument("--repeats", type=int, default=3, help="HDF5 reads: best of this many")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "ingest.json")
    args = parser.parse_args(argv)

    cols = source_columns(args.rows)
    pg_url = make_pg_database()
    results: dict = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                                 "cpus": os.cpu_count(), "numpy": np.__version__, "h5py": h5py.__version__,
                                 "sqlalchemy": sqlalchemy.__version__, "load_average_at_start": os.getloadavg(),
                                 "note": "shared 2-core machine: wall-clock figures are noisy"},
                     "params": vars(args) | {"out": str(args.out)}}
    with tempfile.TemporaryDirectory(prefix="lensdb-bench-") as tmp:
        tmp = Path(tmp)
        sqlite_url = f"sqlite:///{tmp / 'bench.sqlite'}"
        try:
            print(f"catalogue inserts (catalog.bulk {args.rows:,} rows x {args.db_repeats}; ORM bulk insert "
                  f"{args.core_rows:,}; add_all {args.orm_rows:,})", flush=True)
            for url in (pg_url, sqlite_url):
                upgrade(url)
                results[make_url(url).get_backend_name()] = bench_database(
                    url, cols, args.rows, args.core_rows, args.orm_rows, args.db_repeats)

            print("full ingest", flush=True)
            raw = raw_catalogue(args.shard_rows, seed=1)
            rng = np.random.default_rng(2)
            images = rng.normal(0, 0.01, (args.shard_rows, 3, 110, 110)).astype(np.float16)
            shard = write_shard(tmp / "images_npix110_000000000_bench.h5", images, raw)
            del images
            for url in (pg_url, sqlite_url):
                name = make_url(url).get_backend_name()
                results[name]["full_ingest"] = bench_full_ingest(url, shard, args.shard_rows)
        finally:
            drop_pg_database(pg_url)

        print("HDF5 image stream", flush=True)
        images = np.random.default_rng(3).normal(0, 0.01, (args.image_rows, 3, 152, 152)).astype(np.float32)
        released = write_shard(tmp / "images_npix152_000000000_bench.h5", images, raw_catalogue(args.image_rows))
        del images
        results["hdf5_read"] = bench_hdf5(released, args.repeats)

    results["machine"]["load_average_at_end"] = os.getloadavg()
    pg_rate = results["postgresql"]["catalog_bulk"]["rows_per_s"]
    pg_cpu_rate = results["postgresql"]["catalog_bulk"]["rows_per_cpu_s"]
    results["target"] = {"postgresql_rows_per_s": 50_000, "measured_rows_per_s": pg_rate,
                         "measured_rows_per_cpu_s": pg_cpu_rate, "met": pg_rate >= 50_000}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for backend in ("postgresql", "sqlite"):
        r = results[backend]
        print(f"{backend}: catalog.bulk {r['catalog_bulk']['rows_per_s']:,} rows/s = "
              f"{r['speedup_vs_orm_add_all_rows_per_s']}x session.add_all, "
              f"{r['speedup_vs_orm_bulk_insert_rows_per_s']}x session.execute(insert(Source), dicts) "
              f"(per CPU second: {r['speedup_vs_orm_add_all_rows_per_cpu_s']}x, "
              f"{r['speedup_vs_orm_bulk_insert_rows_per_cpu_s']}x)")
    h = results["hdf5_read"]
    print(f"hdf5: stream {h['lensdb_stream']['mb_per_s']:,} MB/s (checked {h['lensdb_stream_checked']['mb_per_s']:,})"
          f" vs h5py full read {h['h5py_full_read']['mb_per_s']:,} MB/s, raw bytes {h['raw_file_read']['mb_per_s']:,}")
    print(f"target >= 50,000 rows/s into PostgreSQL: {'met' if results['target']['met'] else 'NOT met'} "
          f"({pg_rate:,} rows/s wall, {pg_cpu_rate:,} rows per CPU second); load average "
          f"{results['machine']['load_average_at_start'][0]:.1f} -> {results['machine']['load_average_at_end'][0]:.1f};"
          f" wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
