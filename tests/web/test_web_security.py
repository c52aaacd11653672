"""The page's security over HTTP (a real uvicorn on a free port, or the app in-process for TLS): trusted Host
names, Origin checks on writes, each grader's own session (hashed, revocable, never the shared token in a cookie),
no open redirect, the same protective headers on every answer, a login rate limit, a body cap, and clean answers
to the web items of the integrity issue (a lone surrogate, seed -1, server paths, Milvus down)."""

from __future__ import annotations

import dataclasses
import hashlib
import time

import httpx
import pytest
from sqlalchemy import select
from web_helpers import start_web

from lensdb.catalog.db import make_engine
from lensdb.catalog.models import Grade, GraderSession

H = {"X-LensDB": "1"}
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def clients(web):
    made = []

    def make(grader: str | None = None, **kw) -> httpx.Client:
        c = httpx.Client(base_url=web.url, timeout=60, **kw)
        made.append(c)
        if grader:
            r = c.post("/api/login", json={"grader": grader}, headers=H)
            assert r.status_code == 200, r.text
        return c

    yield make
    for c in made:
        c.close()


def _queue(c, **body) -> int:
    r = c.post("/api/queues", json=body, headers=H)
    assert r.status_code == 200, r.text
    return r.json()["queue"]


def _protected(r: httpx.Response) -> None:
    csp = r.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, (r.status_code, r.headers)
    assert r.headers.get("x-frame-options") == "DENY" and r.headers.get("x-content-type-options") == "nosniff"


def test_unknown_host_names_are_refused(web, clients):
    c = clients()
    r = c.get("/api/stats", headers={"Host": "attacker.example"})
    assert r.status_code == 400 and "does not serve the host name 'attacker.example'" in r.json()["error"]
    _protected(r)
    r = c.post("/api/login", json={"grader": "mallory"}, headers={**H, "Host": "attacker.example:8080"})
    assert r.status_code == 400
    port = web.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        assert c.get("/healthz", headers={"Host": host}).status_code == 200, host


def test_cross_site_writes_are_refused(web, clients):
    c = clients()
    for extra in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        r = c.post("/api/login", json={"grader": "mallory"}, headers={**H, **extra})
        assert r.status_code == 403 and "another site" in r.json()["error"], extra
        _protected(r)
    r = c.post("/api/login", json={"grader": "olga"}, headers={**H, "Origin": web.url, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200


def test_each_grader_has_their_own_session(web, web_world, clients):
    bob = clients("bob-s")
    qid = _queue(bob, kind="random", size=4, calibration_share=0, seed=21, label_set="grades-sess")
    items = bob.get(f"/api/queues/{qid}/page/0").json()["items"]
    assert bob.post("/api/grade", json={"queue": qid, "object_id": items[0]["object_id"], "grade": "A"},
                    headers=H).json()["grade"] == "A"
    secret = bob.cookies["lensdb_session"]
    # The cookie holds a random session secret: not the grader's name, not a token; the catalogue only its hash.
    assert "bob" not in secret and len(secret) >= 40
    engine = make_engine(web_world.db_url)
    with engine.connect() as conn:
        hashes = conn.execute(select(GraderSession.token_hash).where(GraderSession.grader == "bob-s")).scalars().all()
    assert hashlib.sha256(secret.encode()).hexdigest() in hashes and secret not in hashes
    # A name in a cookie is no identity: eve cannot grade as bob (today's main took `lensdb_grader=bob`).
    eve = clients("eve-s")
    eve.cookies.set("lensdb_grader", "bob-s")
    r = eve.post("/api/grade", json={"queue": qid, "object_id": items[0]["object_id"], "grade": "N"}, headers=H)
    assert r.status_code == 200
    forged = clients(cookies={"lensdb_grader": "bob-s", "lensdb_session": "forged-" + "x" * 40})
    r = forged.post("/api/grade", json={"queue": qid, "object_id": items[0]["object_id"], "grade": "N"}, headers=H)
    assert r.status_code == 400 and "log in" in r.json()["error"]
    with engine.connect() as conn:
        rows = dict(conn.execute(select(Grade.grader, Grade.grade).where(
            Grade.object_id == int(items[0]["object_id"]), Grade.grader.in_(["bob-s", "eve-s"]))).all())
    assert rows == {"bob-s": "A", "eve-s": "N"}
    # Revoked (as `lensdb grading graders --revoke` does): bob must log in again.
    assert web.services.grading.revoke_grader("bob-s") >= 1
    time.sleep(5.2)  # the page remembers a session lookup for 5 s
    r = bob.post("/api/grade", json={"queue": qid, "object_id": items[1]["object_id"], "grade": "B"}, headers=H)
    assert r.status_code == 400 and "log in" in r.json()["error"]
    listed = {g.grader: g for g in web.services.grading.graders()}
    assert listed["bob-s"].active_sessions == 0 and listed["bob-s"].grades >= 1 and listed["eve-s"].active_sessions == 1
    # Logout ends the session on the server too.
    olga = clients("olga-s")
    assert olga.post("/api/logout", json={}, headers=H).status_code == 200
    stale = clients(cookies={"lensdb_session": olga.cookies.get("lensdb_session") or ""})
    assert stale.get(f"/api/queues/{qid}/page/0").status_code == 400
    engine.dispose()


def test_graders_command_lists_and_revokes(web_world, capsys):
    from lensdb.cli import main

    base = ["--data-dir", str(web_world.settings.data_dir), "--database-url", web_world.db_url, "--milvus-uri",
            web_world.settings.milvus_uri, "grading", "graders"]
    from lensdb.services import Services

    with Services.open(web_world.settings) as services:
        services.grading.open_session("cli-g")
    assert main(base) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("cli-g "))
    assert line.split()[1:3] == ["1", "1"]
    assert main([*base, "--revoke", "cli-g"]) == 0
    assert "revoked 1 session(s) of grader 'cli-g'" in capsys.readouterr().out
    assert main(base) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("cli-g "))
    assert line.split()[1:3] == ["1", "0"]


