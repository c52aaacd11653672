"""Every kind of bad shard, on SQLite and PostgreSQL: rejected whole, with a message naming the file, the key and
the problem, and nothing of it written (not even next to a good shard ingested before)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ingest_shards import edit_shard, make_columns, make_images, snapshot, write_test_shard

from lensdb.core.errors import InvalidInput
from lensdb.ingest.pipeline import IngestConfig, ingest_paths
from lensdb.ingest.schema import write_shard

N = 20
REPO = Path(__file__).resolve().parents[2]


def _bad(tmp_path, **datasets):
    """A valid shard 'bad.h5' (object ids apart from the good shard's) with datasets replaced or deleted."""
    return edit_shard(write_test_shard(tmp_path / "bad.h5", N, first_objid=500, seed=1), **datasets)


def _with_images(tmp_path, images, **column_options):
    return write_shard(tmp_path / "bad.h5", images, make_columns(len(images), first_objid=500, **column_options))


def _pixels(value, row=7, band=2):
    images = make_images(N, cutout=110)
    images[row, band, 30, 40] = value
    return images


def _column(key, value, row=5, band=None):
    cols = make_columns(N, first_objid=500, seed=1)
    values = cols[key].copy()
    values[(row, band) if band is not None else row] = value
    return values


def _truncated(tmp_path):
    path = write_test_shard(tmp_path / "bad.h5", N, first_objid=500)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    return path


#: case id -> (make the bad shard, key named in the message, regex for the problem)
CASES = {
    "missing-key": (lambda t: _bad(t, dec=None), "dec", "is missing"),
    "missing-images": (lambda t: _bad(t, images=None), "images", "is missing"),
    "missing-magnitudes": (lambda t: _bad(t, flux=None), "mag_g", "missing and there is no 'flux'"),
    "images-not-4d": (lambda t: _bad(t, images=make_images(N, cutout=110)[:, 0]), "images",
                      r"shape \(20, 110, 110\) is not \(N, 3, S, S\)"),
    "band-count-4": (lambda t: _bad(t, images=np.zeros((N, 4, 110, 110), np.float16)), "images", "4 bands"),
    "non-square": (lambda t: _bad(t, images=np.zeros((N, 3, 112, 120), np.float16)), "images",
                   "112x120 pixels, not square"),
    "cutout-too-small": (lambda t: _bad(t, images=np.zeros((N, 3, 96, 96), np.float32)), "images",
                         "96 pixels are smaller than the minimum 110"),
    "per-band-column-not-n-by-3": (lambda t: _bad(t, psfsize=np.ones(N, np.float32)), "psfsize",
                                   r"shape \(20,\) is not \(20, 3\)"),
    "column-length-not-n": (lambda t: _bad(t, ra=np.ones(N - 1)), "ra", "has 19 rows .* 'images' has 20"),
    "images-int": (lambda t: _bad(t, images=np.zeros((N, 3, 110, 110), np.int16)), "images",
                   "dtype int16 is not float32 or float16"),
    "images-float64": (lambda t: _bad(t, images=np.zeros((N, 3, 110, 110))), "images", "dtype float64"),
    "ra-as-string": (lambda t: _bad(t, ra=np.array(["12.5"] * N, dtype="S8")), "ra", "is not a number"),
    "objid-as-float": (lambda t: _bad(t, objid=np.arange(N, dtype=np.float64)), "objid", "not an integer"),
    "nan-in-images": (lambda t: _with_images(t, _pixels(np.nan)), "images",
                      "NaN or infinite pixels in 1 image.*first at row 7, band z"),
    "inf-in-images": (lambda t: _with_images(t, _pixels(-np.inf, row=19, band=0)), "images",
                      "NaN or infinite pixels .*first at row 19, band g"),
    "nan-in-catalogue": (lambda t: _bad(t, ebv=_column("ebv", np.nan)), "ebv", "1 NaN and 0 infinite.*row 5"),
    "inf-in-catalogue": (lambda t: _bad(t, psfdepth=_column("psfdepth", np.inf, 8, 1)), "psfdepth",
                         "0 NaN and 1 infinite.*first at row 8, band r"),
    "nan-in-flux": (lambda t: _bad(t, flux=_column("flux", np.nan, 2, 0)), "flux", "1 NaN"),
    "truncated-file": (_truncated, "(file)", "truncated"),
    "duplicate-ids-in-shard": (lambda t: _bad(t, objid=np.r_[np.arange(N - 1), 3].astype(np.int32)),
                               "release/brickid/objid", "duplicate object ids.*rows 3 and 19"),
    "ids-already-ingested": (lambda t: write_test_shard(t / "bad.h5", N, first_objid=10, seed=3),
                             "release/brickid/objid", "10 object id.*already ingested from shard.*good.h5"),
    "unknown-survey-column": (lambda t: write_test_shard(t / "bad.h5", N, first_objid=500, survey="west"),
                              "survey", "unknown survey 'west'"),
    "unknown-release": (lambda t: write_test_shard(t / "bad.h5", N, first_objid=500, release=9999), "release",
                        "release 9999 .* no known survey"),
    "unknown-source-type": (lambda t: _bad(t, source_type=np.array([b"GAL"] * N)), "source_type",
                            "unknown morphology 'GAL'"),
    "ra-out-of-range": (lambda t: _bad(t, ra=_column("ra", 400.0)), "ra", r"outside \[0.0, 360.0\]"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_shard_is_rejected_whole(tmp_path, catalog_engine, case):
    make, key, problem = CASES[case]
    good = write_test_shard(tmp_path / "good.h5", N)
    assert ingest_paths(catalog_engine, [good]).ok
    before = snapshot(catalog_engine)
    bad = make(tmp_path)

    report = ingest_paths(catalog_engine, [bad], config=IngestConfig(chunk_rows=8))

    (outcome,) = report.outcomes
    assert outcome.status == "rejected" and isinstance(outcome.error, InvalidInput)
    message = outcome.message
    assert str(bad) in message
    assert f"key '{key}'" in message or (key == "(file)" and "key (file)" in message)
    assert re.search(problem, message), message
    assert "; " in message.split(f"{key}", 1)[1]  # ... followed by what to do
    assert snapshot(catalog_engine) == before


def test_unknown_release_is_accepted_with_the_survey_flag_only_when_it_does_not_contradict(
        tmp_path, catalog_engine):
    mixed = write_test_shard(tmp_path / "mixed.h5", N, release=np.r_[[9010] * 10, [9999] * 10])
    report = ingest_paths(catalog_engine, [mixed], config=IngestConfig(survey="north"))
    (outcome,) = report.rejected
    assert "key 'release'" in outcome.message and "release 9010 at row 0 is in the south survey" in outcome.message
    assert snapshot(catalog_engine) == ([], [])
    assert ingest_paths(catalog_engine, [mixed], config=IngestConfig(survey="south")).ok


def test_cli_mixed_run_keeps_the_good_shards_and_exits_non_zero(tmp_path, catalog_url, catalog_engine):
    folder = tmp_path / "shards"
    folder.mkdir()
    write_test_shard(folder / "a_good.h5", N)
    _bad(folder, ebv=_column("ebv", np.nan))  # folder/bad.h5
    write_test_shard(folder / "c_good.h5", N, first_objid=1000)
    missing = tmp_path / "missing.h5"
    result = subprocess.run(
        [sys.executable, "-m", "lensdb.cli", "--database-url", catalog_url, "ingest", str(folder), str(missing),
         "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"ingested  {folder / 'a_good.h5'}: 20 rows")
    assert lines[1].startswith(f"rejected  {folder / 'bad.h5'}: key 'ebv': 1 NaN")
    assert lines[2].startswith(f"ingested  {folder / 'c_good.h5'}: 20 rows")
    assert lines[3] == f"rejected  {missing}: no such file; check the path"
    assert "2 shard(s) ingested (40 rows), 0 skipped, 2 rejected" in lines[4]
    sources, shards = snapshot(catalog_engine)
    assert [s.name for s in shards] == ["a_good.h5", "c_good.h5"] and len(sources) == 2 * N


def test_cli_refuses_a_database_without_the_schema(tmp_path, pg_url):
    path = write_test_shard(tmp_path / "a.h5", N)
    result = subprocess.run([sys.executable, "-m", "lensdb.cli", "--database-url", pg_url, "ingest", str(path)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "lensdb db upgrade" in result.stderr


def test_cli_creates_the_schema_of_an_empty_sqlite_database(tmp_path):
    path = write_test_shard(tmp_path / "a.h5", N)
    data_dir = tmp_path / "data"
    result = subprocess.run([sys.executable, "-m", "lensdb.cli", "--data-dir", str(data_dir), "ingest", str(path)],
                            cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if not k.startswith("LENSDB_")})
    assert result.returncode == 0, result.stderr
    assert (data_dir / "lensdb.sqlite").is_file() and "1 shard(s) ingested (20 rows)" in result.stdout
