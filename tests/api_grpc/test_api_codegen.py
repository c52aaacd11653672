"""The committed stubs are what the pinned generator makes from the committed .proto files."""

from __future__ import annotations

from lensdb.api_grpc import codegen


def test_committed_stubs_are_current():
    stale = codegen.stale_files()
    assert not stale, f"regenerate with 'python -m lensdb.api_grpc.codegen': {stale}"


def test_protocol_is_versioned_in_one_place():
    from lensdb.api_grpc.gen.lensdb.v1 import search_pb2

    assert [p.name for p in codegen.proto_files()] == [
        "catalogue.proto", "common.proto", "cutouts.proto", "labels.proto", "probes.proto", "search.proto"]
    assert search_pb2.DESCRIPTOR.package == "lensdb.v1"
    assert search_pb2.DESCRIPTOR.name == "lensdb/v1/search.proto"  # the path reflection clients resolve


def test_check_command_reports_stale_stubs(tmp_path, capsys):
    assert codegen.main(["--check"]) == 0
    stale_copy = tmp_path / "gen"
    codegen.generate(stale_copy)
    (stale_copy / "lensdb" / "v1" / "search_pb2.py").write_text("# edited by hand\n")
    (stale_copy / "lensdb" / "v1" / "extra_pb2.py").write_text("")
    assert codegen.stale_files(stale_copy) == ["lensdb/v1/extra_pb2.py", "lensdb/v1/search_pb2.py"]