@pytest.mark.parametrize("nxt", ["/%5Cevil.example", "//evil.example", "https://evil.example/", "/\\evil.example",
                                 "javascript:alert(1)", "/%09/evil.example"])
def test_the_login_never_redirects_off_site(web, clients, nxt):
    r = clients().get(f"/login?next={nxt}")
    assert r.status_code == 200
    import re

    assert re.search(r'data-next="([^"]*)"', r.text).group(1) in ("/", "/%09/evil.example")


def test_every_answer_is_protected_and_no_shared_token_in_cookies(web_world):
    server, services = start_web(web_world, token="s3cret-token-2", login_failures_per_minute=3)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            for r in (c.get("/"), c.get("/api/stats"), c.get("/healthz"), c.get("/nope"), c.get("/login"),
                      c.get("/static/style.css"), c.post("/api/grade", content=b"x" * 2_000_000, headers=H)):
                _protected(r)
            r = c.post("/api/login", json={"grader": "tia", "token": "s3cret-token-2"}, headers=H)
            assert r.status_code == 200
            assert all("s3cret-token-2" not in v for v in r.headers.get_list("set-cookie"))
            assert "secure" not in r.headers["set-cookie"].lower()  # plain http here; under TLS: see below
            # Failed logins are limited per address: the 4th attempt in a minute is refused, right token or not.
            for _ in range(3):
                assert c.post("/api/login", json={"grader": "x", "token": "guess"}, headers=H).status_code == 401
            r = c.post("/api/login", json={"grader": "tia", "token": "s3cret-token-2"}, headers=H)
            assert r.status_code == 429 and "too many failed logins" in r.json()["error"]
            _protected(r)
    finally:
        server.stop()
        services.close()


def test_session_cookie_is_secure_under_tls(web_world):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from lensdb.services import Services
    from lensdb.web.app import create_app
    from lensdb.web.config import WebConfig

    async def login(app):  # the app itself, reached as https://testserver (what uvicorn sees behind TLS)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as ac:
            return await ac.post("/api/login", json={"grader": "tls"}, headers={**H, "Origin": "https://testserver"})

    with Services.open(web_world.settings) as services:
        app = create_app(services, WebConfig(allowed_hosts=("testserver",)))
        # A thread of its own: Playwright's sync API may hold an event loop in this one.
        with ThreadPoolExecutor(1) as pool:
            r = pool.submit(asyncio.run, login(app)).result()
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"].lower()
    assert "; secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_request_bodies_are_capped(web, clients):
    c = clients("cap")
    r = c.post("/api/grade", content=b'{"note": "' + b"x" * 2_000_000 + b'"}',
               headers={**H, "Content-Type": "application/json"})
    assert r.status_code == 413 and "larger than 1,000,000 bytes" in r.json()["error"]

    def chunks():  # no Content-Length: the cap applies as the body streams in
        for _ in range(40):
            yield b"x" * 50_000

    r = c.post("/api/grade", content=chunks(), headers={**H, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert c.get("/healthz").status_code == 200


def test_lone_surrogate_and_negative_seed_are_bad_input(web, clients):
    c = clients("uni")
    qid = _queue(c, kind="random", size=3, calibration_share=0, seed=4, label_set="grades-uni")
    oid = c.get(f"/api/queues/{qid}/page/0").json()["items"][0]["object_id"]
    raw = '{"queue": %d, "object_id": "%s", "grade": "A", "note": "\\ud800"}' % (qid, oid)
    r = c.post("/api/grade", content=raw.encode(), headers={**H, "Content-Type": "application/json"})
    assert r.status_code == 400 and "note holds text that is not valid Unicode" in r.json()["error"]
    r = c.post("/api/login", content=b'{"grader": "\\udfff"}', headers={**H, "Content-Type": "application/json"})
    assert r.status_code == 400
    for seed in (-1, 2**63, 2**32):
        r = c.post("/api/queues", json={"kind": "random", "size": 2, "seed": seed}, headers=H)
        assert r.status_code == 400 and "seed must lie in" in r.json()["error"], r.text


def test_server_paths_are_redacted_in_errors(web, web_world, clients):
    shard = web_world.settings.data_dir.parent / "images_test_000.h5"
    moved = shard.with_name("moved-away.h5")
    c = clients("paths")
    shard.rename(moved)
    try:
        r = c.get(f"/stamp/{int(web_world.ids[5])}.png")
    finally:
        moved.rename(shard)
    assert r.status_code in (404, 409, 503) and r.status_code != 500, r.text
    assert "images_test_000.h5" in r.json()["error"]
    assert str(shard.parent) not in r.text and "/tmp" not in r.text


def test_milvus_down_is_503_not_400(web_world, clients):
    settings = dataclasses.replace(web_world.settings, milvus_uri="http://127.0.0.1:9")
    world = dataclasses.replace(web_world, settings=settings)
    server, services = start_web(world)
    try:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            assert c.post("/api/login", json={"grader": "m"}, headers=H).status_code == 200
            r = c.get(f"/object/{int(web_world.ids[2])}/neighbours")
            assert r.status_code == 503 and "Milvus" in r.text, (r.status_code, r.text[:500])
            r = c.post("/api/queues", json={"kind": "similar", "object_ids": str(int(web_world.ids[2]))}, headers=H)
            assert r.status_code == 503 and "Milvus" in r.json()["error"]
    finally:
        server.stop()
        services.close()
