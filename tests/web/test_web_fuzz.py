"""A bounded, seeded fuzz of every web endpoint with the hostile values of the gRPC fuzz test
(``tests/api_grpc/test_api_fuzz.py``), in path segments, query parameters and JSON fields, plus bodies that are
not JSON: whatever comes in, the page answers with a status below 500 and no traceback, and keeps serving. It runs
on a world of its own, so that the grades it writes do not disturb the other web tests."""

from __future__ import annotations

import json
import random
from urllib.parse import quote

import httpx
import pytest
from api_world import build_world
from test_api_fuzz import FLOATS, INTS, STRINGS
from web_helpers import start_web

SEED = 20261203
CALLS = 24
H = {"X-LensDB": "1"}
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def fuzz_web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web-fuzz")
    world = build_world(tmp, f"sqlite:///{tmp / 'lensdb.sqlite'}", str(tmp / "milvus.db"), seed=5)
    server, services = start_web(world)
    yield server, world
    server.stop()
    services.close()


def _values(world, rng: random.Random):
    extra = [None, True, False, [], {}, [1, 2], {"a": 1}, "\ud800", "x\udfffy", -1, world.probe_name,
             str(int(world.ids[rng.randrange(len(world.ids))])), int(world.ids[rng.randrange(len(world.ids))])]
    return STRINGS + INTS + FLOATS + extra


def _text(v) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _check(r: httpx.Response, what) -> None:
    assert r.status_code < 500, (what, r.status_code, r.text[:300])
    assert "Traceback" not in r.text and 'File "/' not in r.text, (what, r.text[:300])


GETS = [
    "/login?next={a}", "/queue/{a}", "/queue/{q}/page/{a}", "/object/{a}", "/object/{o}?band={a}&zoom={b}",
    "/object/{o}?queue={a}&page={b}", "/object/{a}/neighbours?k={b}", "/object/{o}/neighbours?queue={a}",
    "/stats?label_set={a}", "/stamp/{a}.png", "/stamp/{o}.png?band={a}&stretch={b}", "/stamp/{o}.png?zoom={a}&bar={b}",
    "/api/queues/{a}/page/{b}", "/api/queues/{q}/page/{a}", "/api/stats?label_set={a}",
]
POSTS = {
    "/api/login": ("grader", "token"),
    "/api/queues": ("kind", "label_set", "model", "object_ids", "source_set", "size", "calibration_share", "name",
                    "seed", "review", "min_score"),
    "/api/grade": ("queue", "object_id", "grade", "note"),
    "/api/undo": ("queue", "object_id", "previous"),
    "/api/logout": (),
}


def test_no_web_endpoint_answers_500(fuzz_web):
    server, world = fuzz_web
    rng = random.Random(SEED)
    with httpx.Client(base_url=server.url, timeout=120) as c:
        assert c.post("/api/login", json={"grader": "fuzzer"}, headers=H).status_code == 200
        q = c.post("/api/queues", json={"kind": "random", "size": 20, "label_set": "grades-fuzz"}, headers=H).json()
        qid = q["queue"]
        values = _values(world, rng)
        n = 0
        for template in GETS:
            for _ in range(CALLS):
                a, b = (quote(_text(rng.choice(values)).encode("utf-8", "surrogatepass"), safe="") for _ in range(2))
                url = template.format(a=a, b=b, q=qid, o=int(world.ids[3]))
                _check(c.get(url), url)
                n += 1
        for path, fields in POSTS.items():
            for _ in range(CALLS):
                body = {f: rng.choice(values) for f in fields if rng.random() < 0.8}
                if path == "/api/grade" and rng.random() < 0.5:
                    body.update(queue=qid)
                raw = json.dumps(body)  # lone surrogates travel as \\udXXX escapes, as a browser would send them
                r = c.post(path, content=raw.encode(), headers={**H, "Content-Type": "application/json"})
                _check(r, (path, body))
                n += 1
                if path in ("/api/login", "/api/logout"):  # stay logged in as the fuzzer
                    c.post("/api/login", json={"grader": "fuzzer"}, headers=H)
            for raw in (b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"a": ' * 2000, b'"x"', b"1e999"):
                _check(c.post(path, content=raw, headers={**H, "Content-Type": "application/json"}), (path, raw))
                n += 1
            c.post("/api/login", json={"grader": "fuzzer"}, headers=H)
        # Rounds: hostile bodies that must be refused before anything runs (a valid one trains a probe).
        for body in ({"size": 0}, {"size": -1}, {"size": 10**20}, {"label_set": "\ud800"}, {"label_set": 7},
                     {"label_set": "mine"}, {"size": "x"}, {"size": 1.5}):
            _check(c.post("/api/rounds", content=json.dumps(body).encode(),
                          headers={**H, "Content-Type": "application/json"}), body)
        assert n > 400
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
