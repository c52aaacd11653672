"""A bounded, seeded fuzz of every RPC: hostile field values built from the messages' own descriptors, and raw bytes
that do not parse. Whatever comes in, the server answers with a status that names the problem (never INTERNAL or
UNKNOWN), keeps serving, and a write it refuses leaves the database exactly as it was.

The fuzz runs on its own small world (SQLite, and PostgreSQL, each with its own Milvus Lite file) so that the writes
it makes do not disturb the session's shared world.
"""

from __future__ import annotations

import hashlib
import random

import grpc
import pytest
from api_world import build_world, make_server
from google.protobuf.descriptor import FieldDescriptor
from sqlalchemy import MetaData, create_engine, select

from lensdb.api_grpc.gen.lensdb.v1 import (
    catalogue_pb2,
    cutouts_pb2,
    labels_pb2,
    probes_pb2,
    search_pb2,
)

SEED = 20261203
CALLS_PER_METHOD = 24
RAW_PER_METHOD = 4
WRITES = {"AddLabels", "RemoveLabels", "RecordGrades", "ImportLensList"}
MODULES = (search_pb2, catalogue_pb2, probes_pb2, labels_pb2, cutouts_pb2)
BAD_CODES = {"INTERNAL", "UNKNOWN", "DATA_LOSS"}

STRINGS = ["", " ", "x" * 300, "y" * 5000, "\x00", "a\x00b", "south", "north", "lens", "non_lens", "A", "B", "grades",
           "known", "probe-test", "'; DROP TABLE labels; --", 'south" or 1 == 1 or survey == "', "/etc/passwd",
           "../../../../tmp/x", "é漢字🙂", "\ud7ff", "DEV", "g", "r", "z", "nan", "1e19", "ra,dec\n1,2\n"]
INTS = [0, 1, -1, 7, 1000, 2**31, -(2**31), 2**53 + 1, 2**62, 2**63 - 1, -(2**63)]
UINTS = [0, 1, 7, 2**32 - 1, 2**63, 2**64 - 1]
FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 19.0, 1e19, -1e19, 1e308, float("nan"), float("inf"), float("-inf"), 360.0,
          -90.0, 90.0, 1e-300]


def _value(field: FieldDescriptor, rng: random.Random, world):
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return rng.choice(STRINGS + [world.probe_name, world.encoder_version])
    if t == FieldDescriptor.TYPE_BYTES:
        return rng.choice([b"", b"\x00" * 7, rng.randbytes(rng.randint(1, 2000)), b"ra,dec\n10,1\n",
                           b"ra\tdec\tname\n" + b"x" * 200_000])
    if t in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return rng.choice(INTS + [int(world.ids[rng.randrange(len(world.ids))])])
    if t in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
        return rng.choice([0, 1, -1, 5, 2**31 - 1, -(2**31)])
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return rng.choice(UINTS)
    if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return rng.choice([0, 1, 5, 2**32 - 1])
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice(FLOATS)
    if t == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if t == FieldDescriptor.TYPE_ENUM:
        return rng.choice([v.number for v in field.enum_type.values])
    raise AssertionError(f"unhandled field type {t}")


def fill(message, rng: random.Random, world, depth: int = 0):
    """Set a random subset of ``message``'s fields to hostile values (one member per oneof)."""
    chosen_oneof = {o.name: rng.choice(o.fields) for o in message.DESCRIPTOR.oneofs}
    for field in message.DESCRIPTOR.fields:
        if field.containing_oneof is not None and chosen_oneof[field.containing_oneof.name] is not field:
            continue
        if rng.random() < 0.35:
            continue
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        if field.is_repeated:
            n = rng.choice([0, 1, 2, 5, 40])
            target = getattr(message, field.name)
            if is_message and field.message_type.GetOptions().map_entry:
                continue
            for _ in range(n):
                if is_message:
                    if depth < 3:
                        fill(target.add(), rng, world, depth + 1)
                else:
                    target.append(_value(field, rng, world))
        elif is_message:
            if field.message_type.full_name.startswith("google.protobuf"):
                continue
            if depth < 3:
                fill(getattr(message, field.name), rng, world, depth + 1)
        else:
            setattr(message, field.name, _value(field, rng, world))
    return message


