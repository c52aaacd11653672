"""Few-shot and anomaly ("unusual") grading queues through the page (HTTP and a real browser) and the CLI: the
queues hold what the services rank, leave out the examples and the known lenses, and bad examples get a clear
answer that writes nothing."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sqlalchemy import func, select
from test_web_browser import page_for  # noqa: F401  (fixture)
from test_web_http import H, client, make_queue, no_traceback

from lensdb.catalog.db import make_engine
from lensdb.catalog.models import GradingQueue, QueueItem
from lensdb.cli import main
from lensdb.services import anomaly, fewshot

pytestmark = pytest.mark.timeout(300)


def queue_ids(world, queue_id: int) -> list[int]:
    """The queue's objects in order, calibration items left out."""
    engine = make_engine(world.db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(QueueItem.object_id).where(QueueItem.queue_id == queue_id,
                                                              QueueItem.calibration.is_(None))
                            .order_by(QueueItem.position)).scalars().all()
    engine.dispose()
    return [int(r) for r in rows]


def n_queues(world) -> int:
    engine = make_engine(world.db_url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(GradingQueue)).scalar_one()
    engine.dispose()
    return n


def test_few_shot_queue_from_the_page_ranks_like_the_query_vector(web, web_world):
    w = web_world
    c = client(web)
    pos, neg = w.ids[[30, 31, 32]], w.ids[[40]]
    body = {"kind": "similar", "object_ids": " ".join(map(str, pos)), "negative_ids": str(neg[0]),
            "method": "centroid", "size": 20, "calibration_share": 0, "label_set": "grades-fewshot"}
    q = make_queue(c, **body)["queue"]
    got = queue_ids(w, q)
    vec = fewshot.query_vector(w.vectors[[30, 31, 32]], w.vectors[[40]])
    sims = w.vectors @ vec
    drop = np.isin(w.ids, np.concatenate([pos, neg, w.lenses]))  # examples and known lenses left out
    order = np.flatnonzero(~drop)[np.lexsort((w.ids[~drop], -sims[~drop]))][:20]
    assert got == w.ids[order].tolist()
    info = c.get(f"/api/queues/{q}/page/0").json()
    assert len(info["items"]) == 20


def test_unusual_queue_from_the_page_holds_the_anomaly_ranking(web, web_world):
    w = web_world
    c = client(web)
    q = make_queue(c, kind="unusual", size=15, calibration_share=0, label_set="grades-unusual")["queue"]
    scores = anomaly.anomaly_scores(w.vectors, "knn", 10)
    keep = ~np.isin(w.ids, w.lenses)
    order = np.flatnonzero(keep)[np.lexsort((w.ids[keep], -scores[keep]))][:15]
    assert queue_ids(w, q) == w.ids[order].tolist()
    forest = make_queue(c, kind="unusual", method="iforest", size=10, calibration_share=0,
                        label_set="grades-unusual")["queue"]
    assert len(queue_ids(w, forest)) == 10


def test_bad_examples_are_answered_clearly_and_make_no_queue(web, web_world):
    c = client(web)
    before = n_queues(web_world)
    known = str(int(web_world.ids[5]))
    cases = [
        ({"kind": "similar", "object_ids": "", "negative_ids": known}, 400, "at least one positive example"),
        ({"kind": "similar", "object_ids": "987654321", "method": "centroid"}, 404, "object_id 987654321"),
        ({"kind": "similar", "object_ids": known, "negative_ids": known}, 400, "both as a positive and as a negative"),
        ({"kind": "similar", "object_ids": known, "negative_ids": "x1"}, 400, "negative_ids: give object ids"),
        ({"kind": "similar", "object_ids": known, "method": "knn"}, 400, "not one of centroid, probe"),
        ({"kind": "unusual", "method": "centroid"}, 400, "not one of knn, iforest"),
    ]
    for body, status, message in cases:
        r = c.post("/api/queues", json=body, headers=H)
        assert r.status_code == status and message in r.json()["error"], (body, r.text)
        no_traceback(r)
    assert n_queues(web_world) == before


def test_the_queue_form_makes_an_unusual_queue_in_a_browser(web, web_world, page_for):  # noqa: F811
    page = page_for("uma")
    page.goto(web.url + "/")
    page.select_option("#queue-form select[name=kind]", "unusual")
    page.select_option("#queue-form select[name=method]", "knn")
    page.fill("#queue-form input[name=size]", "12")
    page.fill("#queue-form input[name=label_set]", "grades-browser-unusual")
    page.click("#queue-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/queue/\d+.*"))
    page.wait_for_selector(".cell")
    qid = int(re.search(r"/queue/(\d+)", page.url).group(1))
    assert len(queue_ids(web_world, qid)) == 12
    assert page.errors == []


def test_cli_makes_few_shot_and_unusual_queues_and_refuses_bad_ones(web_world, capsys):
    w = web_world
    env_args = ["--data-dir", str(w.settings.data_dir), "--database-url", w.db_url,
                "--milvus-uri", w.settings.milvus_uri]
    seeds = [str(int(i)) for i in w.ids[[50, 51]]]
    code = main([*env_args, "grading", "queue", "--kind", "similar", "--seeds", *seeds, "--negatives",
                 str(int(w.ids[52])), "--method", "probe", "--size", "8", "--label-set", "grades-cli",
                 "--calibration-share", "0", "--author", "cli"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "8 objects to inspect" in out.out
    code = main([*env_args, "grading", "queue", "--kind", "unusual", "--size", "6", "--label-set", "grades-cli",
                 "--calibration-share", "0", "--author", "cli"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "6 objects to inspect" in out.out and "unusual objects (knn)" in out.out
    code = main([*env_args, "grading", "queue", "--kind", "similar", "--seeds", "987654321", "--method",
                 "centroid", "--label-set", "grades-cli", "--author", "cli"])
    err = capsys.readouterr().err
    assert code == 2 and "object_id 987654321" in err and "Traceback" not in err
