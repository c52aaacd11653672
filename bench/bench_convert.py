"""Benchmark of ``lensdb convert``: objects per second and peak memory, against a naive converter in the same run.

Input: N per-object FITS cutouts in the Legacy Survey layout (152 px, g/r/z planes, float32 nanomaggies, TAN WCS),
written here with astropy, plus an ECSV catalogue.

- **lensdb convert**: headers and table checked first, then the pixels streamed ``chunk_rows`` objects at a time
  into staged shards (memory bounded by the chunk, not the survey).
- **baseline**: the straightforward script: read every cutout with astropy into a list, ``np.stack`` them, and write
  one HDF5 file with h5py in one go (memory grows with the survey).

Each runs in its own process (spawned), so the peak resident memory (ru_maxrss) is its own. The baseline's output is
checked to hold the same pixels as LensDB's shards.

Run:  python bench/bench_convert.py [--n 1500] [--out bench/results/convert.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZE = 152


def write_input(folder: Path, n: int) -> Path:
    from astropy.io import fits
    from astropy.table import Table

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    ra, dec = 150 + rng.uniform(0, 1, n), 2 + rng.uniform(0, 1, n)
    for i in range(n):
        h = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": ra[i], "CRVAL2": dec[i],
                         "CRPIX1": (SIZE + 1) / 2, "CRPIX2": (SIZE + 1) / 2, "CD1_1": -0.262 / 3600, "CD1_2": 0.0,
                         "CD2_1": 0.0, "CD2_2": 0.262 / 3600, "BANDS": "grz", "BUNIT": "nanomaggy"})
        data = rng.normal(0, 0.02, (3, SIZE, SIZE)).astype(np.float32)
        fits.PrimaryHDU(data, header=h).writeto(folder / f"obj_{i:06d}.fits")
    table = folder.parent / "catalogue.ecsv"
    Table({"ra": ra, "dec": dec, "mag_g": np.full(n, 20.0), "mag_r": np.full(n, 19.5),
           "mag_z": np.full(n, 19.0)}).write(table)
    return table


def run_lensdb(folder: str, table: str, out: str, queue) -> None:
    from lensdb.ingest.convert import ConvertConfig, convert

    t = time.perf_counter()
    report = convert(out, table=table, cutouts=[folder], config=ConvertConfig(shard_rows=1000, chunk_rows=256))
    queue.put({"seconds": time.perf_counter() - t, "objects": report.n_objects,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run_naive(folder: str, table: str, out: str, queue) -> None:
    import h5py
    from astropy.io import fits
    from astropy.table import Table

    t = time.perf_counter()
    files = sorted(Path(folder).glob("*.fits"))
    images = []
    for f in files:
        with fits.open(f) as hdul:
            images.append(np.array(hdul[0].data, dtype=np.float32))
    cube = np.stack(images)
    cat = Table.read(table)
    Path(out).mkdir(parents=True)
    with h5py.File(Path(out) / "all.h5", "w") as h:
        h["images"] = cube
        for name in cat.colnames:
            h[name] = np.asarray(cat[name])
    queue.put({"seconds": time.perf_counter() - t, "objects": len(files),
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def measure(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get(timeout=3600)
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"{target.__name__} failed with exit code {proc.exitcode}")
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1500, help="objects (default 1500)")
    ap.add_argument("--out", default="bench/results/convert.json")
    args = ap.parse_args()
    import h5py

    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        table = write_input(tmp / "cutouts", args.n)
        print(f"wrote {args.n} FITS cutouts of {SIZE} px in {time.perf_counter() - t:.1f} s")
        naive = measure(run_naive, str(tmp / "cutouts"), str(table), str(tmp / "naive"))
        ours = measure(run_lensdb, str(tmp / "cutouts"), str(table), str(tmp / "lensdb"))
        with h5py.File(tmp / "naive" / "all.h5") as a:
            shards = sorted((tmp / "lensdb").glob("*.h5"))
            start = 0
            for s in shards:
                with h5py.File(s) as b:
                    n = b["images"].shape[0]
                    assert np.array_equal(a["images"][start:start + n], b["images"][:]), s
                    start += n
            assert start == a["images"].shape[0]
    for r in (naive, ours):
        r["objects_per_s"] = r["objects"] / r["seconds"]
    speed = ours["objects_per_s"] / naive["objects_per_s"]
    memory = naive["peak_rss_mb"] / ours["peak_rss_mb"]
    print(f"naive (astropy read all, h5py write once): {naive['objects_per_s']:,.0f} objects/s, "
          f"peak {naive['peak_rss_mb']:,.0f} MB")
    print(f"lensdb convert (checked, streamed, staged): {ours['objects_per_s']:,.0f} objects/s, "
          f"peak {ours['peak_rss_mb']:,.0f} MB")
    print(f"ratio: {speed:.2f}x the baseline's speed, {memory:.2f}x less peak memory")
    result = {"benchmark": "convert", "n_objects": args.n, "cutout": SIZE, "baseline": naive, "lensdb": ours,
              "speed_ratio": speed, "memory_ratio": memory, "python": sys.version.split()[0],
              "machine": platform.machine(), "cpus": os.cpu_count(),
              "note": "per-object FITS cutouts on local disk; memory is each process's peak resident set"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