def database_digest(url: str) -> str:
    """sha256 of every row of every table, in a stable order."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        h = hashlib.sha256()
        with engine.connect() as conn:
            for table in sorted(meta.tables.values(), key=lambda t: t.name):
                rows = sorted(repr(tuple(r)) for r in conn.execute(select(table)))
                h.update(table.name.encode())
                for row in rows:
                    h.update(row.encode())
        return h.hexdigest()
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite+lite-file", "postgresql+lite-file"])
def fuzz_world(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz-" + request.param.replace("+", "-"))
    if request.param == "sqlite+lite-file":
        world = build_world(tmp, f"sqlite:///{tmp / 'lensdb.sqlite'}", str(tmp / "milvus.db"))
    else:
        world = build_world(tmp, request.getfixturevalue("pg_url_module"), str(tmp / "milvus.db"))
    server = make_server(world).start()
    yield world, server
    server.stop(grace=0)


@pytest.fixture(scope="module")
def pg_url_module(pg_session_url):
    """A fresh database for this module's PostgreSQL world: the session's is shared with the other API tests."""
    import uuid

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    admin = create_engine(pg_session_url, isolation_level="AUTOCOMMIT")
    name = f"lensdb_fuzz_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(pg_session_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _methods():
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield service.full_name, method


def test_fuzz_every_rpc(fuzz_world):
    world, server = fuzz_world
    rng = random.Random(SEED)
    calls, codes = 0, {}
    digest = database_digest(world.db_url)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}",
                               options=[("grpc.max_receive_message_length", 64 << 20)]) as channel:
        for service, method in _methods():
            path = f"/{service}/{method.name}"
            request_cls = _message_class(method.input_type)
            streaming = method.server_streaming
            identity = lambda b: b  # noqa: E731 - raw bytes in and out
            call = (channel.unary_stream if streaming else channel.unary_unary)(
                path, request_serializer=identity, response_deserializer=identity)
            payloads = [fill(request_cls(), rng, world).SerializeToString() for _ in range(CALLS_PER_METHOD)]
            payloads += [rng.randbytes(rng.randint(1, 64)) for _ in range(RAW_PER_METHOD)]
            payloads += [b"\xff" * 9, b"\x0a\xff\xff\xff\xff\x0f"]  # a bad varint, a length past the end
            for payload in payloads:
                code = _call(call, payload, streaming)
                calls += 1
                codes[code] = codes.get(code, 0) + 1
                assert code not in BAD_CODES, f"{path} answered {code} to {payload[:80]!r}"
                if method.name in WRITES:
                    after = database_digest(world.db_url)
                    if code != "OK":
                        assert after == digest, f"{path} refused ({code}) but changed the database"
                    digest = after
        # Still serving: a normal search answers.
        ok = channel.unary_unary("/lensdb.v1.Search/Similar", request_serializer=search_pb2.SimilarRequest
                                 .SerializeToString, response_deserializer=search_pb2.SimilarResponse.FromString)
        assert len(ok(search_pb2.SimilarRequest(object_id=int(world.ids[0]), k=3), timeout=60).hits) == 3
    assert calls >= 400
    assert codes.get("INVALID_ARGUMENT", 0) > 0 and codes.get("OK", 0) > 0, codes


def _message_class(descriptor):
    for module in MODULES:
        if descriptor.name in module.DESCRIPTOR.message_types_by_name and \
                module.DESCRIPTOR.message_types_by_name[descriptor.name] is descriptor:
            return getattr(module, descriptor.name)
    raise AssertionError(f"no class for {descriptor.full_name}")


def _call(call, payload: bytes, streaming: bool) -> str:
    try:
        if streaming:
            for _ in call(payload, timeout=60):
                pass
        else:
            call(payload, timeout=60)
        return "OK"
    except grpc.RpcError as exc:
        return exc.code().name
