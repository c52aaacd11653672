"""Ingest on SQLite and PostgreSQL: values, variants, idempotency, conflicts, jobs, and a SIGKILL mid-ingest."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from ingest_shards import edit_shard, make_columns, snapshot, write_test_shard
from sqlalchemy import func, select, text

from lensdb.catalog.models import Job, Shard, Source
from lensdb.core.config import load_settings
from lensdb.core.errors import Conflict
from lensdb.core.ids import make_object_id
from lensdb.core.units import MAG_ZEROPOINT
from lensdb.ingest.pipeline import IngestConfig, ingest_paths, ingest_shard
from lensdb.ingest.reader import find_shards

REPO = Path(__file__).resolve().parents[2]


def _rows(engine) -> dict[int, dict]:
    with engine.connect() as conn:
        return {r.object_id: r._asdict() for r in conn.execute(select(Source.__table__))}


def test_rows_and_values(tmp_path, catalog_engine):
    n = 40
    path = write_test_shard(tmp_path / "images_npix112_000000000_000000040.h5", n, release=9010, brickid=321)
    report = ingest_paths(catalog_engine, [path], config=IngestConfig(chunk_rows=16))
    assert report.ok and [o.status for o in report.outcomes] == ["ingested"]
    assert report.rows_written == n
    cols = make_columns(n, release=9010, brickid=321)
    rows = _rows(catalog_engine)
    ids = make_object_id(9010, 321, np.arange(n))
    assert sorted(rows) == sorted(ids.tolist())
    for i, oid in enumerate(ids.tolist()):
        row = rows[oid]
        assert (row["release"], row["brickid"], row["objid"], row["row"]) == (9010, 321, i, i)
        assert row["survey"] == "south"
        assert row["ra"] == cols["ra"][i] and row["dec"] == cols["dec"][i]  # float64, exact
        assert row["ebv"] == float(cols["ebv"][i])  # float32 kept bit for bit
        assert row["psfsize_r"] == float(cols["psfsize"][i, 1])
        assert row["psfdepth_z"] == float(cols["psfdepth"][i, 2])
        assert row["source_type"] == cols["source_type"][i].decode()
        assert row["z_phot_mean"] == float(cols["z_phot_mean"][i]) and row["z_phot_median"] is None
        for b, band in enumerate("grz"):
            flux = float(cols["flux"][i, b])
            if flux > 0:
                assert row[f"mag_{band}"] == pytest.approx(MAG_ZEROPOINT - 2.5 * np.log10(flux), rel=1e-12)
            else:
                assert row[f"mag_{band}"] is None
    assert rows[int(ids[3])]["mag_g"] is None  # non-positive flux
    with catalog_engine.connect() as conn:
        shard = conn.execute(select(Shard.__table__)).one()
        job = conn.execute(select(Job.__table__)).one()
    assert (shard.name, shard.n_rows, shard.cutout, shard.image_dtype) == (path.name, n, 112, "float16")
    assert shard.job_id == job.id == report.job_id and job.kind == "ingest" and job.status == "done"
    assert "1 shard(s) ingested" in job.message


def test_mag_columns_str_text_and_survey_column(tmp_path, catalog_engine):
    a = write_test_shard(tmp_path / "a.h5", 12, mags="mag", text="str", release=9011, first_objid=0)
    b = write_test_shard(tmp_path / "b.h5", 12, survey="north", release=9010, first_objid=100)
    report = ingest_paths(catalog_engine, [tmp_path])
    assert [o.status for o in report.outcomes] == ["ingested", "ingested"]
    rows = _rows(catalog_engine)
    cols_a = make_columns(12, mags="mag", text="str", release=9011)
    for i in range(12):
        row = rows[int(make_object_id(9011, 1234, i))]
        assert row["survey"] == "north"  # from release 9011
        assert row["mag_r"] == float(cols_a["mag_r"][i])
        assert row["source_type"] == str(cols_a["source_type"][i])
    # b: release 9010 would say south, but LensDB's own survey column wins
    assert {rows[int(make_object_id(9010, 1234, 100 + i))]["survey"] for i in range(12)} == {"north"}
    assert {o.path for o in report.outcomes} == {a, b}


def test_survey_flag_for_unknown_releases(tmp_path, catalog_engine):
    path = write_test_shard(tmp_path / "dr10.h5", 10, release=10001)
    report = ingest_paths(catalog_engine, [path], config=IngestConfig(survey="south"))
    assert report.ok
    assert {r["survey"] for r in _rows(catalog_engine).values()} == {"south"}


def test_ingesting_again_changes_nothing(tmp_path, catalog_engine):
    write_test_shard(tmp_path / "a.h5", 30)
    write_test_shard(tmp_path / "b.h5", 30, first_objid=1000)
    first = ingest_paths(catalog_engine, [tmp_path])
    before = snapshot(catalog_engine)
    again = ingest_paths(catalog_engine, [tmp_path / "a.h5", tmp_path])  # a.h5 twice: counted once
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]
    assert [o.shard_id for o in again.outcomes] == [o.shard_id for o in first.outcomes]
    assert again.rows_written == 0 and again.ok
    assert snapshot(catalog_engine) == before
    with catalog_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Job)).scalar() == 2


def test_changed_shard_with_a_known_name_is_a_conflict(tmp_path, catalog_engine):
    path = write_test_shard(tmp_path / "a.h5", 20)
    ingest_paths(catalog_engine, [path])
    before = snapshot(catalog_engine)
    other = tmp_path / "elsewhere"
    other.mkdir()
    write_test_shard(other / "a.h5", 20, seed=5, first_objid=500)
    report = ingest_paths(catalog_engine, [other / "a.h5"])
    (outcome,) = report.rejected
    assert isinstance(outcome.error, Conflict)
    assert "a.h5" in outcome.message and "fingerprint" in outcome.message and "new name" in outcome.message
    assert snapshot(catalog_engine) == before


def test_pixels_are_part_of_the_fingerprint(tmp_path, catalog_engine):
    path = write_test_shard(tmp_path / "a.h5", 20)
    first = ingest_shard(catalog_engine, path)
    with h5py.File(path, "a") as f:
        f["images"][0, 0, 50, 50] = 1.5  # row 0 is one of the sampled rows
    second = ingest_shard(catalog_engine, path)
    assert second.status == "rejected" and isinstance(second.error, Conflict)
    assert first.fingerprint != second.fingerprint


def test_ingest_from_an_open_h5py_file_and_settings(tmp_path, catalog_url):
    path = write_test_shard(tmp_path / "a.h5", 10)
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"), database_url=catalog_url)
    from lensdb.catalog.db import make_engine

    engine = make_engine(catalog_url)
    try:
        with h5py.File(path, "r") as f:
            outcome = ingest_shard(engine, f)
            assert f.id.valid  # still open
        assert outcome.status == "ingested" and outcome.rows == 10
        assert ingest_paths(settings, [path]).outcomes[0].status == "skipped"
    finally:
        engine.dispose()


def test_parallel_workers_give_the_same_catalogue(tmp_path, catalog_engine):
    for k in range(4):
        write_test_shard(tmp_path / f"s{k}.h5", 25, seed=k, first_objid=100 * k)
    edit_shard(write_test_shard(tmp_path / "s2_bad.h5", 25, first_objid=900), objid=None)
    report = ingest_paths(catalog_engine, [tmp_path], config=IngestConfig(workers=3, chunk_rows=10))
    assert [(o.name, o.status) for o in report.outcomes] == [
        ("s0.h5", "ingested"), ("s1.h5", "ingested"), ("s2.h5", "ingested"), ("s2_bad.h5", "rejected"),
        ("s3.h5", "ingested")]
    rows = _rows(catalog_engine)
    expected = np.concatenate([make_object_id(9010, 1234, np.arange(100 * k, 100 * k + 25)) for k in range(4)])
    assert sorted(rows) == sorted(expected.tolist())
    with catalog_engine.connect() as conn:
        shard_ids = dict(conn.execute(select(Shard.name, Shard.id)).all())
    assert {(r["shard_id"], r["objid"] // 100) for r in rows.values()} == {
        (shard_ids[f"s{k}.h5"], k) for k in range(4)}


def test_find_shards_expands_folders_in_name_order(tmp_path):
    for name in ("b.h5", "a.h5", "notes.txt", "c.h5.tmp"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.h5").write_bytes(b"")
    assert [p.name for p in find_shards([tmp_path])] == ["a.h5", "b.h5"]
    assert [p.name for p in find_shards([tmp_path / "b.h5", tmp_path])] == ["b.h5", "a.h5"]


# --- a real process, killed with SIGKILL in the middle of an ingest, then run again ---------------------------

def _ingest_command(url: str, folder: Path) -> list[str]:
    return [sys.executable, "-m", "lensdb.cli", "--database-url", url, "ingest", str(folder), "--chunk-rows", "10",
            "--no-progress"]


#: A real ingest in its own process whose progress callback, once ``after`` catalogue chunks have gone into the
#: open write transaction, writes a marker file and sleeps until the test kills the process.
PAUSING_INGEST = """
import sys, time
from pathlib import Path
from lensdb.ingest.pipeline import IngestConfig, Progress, ingest_paths

