"""`lensdb demo --quick` from an empty data folder: every artefact, the report in a real browser, and resuming."""

import json
import sqlite3

import pytest
from chromium import load_page

import lensdb.demo.hunt as hunt
from lensdb.cli import main
from lensdb.demo import STEPS

SHARDS = 3
OBJECTS = 600


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One quick demo, interrupted in the probe step by a failure, then run again to the end."""
    data = tmp_path_factory.mktemp("demo") / "data"
    real = hunt.probes

    def broken(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C during the probe step

    hunt.probes = broken
    try:
        first = main(["--data-dir", str(data), "demo", "--quick"])
    finally:
        hunt.probes = real
    state_after_crash = json.loads((data / "demo" / "state.json").read_text())
    mtimes = {p: p.stat().st_mtime_ns for p in [*(data / "survey").glob("*.h5"), data / "encoder" / "checkpoint.pt"]}
    second = main(["--data-dir", str(data), "demo", "--quick"])
    return {"data": data, "first": first, "second": second, "crash_state": state_after_crash, "mtimes": mtimes}


def test_interrupted_demo_resumes_without_redoing_finished_steps(demo_run, capsys):
    assert demo_run["first"] == 130, "an interrupted demo exits 130 and says how to resume"
    assert list(demo_run["crash_state"]["steps"]) == list(STEPS[:7]), "steps before the crash are recorded"
    assert demo_run["second"] == 0
    for path, mtime in demo_run["mtimes"].items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was rewritten by the resumed run"
    state = json.loads((demo_run["data"] / "demo" / "state.json").read_text())
    assert list(state["steps"]) == list(STEPS)
    for step in STEPS[:7]:
        assert state["steps"][step] == demo_run["crash_state"]["steps"][step], f"{step} was redone"


def test_every_artefact_is_there(demo_run):
    data = demo_run["data"]
    shards = sorted((data / "survey").glob("*.h5"))
    assert len(shards) == SHARDS and (data / "survey" / "truth.csv").is_file()
    state = json.loads((data / "demo" / "state.json").read_text())["steps"]
    db = sqlite3.connect(data / "lensdb.sqlite")
    try:
        assert db.execute("SELECT count(*) FROM sources").fetchone()[0] == OBJECTS
        n_known = len((data / "known_lenses.tsv").read_text().splitlines()) - 1
        assert db.execute("SELECT count(*) FROM labels WHERE class = 'lens'").fetchone()[0] == n_known > 0
        model_id = state["probes"]["result"]["model_id"]
        name = db.execute("SELECT name FROM models WHERE id = ?", (model_id,)).fetchone()[0]
        assert name == state["probes"]["result"]["model"]
        n_pred = db.execute("SELECT count(*) FROM predictions WHERE model_id = ?", (model_id,)).fetchone()[0]
        assert n_pred == state["probes"]["result"]["n"] > 0
    finally:
        db.close()
    enc = state["encoder"]["result"]
    assert (data / "encoder" / "checkpoint.pt").is_file() and enc["steps"] > 0
    assert (data / "milvus.db").exists() and state["embed"]["result"]["vectors"] == OBJECTS
    learned = state["learned"]["result"]
    assert set(learned["methods"]) == {"trained encoder", "untrained encoder", "pixel PCA (16)"}
    queries = state["similarity"]["result"]["queries"]
    assert list(queries) == ["bright arc", "small double", "faint arc"]
    assert len({q["object_id"] for q in queries.values()}) == 3
    for q in queries.values():
        assert q["k"] == 64 and 0.0 <= q["lens_fraction"] <= 1.0
    few, unusual = state["similarity"]["result"]["few_shot"], state["similarity"]["result"]["unusual"]
    assert set(few) == {"centroid", "probe"} and set(unusual) == {"knn", "iforest"}
    for r in few.values():
        assert r["k"] == 64 and r["examples"] == min(20, n_known) and 0 <= r["lenses_in_top"] <= 64
    for r in unusual.values():
        assert r["k"] == 64 and r["rare_in_top"] == sum(r["by_class"].values()) and r["random_expected"] > 0
    probes = state["probes"]["result"]
    assert [r["ratio"] for r in probes["sweep"]] == [1, 4] and probes["best_ratio"] in (1, 4)
    assert 0 <= probes["new_lenses"] <= probes["candidates"] <= probes["n"]
    calls = [c["call"] for c in state["api"]["result"]["calls"]]
    assert any(c.startswith("Search.Similar") for c in calls) and any(c.startswith("Probes.TopCandidates")
                                                                      for c in calls)
    index = data / "report" / "index.html"
    page = index.read_text()
    figures = sorted((data / "report" / "figures").iterdir())
    # the class gallery, loss curve, learned check, 3 similarity grids, ratio and score plots, candidate grid
    assert len(figures) == 9
    for fig in figures:
        assert f'src="figures/{fig.name}"' in page
    for needle in ("Similarity search", "Linear probes", "SELECT p.rank", "The gRPC API", "Did the encoder learn?",
                   "Beyond one object", "most unusual (knn)", "few-shot, ",
                   "Grade the candidates in a browser", "lensdb --data-dir"):
        assert needle in page
    # the top candidates link to the Legacy Survey viewer at their positions
    assert page.count('<a href="https://www.legacysurvey.org/viewer?ra=') >= 1
    grading = json.loads((data / "demo" / "state.json").read_text())["steps"]["report"]["result"]["grading"]
    assert f'href="{grading["url"]}"' in page and grading["url"].endswith(f"/queue/{grading['queue']}")


def test_the_report_links_to_a_grading_queue_the_page_serves(demo_run):
    """The queue the report links to exists once (a re-run makes no other) and the inspection page serves it."""
    import httpx

    from lensdb.core.config import load_settings
    from lensdb.services import Services
    from lensdb.web.config import WebConfig
    from lensdb.web.server import WebServer

    data = demo_run["data"]
    grading = json.loads((data / "demo" / "state.json").read_text())["steps"]["report"]["result"]["grading"]
    db = sqlite3.connect(data / "lensdb.sqlite")
    try:
        queues = db.execute("SELECT id, kind, n_items FROM grading_queues WHERE created_by = 'demo'").fetchall()
    finally:
        db.close()
    assert queues == [(grading["queue"], "probe", grading["n_items"])]
    with Services.open(load_settings(env={}, data_dir=str(data))) as services:
        server = WebServer(services, WebConfig(port=0)).start()
        try:
            with httpx.Client(base_url=server.url, timeout=60) as c:
                assert c.post("/api/login", json={"grader": "demo-user"}, headers={"X-LensDB": "1"}).is_success
                page = c.get(f"/queue/{grading['queue']}", follow_redirects=True)
                assert page.status_code == 200 and page.text.count('class="cell') == min(100, grading["n_items"])
        finally:
            server.stop()


def test_report_opens_in_headless_chromium(demo_run):
    result = load_page(demo_run["data"] / "report" / "index.html")
    assert result.problems == []
    assert len(result.images) == 9 and all(ok and width > 0 for _, ok, width in result.images)
    assert result.title.startswith("LensDB demo")


def test_a_finished_demo_reruns_as_a_no_op(demo_run, capsys):
    data = demo_run["data"]
    before = (data / "demo" / "state.json").read_text()
    assert main(["--data-dir", str(data), "demo", "--quick"]) == 0
    out = capsys.readouterr().out
    assert out.count("done earlier, skipped") == len(STEPS) - 1  # all but the report, which is rewritten
    assert json.loads((data / "demo" / "state.json").read_text())["steps"].keys() == json.loads(before)["steps"].keys()


def test_a_folder_of_another_plan_is_refused(demo_run, capsys):
    data = demo_run["data"]
    assert main(["--data-dir", str(data), "demo", "--quick", "--n-objects", "700"]) == 2
    err = capsys.readouterr().err
    assert "another plan" in err and "--data-dir" in err


def test_a_survey_folder_the_demo_did_not_write_is_left_alone(tmp_path, capsys):
    data = tmp_path / "data"
    mine = data / "survey" / "my_observations.fits"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"precious")
    assert main(["--data-dir", str(data), "demo", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "my_observations.fits" in err and "another --data-dir" in err
    assert mine.read_bytes() == b"precious" and sorted(p.name for p in mine.parent.iterdir()) == [mine.name]


def test_the_reports_sql_runs_on_the_catalogue(demo_run):
    from lensdb.demo.page import _sql

    data = demo_run["data"]
    probe = json.loads((data / "demo" / "state.json").read_text())["steps"]["probes"]["result"]
    db = sqlite3.connect(data / "lensdb.sqlite")
    try:
        for caption, sql in _sql(probe):
            rows = db.execute(sql).fetchall()
            assert rows, f"the report's query {caption!r} returned nothing"
            assert sql in (data / "report" / "index.html").read_text().replace("&#x27;", "'")
    finally:
        db.close()


def test_too_few_objects_are_refused_before_anything_is_written(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "demo", "--quick", "--n-objects", "0"]) == 2
    err = capsys.readouterr().err
    assert "--n-objects 0" in err and "at least 300" in err
    assert not (data / "survey").exists() and not (data / "demo").exists()
