"""The embedding job against the real Milvus server when the server dies: killed in the middle of a job (SIGKILL to
its whole process group, nothing flushed), restarted on the same data folder, the job run again.

The server here is a private one (tests/milvus_server.py), not the session's shared server, since it is killed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from encoder_testdata import make_shard
from milvus_server import MilvusServer
from test_embed import SIZE, checkpoint  # noqa: F401 - the module's checkpoint fixture

from lensdb.core.config import load_settings
from lensdb.core.ids import make_object_id
from lensdb.services.embedding import embed_shards
from lensdb.vectordb.store import VectorStore

#: An embedding in its own process that, after ``after`` chunks are written, writes a marker and waits for a resume
#: file; then it carries on (against a server that the test killed meanwhile) and reports how it ended.
PAUSING_EMBED = """
import sys, time
from pathlib import Path
from lensdb.core.config import load_settings
from lensdb.services.embedding import embed_shards

data, milvus, shard, ckpt, after, marker, resume = sys.argv[1:8]
settings = load_settings(env={}, data_dir=data, milvus_uri=milvus)
seen = []

def pause(event, name, n):
    if event == "rows":
        seen.append(n)
        if len(seen) == int(after):
            Path(marker).write_text("paused")
            while not Path(resume).exists():
                time.sleep(0.1)

try:
    embed_shards(settings, [shard], ckpt, chunk_rows=4, device="cpu", precision="fp32", progress=pause)
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(3)
print("finished")
"""

N = 24


@pytest.fixture
def server(tmp_path):
    srv = MilvusServer(tmp_path / "milvus").start()
    yield srv
    srv.remove()


def test_server_killed_mid_embed_then_restarted_and_rerun_is_exact(tmp_path, server, checkpoint):  # noqa: F811
    from sqlalchemy import select

    from lensdb.catalog.db import make_engine, upgrade
    from lensdb.catalog.models import Job
    from lensdb.ingest.pipeline import ingest_paths

    ckpt, version = checkpoint
    data = tmp_path / "data"
    settings = load_settings(env={}, data_dir=str(data), milvus_uri=server.uri)
    shard = make_shard(tmp_path / "s.h5", n=N, size=SIZE, seed=5, brick=12)
    upgrade(settings.database_url)
    assert ingest_paths(settings, [shard]).ok
    marker, resume = tmp_path / "paused", tmp_path / "resume"
    proc = subprocess.Popen([sys.executable, "-c", PAUSING_EMBED, str(data), server.uri, str(shard), str(ckpt), "2",
                             str(marker), str(resume)], text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the embedding did not reach its pause"
        time.sleep(0.1)
    with VectorStore.open(settings, version) as store:
        assert store.count() == 8  # two chunks of 4 landed
    server.kill()  # SIGKILL, in the middle of the job
    resume.write_text("go")
    out, err = proc.communicate(timeout=180)
    # The job fails cleanly: a BackendUnavailable naming the server (no hang, no traceback from the job itself).
    assert proc.returncode == 3, (out, err)
    assert out.startswith("BackendUnavailable: Milvus at " + server.uri), out

    # While the server is down the command says so, in one line naming the server, with exit status 3 (retry).
    argv = [str(Path(sys.executable).with_name("lensdb")), "--data-dir", str(data), "--milvus-uri", server.uri,
            "embed", str(shard), "--checkpoint", str(ckpt), "--device", "cpu", "--precision", "fp32", "--no-progress",
            "--chunk-rows", "4"]
    down = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert down.returncode == 3, down.stderr
    assert f"Milvus at {server.uri} is unavailable" in down.stderr and "Traceback" not in down.stderr

    server.start()  # same ports, same data folder
    rerun = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            statuses = sorted(conn.execute(select(Job.status).where(Job.kind == "embed")).scalars().all())
    finally:
        engine.dispose()
    # the interrupted job and the refused one marked failed, the re-run done, none left running
    assert statuses == ["done", "failed", "failed"], statuses

    # A clean run of the same shard (on a Lite file) gives the same vectors: exactly one per object.
    clean = load_settings(env={}, data_dir=str(tmp_path / "clean"), milvus_uri=str(tmp_path / "clean.db"))
    embed_shards(clean, [shard], ckpt, chunk_rows=4, device="cpu", precision="fp32")
    ids = make_object_id(9010, 12, np.arange(N))
    with VectorStore.open(settings, version) as a, VectorStore.open(clean, version) as b:
        assert a.count() == N
        assert len(a.get(ids)["object_id"]) == N  # one row per id: nothing duplicated by the re-run
        got, want = a.get(ids, fields=("shard_row",), with_vectors=True), b.get(ids, with_vectors=True)
    assert np.array_equal(got["object_id"], ids) and np.array_equal(got["shard_row"], np.arange(N))
    np.testing.assert_allclose(got["vector"], want["vector"], atol=1e-6)


def test_job_killed_mid_shard_then_rerun_writes_exactly_one_vector_per_object(tmp_path, milvus_standalone,
                                                                              checkpoint):  # noqa: F811
    """kill -9 of the embedding job itself after 3 of 6 chunks (the server keeps running): the re-run's one read of
    the shard sees the 12 vectors that landed, replaces them and inserts the other 12 (no read per chunk)."""
    import signal

    import uuid

    ckpt, version = checkpoint
    data = tmp_path / "data"
    data.mkdir()  # a collection of the test's own on the shared server (the job's process reads this file too)
    (data / "lensdb.toml").write_text(f'[vectordb]\ncollection_prefix = "t{uuid.uuid4().hex[:12]}"\n')
    settings = load_settings(env={}, data_dir=str(data), milvus_uri=milvus_standalone)
    shard = make_shard(tmp_path / "s.h5", n=N, size=SIZE, seed=6, brick=13)
    marker, resume = tmp_path / "paused", tmp_path / "resume"
    proc = subprocess.Popen([sys.executable, "-c", PAUSING_EMBED, str(data), milvus_standalone, str(shard), str(ckpt),
                             "3", str(marker), str(resume)], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the embedding did not reach its pause"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with VectorStore.open(settings, version) as store:
        assert store.count() == 12  # three chunks of 4 landed before the kill
    report = embed_shards(settings, [shard], ckpt, chunk_rows=4, device="cpu", precision="fp32")
    assert [r.status for r in report.shards] == ["embedded"]
    clean = load_settings(env={}, data_dir=str(tmp_path / "clean"), milvus_uri=str(tmp_path / "clean.db"))
    embed_shards(clean, [shard], ckpt, chunk_rows=4, device="cpu", precision="fp32")
    ids = make_object_id(9010, 13, np.arange(N))
    with VectorStore.open(settings, version) as a, VectorStore.open(clean, version) as b:
        assert a.count() == N  # a count(*) counts a duplicated id twice: exactly one row per object
        got, want = a.get(ids, fields=("shard_row",), with_vectors=True), b.get(ids, with_vectors=True)
        a.drop()
    assert np.array_equal(got["object_id"], ids) and np.array_equal(got["shard_row"], np.arange(N))
    np.testing.assert_allclose(got["vector"], want["vector"], atol=1e-6)