url, folder, after, marker = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])

class Pause(Progress):
    sent = 0

    def rows_written(self, name, n):
        Pause.sent += 1
        if Pause.sent >= after:
            marker.write_text("paused")
            while True:
                time.sleep(3600)

ingest_paths(url, [folder], config=IngestConfig(chunk_rows=10), progress=Pause())
"""


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the ingest exited ({proc.returncode}) before pausing:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the ingest did not reach its pause point")
        time.sleep(0.05)


def _write_transaction_open(engine) -> bool:
    """Whether another process holds an open write transaction: a COPY in flight on PostgreSQL, the write lock
    on SQLite."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND query LIKE 'COPY %'")).scalar() == 1
    probe = sqlite3.connect(engine.url.database, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.rollback()
        return False
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc)
    finally:
        probe.close()


@pytest.mark.parametrize("pause_after_chunks, committed_shards", [(2, 0), (6, 1)])
def test_sigkill_mid_ingest_then_rerun(tmp_path, catalog_engine, catalog_url, pause_after_chunks,
                                       committed_shards):
    folder = tmp_path / "shards"
    folder.mkdir()
    n = 40  # 4 chunks of 10 rows per shard
    for k in range(3):
        write_test_shard(folder / f"s{k}.h5", n, seed=k, first_objid=1000 * k)
    marker = tmp_path / "paused"
    proc = subprocess.Popen([sys.executable, "-c", PAUSING_INGEST, catalog_url, str(folder), str(pause_after_chunks),
                             str(marker)], cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(marker, proc)
    # Paused inside the write transaction of the next shard: only whole shards are visible.
    assert _write_transaction_open(catalog_engine)
    sources, shards = snapshot(catalog_engine)
    assert len(shards) == committed_shards and len(sources) == n * committed_shards
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    sources, shards = snapshot(catalog_engine)
    assert len(shards) == committed_shards and len(sources) == n * committed_shards  # nothing half-written

    rerun = subprocess.run(_ingest_command(catalog_url, folder), cwd=REPO, text=True, capture_output=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    statuses = [line.split()[0] for line in rerun.stdout.splitlines()[:-1]]
    assert statuses == ["skipped"] * committed_shards + ["ingested"] * (3 - committed_shards)
    with catalog_engine.connect() as conn:
        ids = conn.execute(select(Source.object_id)).scalars().all()
        per_shard = conn.execute(select(Shard.name, Shard.n_rows, func.count(Source.object_id))
                                 .join(Source, Source.shard_id == Shard.id).group_by(Shard.name, Shard.n_rows)
                                 .order_by(Shard.name)).all()
        job_statuses = sorted(conn.execute(select(Job.status)).scalars().all())
    expected = np.concatenate([make_object_id(9010, 1234, np.arange(1000 * k, 1000 * k + n)) for k in range(3)])
    assert len(ids) == len(set(ids)) == 3 * n
    assert sorted(ids) == sorted(expected.tolist())
    assert per_shard == [(f"s{k}.h5", n, n) for k in range(3)]
    # The killed run could not record its end; the re-run found its process gone and marked it failed.
    assert job_statuses == ["done", "failed"]


def test_rejected_fields_are_reported_without_stopping_the_run(tmp_path, catalog_engine):
    good = write_test_shard(tmp_path / "a.h5", 10)
    bad = edit_shard(write_test_shard(tmp_path / "b.h5", 10, first_objid=50), psfsize=None)
    report = ingest_paths(catalog_engine, [tmp_path])
    assert [(o.path, o.status) for o in report.outcomes] == [(good, "ingested"), (bad, "rejected")]
    assert not report.ok and "1 rejected" in report.summary()
