"""Wording of errors found by the red-team pass (issue #27 item 12): each says what is wrong in the caller's own
terms."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lensdb.cli import main
from lensdb.core.errors import InvalidInput
from lensdb.services import validate

H = {"X-LensDB": "1"}


@pytest.mark.parametrize("value", [2**63, 2**64 + 5, np.uint64(2**63)])
def test_an_id_beyond_64_bits_is_named_as_given_not_wrapped(value):
    with pytest.raises(InvalidInput, match=f"object ids lie in \\[0, {2**63 - 1}\\] \\(64-bit\\); got {int(value)}"):
        validate.object_ids("object_ids", [value] if not isinstance(value, np.uint64) else np.array([value]), 10)


def test_an_id_beyond_64_bits_through_the_page(web):
    import httpx

    c = httpx.Client(base_url=web.url, timeout=60)
    assert c.post("/api/login", json={"grader": "wording"}, headers=H).status_code == 200
    r = c.post("/api/queues", json={"kind": "similar", "object_ids": [2**63]}, headers=H)
    c.close()
    assert r.status_code == 400 and str(2**63) in r.json()["error"] and "-9223372036854775808" not in r.text


def test_grade_file_that_is_a_device_is_not_called_missing(tmp_path, capsys):
    code = main(["--data-dir", str(tmp_path / "d"), "--database-url", f"sqlite:///{tmp_path / 'x.sqlite'}", "grade",
                 "--file", "/dev/null"])
    err = capsys.readouterr().err
    assert code == 2 and "is not a regular file" in err and "does not exist" not in err


def test_milvus_lite_timestamp_warning_is_not_printed_outside_the_cli(tmp_path):
    """pymilvus warns "failed to get mvccTs ..." at every query iterator against Milvus Lite (every round reads
    the vector ids that way); it is expected there and is now hidden for every use of LensDB, not only after the
    CLI set up logging."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api_grpc"))
    from api_world import build_world

    web_world = build_world(tmp_path, f"sqlite:///{tmp_path / 'lensdb.sqlite'}", str(tmp_path / "milvus.db"))
    code = (
        "import logging\n"
        "from lensdb.core.config import load_settings\n"
        "from lensdb.classifiers.features import StoreFeatures\n"
        f"s = load_settings(env={{}}, data_dir={str(web_world.settings.data_dir)!r}, "
        f"database_url={web_world.db_url!r}, milvus_uri={web_world.settings.milvus_uri!r})\n"
        f"src = StoreFeatures.open(s, {web_world.encoder_version!r})\n"
        "print(len(src.ids()))\n"
        "src.close()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) == len(web_world.ids) and "mvccTs" not in out.stderr, out.stderr
