"""Scoring: inner-product search equals the full pass, predictions joinable with sources, TSV and PNG exports."""

import csv
import uuid

import h5py
import numpy as np
import pytest
from clf_helpers import add_sources, lens_vectors
from sqlalchemy import text

from lensdb.classifiers.features import ArrayFeatures, StoreFeatures, write_store
from lensdb.classifiers.registry import get_model, save_model
from lensdb.classifiers.scoring import rank_by_search, rank_full_pass, score_filter, score_probe
from lensdb.core.config import load_settings
from lensdb.core.errors import Conflict, InvalidInput, NotFound
from lensdb.vectordb.config import VectorDBConfig
from lensdb.vectordb.store import VectorStore

DIM = 16


def _probe(engine, encoder_version="enc", dim=DIM, seed=1, name="probe-a"):
    w = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return save_model(engine, kind="probe", name=name, encoder_version=encoder_version, params={}, metrics={},
                      training_set={}, weights=w, bias=-3.0)


def _brute(ids, raw, w, b, n):
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    logits = unit @ w + b
    order = np.lexsort((ids, -logits))[:n]
    return ids[order], logits[order]


def test_array_search_and_full_pass_equal_brute_force(sqlite_engine):
    rng = np.random.default_rng(0)
    ids = rng.permutation(np.arange(10_000, 12_000)).astype(np.int64)
    raw = lens_vectors(2000, np.zeros(2000, bool), DIM, seed=3)
    source = ArrayFeatures(ids, raw, "enc")
    w, b = rng.standard_normal(DIM).astype(np.float32), -1.0
    ref_ids, ref_logits = _brute(ids, raw, w, b, 150)
    full = rank_full_pass(source, w, b, n=150, block_rows=97)
    search = rank_by_search(source, w, b, 150)
    assert np.array_equal(full.ids, ref_ids) and np.array_equal(search.ids, ref_ids)
    assert np.allclose(full.logits, ref_logits, atol=1e-5) and full.scanned == 2000
    allowed = np.sort(ids[::3])
    sub = rank_full_pass(source, w, b, n=20, allowed=allowed)
    assert set(sub.ids) <= set(allowed) and np.array_equal(sub.ids, rank_by_search(source, w, b, 20,
                                                                                       allowed=allowed).ids)


@pytest.mark.parametrize("backend", ["lite-file", "milvus"])
def test_milvus_search_equals_full_pass_and_predictions_join_sources(engine, tmp_path, backend, request):
    """On a Lite file and on the real Milvus server (a fresh encoder version there: the server is shared)."""
    ids = add_sources(engine, 600, survey=np.where(np.arange(600) % 3 == 0, "north", "south"),
                      mag_z=np.linspace(16, 21, 600))
    raw = lens_vectors(600, np.zeros(600, bool), DIM, seed=4)
    uri = str(tmp_path / "milvus.db") if backend == "lite-file" else request.getfixturevalue("milvus_standalone")
    version = "enc" if backend == "lite-file" else f"enc-{uuid.uuid4().hex[:10]}"
    settings = load_settings(env={}, data_dir=str(tmp_path), milvus_uri=uri)
    model = _probe(engine, encoder_version=version)
    store = VectorStore.open(settings, version, dim=DIM, create=True, config=VectorDBConfig(dim=DIM, index_type="FLAT"))
    try:
        assert write_store(store, engine, ids, raw) == 600
        source = StoreFeatures(store)
        search = rank_by_search(source, model.weights, model.bias, 50)
        full = rank_full_pass(source, model.weights, model.bias, n=50)
        ref_ids, ref_logits = _brute(ids, raw, model.weights, model.bias, 50)
        assert np.array_equal(search.ids, full.ids) and np.array_equal(full.ids, ref_ids)
        assert np.allclose(search.logits, full.logits, atol=1e-4)
        flt = score_filter(surveys=("north",), mag_z_max=19.0)
        north = score_probe(engine, source, model, mode="search", n=30, flt=flt, out_dir=None)
        with engine.connect() as conn:
            got = conn.execute(text("SELECT p.object_id FROM predictions p WHERE p.model_id = :m ORDER BY p.rank"),
                               {"m": model.id}).scalars().all()
        score_probe(engine, source, model, mode="full", n=30, flt=flt, out_dir=None)
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT p.rank, p.score, s.survey, s.mag_z, s.ra FROM predictions p "
                "JOIN sources s ON s.object_id = p.object_id WHERE p.model_id = :m ORDER BY p.rank"),
                {"m": model.id}).all()
        assert north.written == 30 and [r.rank for r in rows] == list(range(1, 31))
        assert all(r.survey == "north" and r.mag_z < 19.0 for r in rows)
        assert [r.score for r in rows] == sorted((r.score for r in rows), reverse=True)
        with engine.connect() as conn:
            again = conn.execute(text("SELECT p.object_id FROM predictions p WHERE p.model_id = :m ORDER BY p.rank"),
                                 {"m": model.id}).scalars().all()
        assert got == again  # search and full pass write the same ranking
        assert get_model(engine, model.id).metrics["scoring"]["written"] == 30
    finally:
        store.drop()


