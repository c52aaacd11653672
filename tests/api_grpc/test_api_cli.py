"""``lensdb serve`` as a real process (ports, token from a file, JSON logs, graceful SIGTERM) and every
``lensdb query`` action against it: tables, JSON, PNG grids and cutout files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from lite_server import free_port
from PIL import Image

from lensdb.cli import main


@pytest.fixture
def served(world, tmp_path):
    """``lensdb serve`` in a subprocess over the world; yields (target, token, process)."""
    token_file = tmp_path / "token"
    token_file.write_text("cli-secret\n")
    cmd = [sys.executable, "-m", "lensdb.cli", "--data-dir", str(world.settings.data_dir), "--database-url",
           world.db_url, "--milvus-uri", world.settings.milvus_uri, "serve", "--host", "127.0.0.1", "--port", "0",
           "--metrics-port", str(free_port()), "--checkpoint", str(world.checkpoint), "--encoder-version",
           world.encoder_version, "--token-file", str(token_file), "--log-format", "json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENSDB_")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ports = json.loads(proc.stdout.readline())
        yield f"127.0.0.1:{ports['grpc_port']}", "cli-secret", proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def query(capsys, target, *args) -> tuple[int, str, str]:
    code = main(["query", "--target", target, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


# A Milvus Lite file is held by this process (the session's server), so the subprocess uses the Milvus server world.
@pytest.mark.parametrize("world", ["postgresql+milvus"], indirect=True)
def test_query_actions_against_lensdb_serve(world, served, capsys, monkeypatch, tmp_path):
    target, token, proc = served
    monkeypatch.setenv("LENSDB_API_TOKEN", token)
    qid = int(world.ids[0])

    code, out, _ = query(capsys, target, "health")
    assert code == 0 and "SERVING" in out and "lensdb.v1.Search" in out

    code, out, err = query(capsys, target, "similar", "--id", str(qid), "-k", "5", "--survey", "south",
                           "--mag", "r:16:23", "--grid", str(tmp_path / "similar.png"), "--crop", "32")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("# 5 objects similar to object") and lines[1].split()[:2] == [
        "rank", "object_id"]
    assert len(lines) == 7 and all(line.split()[5] == "south" for line in lines[2:])
    assert (tmp_path / "similar.png").is_file() and "grid" in err
    assert lines[1].split()[-1] == "viewer" and "https://www.legacysurvey.org/viewer?ra=" in lines[2]

    # search results out in the field's formats: an astropy table and DS9 regions
    code, out, err = query(capsys, target, "similar", "--id", str(qid), "-k", "4", "--out", str(tmp_path / "hits.ecsv"))
    assert code == 0 and "wrote 4 row(s)" in err
    from astropy.table import Table
    from regions import Regions

    hits = Table.read(tmp_path / "hits.ecsv")
    assert list(hits["rank"]) == [1, 2, 3, 4] and str(hits["ra"].unit) == "deg" and "viewer" in hits.colnames
    assert query(capsys, target, "cone", str(world.columns["ra"][0]), str(world.columns["dec"][0]), "15", "--out",
                 str(tmp_path / "cone.reg"))[0] == 0
    assert len(Regions.read(str(tmp_path / "cone.reg"), format="ds9")) >= 1

    code, out, _ = query(capsys, target, "similar", "--ra", str(world.columns["ra"][9]), "--dec",
                         str(world.columns["dec"][9]), "-k", "3", "--json")
    assert code == 0 and len(json.loads(out[out.index("["):])) == 3

    code, out, _ = query(capsys, target, "cone", str(world.columns["ra"][0]), str(world.columns["dec"][0]), "15")
    assert code == 0 and out.splitlines()[1].split()[1] == str(qid)

    code, out, err = query(capsys, target, "object", str(int(world.lenses[0])), "77", "--labels")
    assert code == 1 and "known:lens" in out and "not in the catalogue: 77" in err

    code, out, _ = query(capsys, target, "candidates", world.probe_name, "-n", "12", "--grid",
                         str(tmp_path / "cands.png"), "--crop", "32")
    assert code == 0 and [int(line.split()[1]) for line in out.splitlines()[1:]] == world.ranked[:12].tolist()
    with Image.open(tmp_path / "cands.png") as img:
        assert img.format == "PNG"

    code, out, _ = query(capsys, target, "models")
    assert code == 0 and world.probe_name in out and "5@20" in out

    assert query(capsys, target, "cutout", str(qid), "--out", str(tmp_path / "c.npy"))[0] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), world.images[0])
    assert query(capsys, target, "cutout", str(qid), "--out", str(tmp_path / "c.png"), "--crop", "32")[0] == 0
    with Image.open(tmp_path / "c.png") as img:
        assert img.size == (32, 32)

    monkeypatch.delenv("LENSDB_API_TOKEN")
    code, _, err = query(capsys, target, "object", str(qid))
    assert code == 2 and "UNAUTHENTICATED" in err

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0
    logs = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    assert any(r.get("method") == "/lensdb.v1.Search/Similar" and r["code"] == "OK" for r in logs)
    assert any(r["msg"] == "stopped" for r in logs)


def test_serve_refuses_half_a_tls_configuration(tmp_path, capsys):
    code = main(["--data-dir", str(tmp_path), "serve", "--port", "0", "--tls-cert", str(tmp_path / "c.pem")])
    assert code == 2 and "both a certificate and a key" in capsys.readouterr().err


def test_query_without_a_server_is_unavailable(capsys):
    code, _, err = query(capsys, f"127.0.0.1:{free_port()}", "--timeout", "5", "object", "1")
    assert code == 3 and "UNAVAILABLE" in err  # 3: unavailable, worth a retry
