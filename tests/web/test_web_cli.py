"""``lensdb grading queue|stats|round`` and ``lensdb web`` from the command line: what they print, and clear
errors with exit code 2 (bad input) and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from lensdb.cli import main


def run(world, capsys, *args) -> tuple[int, str, str]:
    code = main(["--data-dir", str(world.settings.data_dir), "--database-url", world.db_url, "--milvus-uri",
                 world.settings.milvus_uri, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_queue_and_stats_commands(web_world, capsys):
    code, out, _ = run(web_world, capsys, "grading", "queue", "--kind", "probe", "--model", web_world.probe_name,
                       "--size", "15", "--label-set", "grades-cli", "--author", "cli")
    assert code == 0 and "in 'grades-cli'" in out and "/queue/" in out
    code, out, _ = run(web_world, capsys, "grade", f"{int(web_world.ids[30])}=A", "--label-set", "grades-cli",
                       "--author", "cli")
    assert code == 0
    code, out, _ = run(web_world, capsys, "grading", "stats", "--label-set", "grades-cli")
    stats = json.loads(out)
    assert code == 0 and stats["consensus"]["A"] == 1 and stats["graders"][0]["grader"] == "cli"


@pytest.mark.parametrize(("args", "message"), [
    (("grading", "queue", "--kind", "probe"), "model is required"),
    (("grading", "queue", "--kind", "labels", "--source-set", "nope"), "no label set 'nope'"),
    (("grading", "queue", "--kind", "random", "--label-set", "mine"), "grading sets are named"),
    (("grading", "queue", "--kind", "random", "--calibration-share", "0.9"), "calibration_share must lie in"),
    (("grading", "stats", "--label-set", "grades-none"), "no grading set 'grades-none'"),
])
def test_bad_input_exits_2_with_a_clear_message(web_world, capsys, args, message):
    code, out, err = run(web_world, capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_web_command_serves_and_refuses_an_open_network_without_token(web_world, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENSDB_")}
    base = [sys.executable, "-m", "lensdb.cli", "--data-dir", str(web_world.settings.data_dir), "--database-url",
            web_world.db_url, "--milvus-uri", web_world.settings.milvus_uri, "web"]
    refused = subprocess.run([*base, "--host", "0.0.0.0"], capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 2 and "without a token" in refused.stderr and "Traceback" not in refused.stderr
    from lite_server import free_port

    port = free_port()
    proc = subprocess.Popen([*base, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        assert "inspection page: http://127.0.0.1:" in proc.stdout.readline()
        for _ in range(200):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                break
            except httpx.TransportError:
                import time

                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["status"] == "ok"
        # Beside the running page (which holds the Milvus Lite file), a round from the command line says why it
        # cannot run, in one line, without a traceback (#24 item 8).
        cli = [sys.executable, "-m", "lensdb.cli", "--data-dir", str(web_world.settings.data_dir), "--database-url",
               web_world.db_url, "--milvus-uri", web_world.settings.milvus_uri]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as page:  # the page opens the file
            assert page.post("/api/login", json={"grader": "busy"}, headers={"X-LensDB": "1"}).status_code == 200
            r = page.get(f"/object/{int(web_world.ids[0])}/neighbours")
            # 200: the page holds the file now. 503: this test process holds it already (the session's page
            # fixture), and the page says so in one line naming the file, not its folder.
            assert r.status_code == 200 or (r.status_code == 503 and "milvus.db is in use by another process"
                                            in r.text and str(web_world.settings.data_dir) not in r.text), r.text
        from lensdb.catalog import grading as store
        from lensdb.catalog.db import make_engine

        engine = make_engine(web_world.db_url)
        store.write_grades(engine, "grades-busy", "cli", [store.GradeWrite(int(web_world.ids[1]), "A")])
        engine.dispose()
        rnd = subprocess.run([*cli, "grading", "round", "--label-set", "grades-busy"], capture_output=True,
                             text=True, env=env, timeout=300)
        assert rnd.returncode in (2, 3) and "Traceback" not in rnd.stderr, rnd.stderr[-2000:]
        lines = [x for x in rnd.stderr.splitlines() if x.strip() and "WARNING" not in x]
        assert len(lines) == 1 and "another process" in lines[0], rnd.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert proc.returncode in (0, -15)
