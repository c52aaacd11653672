"""Every known failure of a command ends in one line and an exit status, never a traceback (lensdb.cli.main is the
one place that turns them into messages): a database that is down or has no schema, a config file that is not
UTF-8, a folder where a file is expected, a shard with impossible ids, a damaged checkpoint."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

UNREACHABLE = "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere"


def lensdb(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lensdb.cli", *args], capture_output=True, text=True, timeout=timeout)


def one_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and " WARNING " not in ln]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_database_unreachable_is_one_line_and_status_3(tmp_path):
    shard = tmp_path / "s.h5"
    shard.write_bytes(b"")
    lists = tmp_path / "l.csv"
    lists.write_text("ra,dec\n1,2\n")
    for args in (["ingest", str(shard)], ["labels", "list"], ["labels", "import", str(lists)], ["probe", "list"],
                 ["probe", "score", "p1"], ["jobs"]):
        proc = lensdb("--data-dir", str(tmp_path / "d"), "--database-url", UNREACHABLE, *args)
        line = one_line(proc)
        assert proc.returncode == 3, (args, proc.stderr)
        assert "unavailable" in line and "127.0.0.1" in line, line


def test_fresh_data_folder_says_to_create_the_schema(tmp_path):
    lists = tmp_path / "l.csv"
    lists.write_text("ra,dec\n1,2\n")
    for args in (["labels", "import", str(lists)], ["labels", "list"], ["jobs"]):
        proc = lensdb("--data-dir", str(tmp_path / "fresh"), *args)
        line = one_line(proc)
        assert proc.returncode == 2 and "lensdb db upgrade" in line, line


def test_config_and_path_mistakes(tmp_path):
    cfg = tmp_path / "latin.toml"
    cfg.write_bytes("[serve]\n# caf\xe9\n".encode("latin-1"))
    proc = lensdb("--config", str(cfg), "labels", "list")
    assert proc.returncode == 2 and "not UTF-8" in one_line(proc)
    proc = lensdb("--config", str(tmp_path), "labels", "list")
    assert proc.returncode == 2 and "is a folder" in one_line(proc)
    assert lensdb("--data-dir", str(tmp_path / "d"), "db", "upgrade").returncode == 0
    proc = lensdb("--data-dir", str(tmp_path / "d"), "labels", "import", str(tmp_path))
    assert proc.returncode == 2 and "is a folder; give the list's file" in one_line(proc)


def test_impossible_object_ids_name_the_shard():
    from lensdb.core.errors import InvalidInput
    from lensdb.ingest.reader import object_ids

    raw = {"release": np.full(3, 9010), "brickid": np.array([1, 2, 2**21]), "objid": np.arange(3)}
    with pytest.raises(InvalidInput, match="bad.h5: key 'release/brickid/objid': brickid must lie in"):
        object_ids(raw, "bad.h5")


def test_a_bug_is_one_line_that_says_how_to_see_the_traceback(capsys):
    from lensdb.cli import report_failure

    assert report_failure("demo", ZeroDivisionError("division by zero")) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError" in err and "--log-level DEBUG" in err and "Traceback" not in err


def test_checkpoint_errors_do_not_repeat_pytorch_advice(tmp_path):
    import pathlib

    import torch

    from lensdb.encoder.checkpoint import CorruptCheckpoint, load_checkpoint

    path = tmp_path / "other.pt"
    torch.save({"a": pathlib.Path("/x")}, path)
    with pytest.raises(CorruptCheckpoint) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert "pathlib.PosixPath" in text and "weights_only" not in text and "add_safe_globals" not in text


def test_tls_certificate_and_key_swapped_is_said_so(tmp_path):
    from lensdb.api_grpc.server import tls_pair
    from lensdb.core.config import ConfigError

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    assert tls_pair(str(cert), str(key))[0].startswith(b"-----BEGIN")
    with pytest.raises(ConfigError, match="swapped"):
        tls_pair(str(key), str(cert))
    with pytest.raises(ConfigError, match="is a folder"):
        tls_pair(str(tmp_path), str(key))
