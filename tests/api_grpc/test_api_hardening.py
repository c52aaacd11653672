"""The defects found by trying the API as an attacker and as a careless user would, each with the test that catches
it: authentication that an empty token switched off, label sets a list could destroy or block, INTERNAL answers to
bad input, unparseable bytes, server paths in messages, metrics open to the network."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import uuid

import grpc
import pytest
from api_world import make_server

from lensdb.api_grpc.client import ApiError, Filters, LensDBClient
from lensdb.api_grpc.config import ServeConfig
from lensdb.api_grpc.gen.lensdb.v1 import labels_pb2, labels_pb2_grpc
from lensdb.api_grpc.tokens import read_token
from lensdb.core.config import ConfigError
from lensdb.core.errors import InvalidInput


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def code_of(call) -> tuple[str, str]:
    with pytest.raises(ApiError) as err:
        call()
    return err.value.code.name, err.value.details


# ---- 1. an empty token never switches authentication off ----------------------------------------------------

def test_an_empty_token_from_any_source_is_an_error(tmp_path, monkeypatch):
    empty, blank, good = tmp_path / "empty", tmp_path / "blank", tmp_path / "good"
    empty.write_text("")
    blank.write_text("  \n\t\n")
    good.write_text("s3cret\n")
    monkeypatch.delenv("LENSDB_API_TOKEN", raising=False)
    for path in (empty, blank):
        with pytest.raises(InvalidInput, match="is empty: an empty token would switch authentication off"):
            read_token(str(path))
    with pytest.raises(InvalidInput, match="is a folder"):
        read_token(str(tmp_path))
    assert read_token(str(good)) == "s3cret" and read_token(None) is None
    monkeypatch.setenv("LENSDB_API_TOKEN", " ")
    with pytest.raises(InvalidInput, match=r"\$LENSDB_API_TOKEN is set but empty"):
        read_token(None)
    monkeypatch.setenv("LENSDB_API_TOKEN", "")
    with pytest.raises(InvalidInput, match="set but empty"):
        read_token(None)
    for token in ("", "   "):
        with pytest.raises(ConfigError, match=r"\[serve\] token is empty"):
            ServeConfig(token=token)


def test_serve_with_an_empty_token_file_refuses_to_start(tmp_path):
    from lensdb.cli import main

    empty = tmp_path / "token"
    empty.write_text("\n")
    proc = subprocess.run([sys.executable, "-m", "lensdb.cli", "--data-dir", str(tmp_path / "d"), "serve", "--port",
                           "0", "--metrics-port", "0", "--token-file", str(empty)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "empty token would switch authentication off" in proc.stderr
    assert "Traceback" not in proc.stderr and "auth off" not in proc.stderr
    assert main(["--data-dir", str(tmp_path / "d"), "serve", "--token-file", str(empty)]) == 2


# ---- 2, 3. grading sets cannot be replaced or blocked by a list; replacing needs a confirmation ---------------

def test_import_never_replaces_a_grading_set_and_replacing_needs_confirmation(world, client, tmp_path):
    grades = _name("grades")
    client.grade({int(world.ids[130]): "A"}, author="ana", label_set=grades)
    listing = tmp_path / f"{grades}.csv"
    listing.write_text(f"ra,dec\n{world.columns['ra'][5]},{world.columns['dec'][5]}\n")
    code, details = code_of(lambda: client.import_lens_list(listing, name=grades, replace=True,
                                                            confirm_replace=grades))
    assert code == "INVALID_ARGUMENT" and "reserved for grading sets" in details
    assert client.label_sets(grades)[0].grade_a == 1  # the human grade is still there

    hand = _name("hand")
    client.add_labels(hand, [(int(world.ids[131]), "lens")])
    other = tmp_path / "other.csv"
    other.write_text(f"ra,dec\n{world.columns['ra'][6]},{world.columns['dec'][6]}\n")
    code, details = code_of(lambda: client.import_lens_list(other, name=hand))
    assert code == "FAILED_PRECONDITION" and hand in details
    # The API's way to replace, not the command line's (issue #27 item 12: it said "pass --replace").
    assert "--replace" not in details and "confirm_replace" in details and "replace" in details
    code, details = code_of(lambda: client.import_lens_list(other, name=hand, replace=True))
    assert code == "INVALID_ARGUMENT" and "confirm_replace" in details and hand in details
    code, _ = code_of(lambda: client.import_lens_list(other, name=hand, replace=True, confirm_replace="other"))
    assert code == "INVALID_ARGUMENT"
    assert client.label_sets(hand)[0].lens == 1  # nothing replaced yet
    done = client.import_lens_list(other, name=hand, replace=True, confirm_replace=hand)
    assert done.replaced == 1 and done.lens_labels == 1


def test_a_list_cannot_take_a_grading_name(world, client):
    for name in ("grades", "grades-2027", "Grades"):
        code, details = code_of(lambda n=name: client.add_labels(n, [(int(world.ids[132]), "lens")]))
        assert code == "INVALID_ARGUMENT" and "reserved for grading sets" in details
    rep = client.grade({int(world.ids[132]): "B"}, author="ana")  # the default grading set still takes grades
    assert rep.label_set == "grades" and rep.grade_b == 1
    code, details = code_of(lambda: client.grade({int(world.ids[132]): "A"}, author="ana", label_set="known"))
    assert code == "INVALID_ARGUMENT" and "grading sets are named 'grades'" in details


# ---- 5. numbers beyond int64, huge fields, long file names, NUL: INVALID_ARGUMENT on both databases -------------

def test_bad_input_that_answered_internal(world, client, channel):
    huge = "9" * 25
    assert code_of(lambda: client.candidates(huge))[0] == "NOT_FOUND"
    assert code_of(lambda: client.score(huge, [int(world.ids[0])]))[0] == "NOT_FOUND"
    token = base64.urlsafe_b64encode(json.dumps({"v": 1, "s": "x", "k": 2**70}).encode()).decode().rstrip("=")
    assert code_of(lambda: client.candidates(world.probe_name, page_token=token))[0] == "INVALID_ARGUMENT"
    assert code_of(lambda: client.label_set("known", page_token=token))[0] == "INVALID_ARGUMENT"
    stub = labels_pb2_grpc.LabelsStub(channel)
    content = b"ra,dec,name\n10,1," + b"x" * 140_000 + b"\n"
    with pytest.raises(grpc.RpcError) as err:
        stub.ImportLensList(labels_pb2.ImportLensListRequest(name=_name("big"), filename="big.csv", content=content),
                            timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "unclosed quote" in err.value.details()
    row = f"ra,dec,name\n{world.columns['ra'][7]},{world.columns['dec'][7]},a\x00b\n".encode()
    with pytest.raises(grpc.RpcError) as err:
        stub.ImportLensList(labels_pb2.ImportLensListRequest(name=_name("nul"), filename="nul.csv", content=row),
                            timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "control characters" in err.value.details()
    long_name = "l" * 400 + ".csv"
    fine = f"ra,dec\n{world.columns['ra'][8]},{world.columns['dec'][8]}\n".encode()
    res = stub.ImportLensList(labels_pb2.ImportLensListRequest(name=_name("long"), filename=long_name, content=fine),
                              timeout=60)
    assert res.matched == 1


# ---- 8. magnitude bounds that no survey has never reach Milvus --------------------------------------------------

def test_absurd_magnitude_bounds_are_invalid(world, client):
    for flt in (Filters(mag={"r": (None, 1e19)}), Filters(mag={"g": (-1e19, None)}), Filters(window=1e19)):
        code, details = code_of(lambda f=flt: client.similar(object_id=int(world.ids[0]), k=5, filters=f))
        assert code == "INVALID_ARGUMENT" and "mag" in details


# ---- 9. bytes that do not parse: INVALID_ARGUMENT (UNAUTHENTICATED first), one log line, counted -------------

def _raw(target: str, payload: bytes, metadata=()) -> str:
    with grpc.insecure_channel(target) as ch:
        call = ch.unary_unary("/lensdb.v1.Search/Similar", request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as err:
            call(payload, timeout=30, metadata=metadata)
    return err.value.code().name


def test_unparseable_bytes_are_invalid_argument_counted_and_logged_once(world, caplog):
    with make_server(world, token="s3cret-token", metrics_on_free_port=True) as srv:
        target = f"127.0.0.1:{srv.port}"
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert _raw(target, b"\xff\xff\xff") == "UNAUTHENTICATED"  # no token: that is said first
            assert _raw(target, b"\xff\xff\xff", (("authorization", "Bearer s3cret-token"),)) == "INVALID_ARGUMENT"
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, [r.getMessage() for r in errors]
        lines = [r.getMessage() for r in caplog.records if r.name == "lensdb.api.access"]
        assert any("INVALID_ARGUMENT" in line for line in lines) and any("UNAUTHENTICATED" in line for line in lines)
        text = _scrape(srv.metrics_port)
        assert 'code="INVALID_ARGUMENT"' in text and 'code="UNAUTHENTICATED"' in text


def _scrape(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return resp.read().decode()


# ---- 12. clients see names, not the server's folders; /metrics stays on loopback unless asked ------------------

def test_messages_and_label_sets_carry_no_server_paths(world, client):
    code, details = code_of(lambda: client.similar(object_id=int(world.ids[0]), k=3, encoder_version="nope-v0"))
    assert code == "NOT_FOUND" and "nope-v0" in details
    folder = str(world.settings.data_dir.parent)
    assert folder not in details and not world.settings.milvus_uri.startswith(folder) or "milvus.db" in details
    for summary in client.label_sets():
        assert "/" not in (summary.source or ""), summary.source


def test_metrics_listen_on_loopback_unless_asked(world):
    assert ServeConfig().metrics_host == "127.0.0.1"
    with make_server(world, metrics_on_free_port=True) as srv:
        assert srv.metrics._http.server_address[0] == "127.0.0.1"


def test_no_token_configured_means_no_auth_and_a_token_means_auth(world):
    with make_server(world, token="t0ken") as srv, LensDBClient(f"127.0.0.1:{srv.port}") as api:
        assert code_of(lambda: api.models())[0] == "UNAUTHENTICATED"
