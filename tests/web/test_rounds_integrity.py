"""Active-learning rounds as one unit (issue #27 items 1, 2, 13; the round as a job of #24): checked before anything
is written, committed together or not at all, one at a time per grading set (a second request joins the running
round or is refused, naming it), recorded as a job with its progress, and safe against kill -9 from the command
line and from the page."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import func, insert, select

from lensdb.catalog.db import make_engine
from lensdb.catalog.models import GradingQueue, GradingRound, Job, Model, Prediction, QueueItem

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api_grpc"))

from api_world import build_world  # noqa: E402

H = {"X-LensDB": "1"}
TABLES = (Model, Prediction, GradingQueue, QueueItem, GradingRound)


@pytest.fixture(scope="module")
def round_world(tmp_path_factory):
    """A small survey of its own (rounds change queues and models), with a config file whose round settings
    suit it: the survey holding most of the known lenses, no magnitude cut, small training sets."""
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("round-world")
    world = build_world(tmp, f"sqlite:///{tmp / 'lensdb.sqlite'}", str(tmp / "milvus.db"))
    surveys = [str(world.columns["survey"][int(np.flatnonzero(world.ids == o)[0])]) for o in world.lenses]
    survey = max(set(surveys), key=surveys.count)
    config = tmp / "lensdb.toml"
    config.write_text(f'[probe]\nsurvey = "{survey}"\nmag_z_max = 99.0\n\n[grading]\nround_ratio = 10\n'
                      "round_val_ratio = 10\nround_epochs = 3\nround_score_n = 200\ncalibration_share = 0.0\n")
    world.config = config
    return world


def counts(world) -> dict[str, int]:
    engine = make_engine(world.db_url)
    with engine.connect() as conn:
        out = {t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES}
    engine.dispose()
    return out


def lensdb(world, *args, **kw) -> list[str]:
    return [sys.executable, "-m", "lensdb.cli", "--config", str(world.config), "--data-dir",
            str(world.settings.data_dir), "--database-url", world.db_url, "--milvus-uri", world.settings.milvus_uri,
            *args]


def env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("LENSDB_")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Web:
    """``lensdb web`` in a process of its own (so that it can be killed)."""

    def __init__(self, world):
        self.port = free_port()
        self.proc = subprocess.Popen(lensdb(world, "web", "--port", str(self.port)), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env(), start_new_session=True)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        for _ in range(600):
            try:
                if self.client.get("/readyz").status_code == 200:
                    r = self.client.post("/api/login", json={"grader": "rita"}, headers=H)
                    assert r.status_code == 200, r.text
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"lensdb web ended: {self.proc.communicate()[1][-3000:]}")
            time.sleep(0.1)
        raise AssertionError("lensdb web did not answer")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=60)
        self.client.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        self.client.close()


def wait_done(client: httpx.Client, job: int, timeout: float = 300) -> dict:
    seen = []
    t0 = time.time()
    while time.time() - t0 < timeout:
        p = client.get(f"/api/rounds/{job}").json()
        seen.append(p)
        if p["status"] != "running":
            p["seen"] = seen
            return p
        time.sleep(0.2)
    raise AssertionError(f"round job {job} still running: {seen[-1]}")


def round_jobs(world) -> list:
    engine = make_engine(world.db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Job.id, Job.status, Job.message).where(Job.kind == "grading-round")
                            .order_by(Job.id)).all()
    engine.dispose()
    return rows


def open_round_queues(world, label_set: str = "grades") -> list[int]:
    from lensdb.catalog.models import LabelSet

    engine = make_engine(world.db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(GradingQueue.id).join(LabelSet, LabelSet.id == GradingQueue.label_set_id)
                            .where(GradingQueue.kind == "round", LabelSet.name == label_set,
                                   GradingQueue.superseded_by.is_(None))).scalars().all()
    engine.dispose()
    return list(rows)


def orphans(world) -> dict[str, int]:
    """Round queues without a round row, round models without a round row, supersessions pointing at nothing."""
    engine = make_engine(world.db_url)
    with engine.connect() as conn:
        round_queues = set(conn.execute(select(GradingQueue.id).where(GradingQueue.kind == "round")).scalars())
        rounds = conn.execute(select(GradingRound.queue_id, GradingRound.model_id)).all()
        models = set(conn.execute(select(Model.id).where(Model.name.like("grades%round%"))).scalars())
        targets = set(conn.execute(select(GradingQueue.superseded_by)
                                   .where(GradingQueue.superseded_by.is_not(None))).scalars())
    engine.dispose()
    return {"queues": len(round_queues - {r.queue_id for r in rounds}),
            "models": len(models - {r.model_id for r in rounds}),
            "supersession": len(targets & (round_queues - {r.queue_id for r in rounds}))}


def test_rounds_through_the_page_are_checked_first_join_each_other_and_commit_as_one(round_world):
    w = round_world
    web = Web(w)
    try:
        c = web.client
        r = c.post("/api/queues", json={"kind": "probe", "model": w.probe_name, "size": 20}, headers=H)
        assert r.status_code == 200, r.text
        first_queue = r.json()["queue"]
        before = counts(w)
        jobs_before = len(round_jobs(w))
        # Item 2: bad sizes are refused before anything is written (no model, no predictions, no job).
        for size in (0, -1, 10**20, "many", 2.5):
            r = c.post("/api/rounds", json={"size": size}, headers=H)
            assert r.status_code == 400 and "size" in r.json()["error"], (size, r.text)
        r = c.post("/api/rounds", json={"label_set": "known"}, headers=H)
        assert r.status_code == 400, r.text
        assert counts(w) == before and len(round_jobs(w)) == jobs_before
        # Item 1: four requests at once start one round; the others join it (same job), nothing else is written.
        answers: list = []
        barrier = threading.Barrier(4)

        def ask():
            barrier.wait()
            answers.append(httpx.post(f"http://127.0.0.1:{web.port}/api/rounds", json={"size": 30}, headers=H,
                                      cookies=dict(web.client.cookies), timeout=120))

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
        jobs = {a.json()["job"] for a in answers}
        assert len(jobs) == 1 and sorted(a.json()["joined"] for a in answers) == [False, True, True, True]
        done = wait_done(c, jobs.pop())
        assert done["status"] == "done" and done["round"] == 1 and done["queue"], done
        # The page saw the round's steps (not only its end).
        assert all(p["steps"] == 4 for p in done["seen"])
        after = counts(w)
        assert after["models"] == before["models"] + 1 and after["grading_rounds"] == 1
        assert after["grading_queues"] == before["grading_queues"] + 1
        assert open_round_queues(w) == [done["queue"]]
        engine = make_engine(w.db_url)
        with engine.connect() as conn:
            assert conn.execute(select(GradingQueue.superseded_by).where(GradingQueue.id == first_queue)
                                ).scalar_one() == done["queue"]
            model = conn.execute(select(Model.name, Model.job_id).join(GradingRound, GradingRound.model_id == Model.id)
                                 ).one()
            n_pred = conn.execute(select(func.count()).select_from(Prediction)
                                  .join(Model, Model.id == Prediction.model_id)
                                  .where(Model.name == model.name)).scalar_one()
        engine.dispose()
        assert model.job_id == done["job"] and n_pred > 0
        # Two rounds in the same second do not collide on the model's name: rounds 2 and 3, back to back.
        for expect in (2, 3):
            r = c.post("/api/rounds", json={"size": 10}, headers=H)
            assert r.status_code == 202, r.text
            assert wait_done(c, r.json()["job"])["round"] == expect
        assert orphans(w) == {"queues": 0, "models": 0, "supersession": 0}
        assert len(open_round_queues(w)) == 1
        # Rounds of two grading sets at once in one process both finish (their trainings take turns: matplotlib,
        # which draws the training figures, is not thread-safe; one of them failed in its text layout).
        started = [c.post("/api/rounds", json={"size": 10, "label_set": s}, headers=H) for s in ("grades-b", "grades")]
        assert [r.status_code for r in started] == [202, 202], [r.text for r in started]
        assert [wait_done(c, r.json()["job"])["status"] for r in started] == ["done", "done"]
        assert orphans(w) == {"queues": 0, "models": 0, "supersession": 0}
        # A round job of another (live) process on the same set: refused, naming it, nothing written.
        sleeper = subprocess.Popen(["sleep", "60"])
        try:
            engine = make_engine(w.db_url)
            with engine.begin() as conn:
                other = conn.execute(insert(Job).values(
                    kind="grading-round", command="grading round", params={"label_set": "grades"},
                    status="running", host=socket.gethostname(), pid=sleeper.pid).returning(Job.id)).scalar_one()
            engine.dispose()
            before = counts(w)
            r = c.post("/api/rounds", json={}, headers=H)
            assert r.status_code == 409 and f"job {other}" in r.json()["error"] and "running already" in r.json()[
                "error"], r.text
            assert "UNIQUE" not in r.text and "INSERT" not in r.text
            assert counts(w) == before
        finally:
            sleeper.kill()
            sleeper.wait()
        # Once that process is gone its job is marked failed and rounds run again.
        r = c.post("/api/rounds", json={"size": 10}, headers=H)
        assert r.status_code == 202, r.text
        assert wait_done(c, r.json()["job"])["status"] == "done"
        assert c.get(f"/api/rounds/{other}").json()["status"] == "failed"
        assert c.get("/api/rounds/999999").status_code == 404
        assert c.get("/api/rounds/abc").status_code == 400
    finally:
        web.stop()


def test_commit_round_is_all_or_nothing(round_world, tmp_path):
    """The store's one transaction: a round number taken meanwhile, or a queue naming an object that is not in
    the catalogue, leaves no model, prediction, queue or supersession behind."""
    from lensdb.catalog import grading as store
    from lensdb.core.errors import Conflict, NotFound

    w = round_world
    engine = make_engine(w.db_url)
    before = counts(w)
    model = {"name": "all-or-nothing", "kind": "probe", "version": "probe-x", "encoder_version": w.encoder_version,
             "params": {}, "metrics": {}, "training_set": {}, "artefact_sha256": "0" * 64, "job_id": None,
             "artefact_path": None}
    ids = w.ids[:5]
    good = store.build_queue_items(ids.tolist())
    kw = dict(ranked_ids=ids, ranked_scores=np.linspace(0.9, 0.5, 5), queue_name="q", queue_params={},
              created_by="t", params={}, seconds=0.0)
    with engine.connect() as conn:
        last = store.last_round(conn, store.set_id_of(conn, "grades"))
    with pytest.raises(Conflict, match=f"round {last.round} of grading set 'grades' was committed"):
        store.commit_round(engine, "grades", last.round, model=model, items=good, **kw)
    bad = store.build_queue_items([*ids.tolist(), 987654321])
    with pytest.raises(NotFound, match="not in the catalogue"):
        store.commit_round(engine, "grades", last.round + 1, model=model, items=bad, **kw)
    engine.dispose()
    assert counts(w) == before and orphans(w) == {"queues": 0, "models": 0, "supersession": 0}


def _kill_check_rerun(w, before: dict, killed_jobs_before: int) -> None:
    """After a kill -9: nothing half-written, ``lensdb jobs`` marks the round failed, and a re-run works."""
    assert counts(w) == before
    assert orphans(w) == {"queues": 0, "models": 0, "supersession": 0}
    out = subprocess.run(lensdb(w, "jobs"), capture_output=True, text=True, env=env(), timeout=300)
    assert out.returncode == 0, out.stderr
    jobs = round_jobs(w)
    assert jobs[-1].status == "failed" and "killed or crashed" in jobs[-1].message
    assert sum(j.status == "running" for j in jobs) == 0 and len(jobs) == killed_jobs_before + 1
    rerun = subprocess.run(lensdb(w, "grading", "round", "--size", "10", "--author", "cli"), capture_output=True,
                           text=True, env=env(), timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "step 1 of 4: training the probe" in rerun.stderr and "step 4 of 4" in rerun.stderr
    assert round_jobs(w)[-1].status == "done"
    after = counts(w)
    assert after["grading_rounds"] == before["grading_rounds"] + 1 and after["models"] == before["models"] + 1
    assert orphans(w) == {"queues": 0, "models": 0, "supersession": 0} and len(open_round_queues(w)) == 1


@pytest.mark.parametrize("at_step", [1, 4])
def test_kill_9_during_lensdb_grading_round(round_world, at_step):
    w = round_world
    before, n_jobs = counts(w), len(round_jobs(w))
    proc = subprocess.Popen(lensdb(w, "grading", "round", "--size", "10", "--author", "cli"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                            start_new_session=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if f"step {at_step} of 4" in line:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    rest = proc.communicate(timeout=60)[1]
    lines.append(rest)
    assert proc.returncode == -signal.SIGKILL, "".join(lines)
    _kill_check_rerun(w, before, n_jobs)


def test_kill_9_of_the_page_during_a_round(round_world):
    w = round_world
    before, n_jobs = counts(w), len(round_jobs(w))
    web = Web(w)
    try:
        r = web.client.post("/api/rounds", json={"size": 10}, headers=H)
        assert r.status_code == 202, r.text
        job = r.json()["job"]
        for _ in range(3000):
            p = web.client.get(f"/api/rounds/{job}").json()
            if p["step"] >= 1 or p["status"] != "running":
                break
            time.sleep(0.01)
        assert p["status"] == "running", p
        web.kill()
    finally:
        web.stop()
    _kill_check_rerun(w, before, n_jobs)