def test_write_all_ranks_every_object_and_exports(engine, tmp_path):
    shard = tmp_path / "shard.h5"
    with h5py.File(shard, "w") as f:
        f["images"] = np.random.default_rng(0).uniform(0, 0.2, (300, 3, 40, 40)).astype(np.float32)
    ids = add_sources(engine, 300, shard_path=shard)
    source = ArrayFeatures(ids, lens_vectors(300, np.zeros(300, bool), DIM), "enc")
    model = _probe(engine)
    rep = score_probe(engine, source, model, mode="search", write="all", n=12, out_dir=tmp_path / "out",
                      sheet_shape=(2, 5), crop=32)
    assert rep.mode == "full" and rep.written == 300 and rep.scanned == 300
    with engine.connect() as conn:
        ranks = conn.execute(text("SELECT rank FROM predictions WHERE model_id = :m ORDER BY rank"),
                             {"m": model.id}).scalars().all()
    assert ranks == list(range(1, 301))
    with open(rep.tsv) as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    assert len(table) == 12 and table[0]["rank"] == "1" and table[0]["survey"] == "south"
    assert set(table[0]) >= {"object_id", "score", "ra", "dec", "mag_r", "grade"}
    assert len(rep.sheets) == 2 and all(p.stat().st_size > 500 for p in rep.sheets)  # 12 cutouts, 10 a sheet


def test_bad_input_is_refused(sqlite_engine):
    ids = add_sources(sqlite_engine, 50)
    model = _probe(sqlite_engine)
    raw = lens_vectors(50, np.zeros(50, bool), DIM)
    with pytest.raises(Conflict, match="encoder version mismatch"):
        score_probe(sqlite_engine, ArrayFeatures(ids, raw, "other"), model)
    with pytest.raises(InvalidInput, match="dimension mismatch"):
        score_probe(sqlite_engine, ArrayFeatures(ids, raw[:, :8], "enc"), model)
    with pytest.raises(NotFound, match="unknown probe"):
        get_model(sqlite_engine, "missing", ("probe",))
    with pytest.raises(InvalidInput, match="top N"):
        score_probe(sqlite_engine, ArrayFeatures(ids, raw, "enc"), model, n=0)
    stranger = ArrayFeatures(np.r_[ids, 99_999_999], np.r_[raw, raw[:1]], "enc")
    with pytest.raises(Conflict, match="not in the catalogue"):
        score_probe(sqlite_engine, stranger, model, write="all")


#: Scoring in its own process, recorded as a job like ``lensdb probe score``, paused in the middle of its full pass.
PAUSING_SCORE = """
import sys, time
from pathlib import Path
from lensdb.catalog.db import make_engine
from lensdb.catalog.jobs import job_scope
from lensdb.classifiers.features import StoreFeatures
from lensdb.classifiers.registry import get_model
from lensdb.classifiers.scoring import score_probe
from lensdb.core.config import load_settings

url, data, milvus, marker = sys.argv[1:5]
settings = load_settings(env={}, data_dir=data, milvus_uri=milvus, database_url=url)
engine = make_engine(url)
model = get_model(engine, "probe-a")
source = StoreFeatures.open(settings, "enc")

def pause(n):
    Path(marker).write_text("paused")
    while True:
        time.sleep(3600)

with job_scope(engine, "score", {"model": model.name}):
    score_probe(engine, source, model, mode="full", n=40, out_dir=None, progress=pause)
"""


def test_sigkill_mid_scoring_then_rerun_is_exact(engine, tmp_path):
    """A scoring killed mid-pass writes nothing (the predictions of the last complete run stay), the next run
    writes exactly what a clean run wrote, and the killed job is marked failed, not left running."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from sqlalchemy import select

    from lensdb.catalog.models import Job, Prediction
    from lensdb.cli import main

    ids = add_sources(engine, 400, mag_z=np.linspace(16, 21, 400))
    raw = lens_vectors(400, np.zeros(400, bool), DIM, seed=8)
    settings = load_settings(env={}, data_dir=str(tmp_path), milvus_uri=str(tmp_path / "milvus.db"),
                             database_url=str(engine.url.render_as_string(hide_password=False)))
    model = _probe(engine)
    with VectorStore.open(settings, "enc", dim=DIM, create=True,
                          config=VectorDBConfig(dim=DIM, index_type="FLAT")) as store:
        write_store(store, engine, ids, raw)
        score_probe(engine, StoreFeatures(store), model, mode="full", n=40, out_dir=None)

    def predictions():
        with engine.connect() as conn:
            return conn.execute(select(Prediction.object_id, Prediction.rank, Prediction.score)
                                .where(Prediction.model_id == model.id).order_by(Prediction.rank)).all()

    clean = predictions()
    assert len(clean) == 40
    marker = tmp_path / "paused"
    proc = subprocess.Popen([sys.executable, "-c", PAUSING_SCORE, settings.database_url, str(tmp_path),
                             settings.milvus_uri, str(marker)], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert predictions() == clean
    with engine.connect() as conn:
        assert conn.execute(select(Job.status).where(Job.kind == "score")).scalars().all() == ["running"]
    flags = ["--data-dir", str(tmp_path), "--database-url", settings.database_url, "--milvus-uri", settings.milvus_uri]
    assert main([*flags, "probe", "score", "probe-a", "--mode", "full", "--top-n", "40", "--no-png",
                 "--no-progress"]) == 0
    assert predictions() == clean
    with engine.connect() as conn:
        assert sorted(conn.execute(select(Job.status).where(Job.kind == "score")).scalars().all()) == [
            "done", "failed"]
