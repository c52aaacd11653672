"""Every status code the API answers, and hostile input: each is refused with a clear error while the server keeps
serving (every test ends with a normal search on the same server)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from lensdb.api_grpc.client import ApiError, Filters
from lensdb.api_grpc.errors import STATUS_MAP, status_of
from lensdb.api_grpc.gen.lensdb.v1 import common_pb2, cutouts_pb2, search_pb2
from lensdb.catalog.db import DatabaseUnavailable, SchemaOutOfDate
from lensdb.core.errors import Conflict, InvalidInput, LensDBError, NotFound
from lensdb.services.deadline import Deadline
from lensdb.services.errors import BackendUnavailable, Cancelled, DeadlineExceeded
from lensdb.services.types import SimilarQuery

INJECTION = ['south" or 1 == 1 or survey == "', "'; DROP TABLE labels; --", "object_id >= 0", "\x00\n\t"]


@pytest.fixture
def check_serving(world, client):
    """After the test: the server still answers a normal search correctly."""
    yield
    res = client.similar(object_id=int(world.ids[1]), k=3)
    assert len(res.hits) == 3


def code_of(call) -> str:
    with pytest.raises(ApiError) as err:
        call()
    return err.value.code.name


def test_status_map_covers_every_domain_error():
    expected = {
        DeadlineExceeded("x"): "DEADLINE_EXCEEDED", Cancelled("x"): "CANCELLED",
        BackendUnavailable("x"): "UNAVAILABLE", DatabaseUnavailable("x"): "UNAVAILABLE",
        SchemaOutOfDate("x"): "FAILED_PRECONDITION", InvalidInput("x"): "INVALID_ARGUMENT",
        NotFound("x"): "NOT_FOUND", Conflict("x"): "FAILED_PRECONDITION", LensDBError("x"): "FAILED_PRECONDITION",
    }
    for exc, name in expected.items():
        assert status_of(exc) == (getattr(grpc.StatusCode, name), "x")
    assert {kind for kind, _ in STATUS_MAP} >= {type(e) for e in expected}


def test_unexpected_errors_are_internal_without_their_text():
    code, details = status_of(RuntimeError("secret path /etc/shadow"))
    assert code == grpc.StatusCode.INTERNAL and "secret" not in details and "incident" in details


@pytest.mark.parametrize("k", [0, -1, -(2**40), 2**40, 100_001])
def test_bad_k_is_invalid(world, client, check_serving, k):
    assert code_of(lambda: client.similar(object_id=int(world.ids[0]), k=k, stream=False)) == "INVALID_ARGUMENT"


def test_bad_vectors_are_invalid(world, client, check_serving):
    dim = world.vectors.shape[1]
    for vec in (np.ones(dim - 1), np.ones(dim + 1), np.full(dim, np.nan), np.zeros(dim),
                np.r_[np.ones(dim - 1), np.inf]):
        assert code_of(lambda v=vec: client.similar(vector=v, k=5)) == "INVALID_ARGUMENT"


@pytest.mark.parametrize("flt", [
    Filters(surveys=("mars",)), Filters(mag={"u": (17, 18)}), Filters(mag={"r": (None, None)}),
    Filters(mag={"r": (float("nan"), 20)}), Filters(window=0.0), Filters(window=-1.0),
    Filters(cone=(400.0, 0.0, 10.0)), Filters(cone=(10.0, 95.0, 10.0)), Filters(cone=(10.0, 0.0, -5.0)),
    Filters(cone=(10.0, 0.0, float("inf"))), Filters(types=("GALAXY",)), Filters(dedupe_px=-3.0),
    Filters(exclude=(-5,)),
])
def test_bad_filters_are_invalid(world, client, check_serving, flt):
    assert code_of(lambda: client.similar(object_id=int(world.ids[0]), k=5, filters=flt)) == "INVALID_ARGUMENT"


@pytest.mark.parametrize("text", INJECTION)
def test_injection_strings_are_refused_or_inert(world, client, check_serving, text):
    qid = int(world.ids[0])
    assert code_of(lambda: client.similar(object_id=qid, k=5, filters=Filters(surveys=(text,)))) == "INVALID_ARGUMENT"
    assert code_of(lambda: client.similar(object_id=qid, k=5, filters=Filters(types=(text,)))) == "INVALID_ARGUMENT"
    assert code_of(lambda: client.similar(object_id=qid, k=5, encoder_version=text)) in ("INVALID_ARGUMENT",
                                                                                         "NOT_FOUND")
    labelled = Filters(exclude_labelled=True, label_set=text)
    assert code_of(lambda: client.similar(object_id=qid, k=5, filters=labelled)) in ("INVALID_ARGUMENT", "NOT_FOUND")
    assert code_of(lambda: client.candidates(text)) in ("INVALID_ARGUMENT", "NOT_FOUND")
    assert code_of(lambda: client.label_set(text)) in ("INVALID_ARGUMENT", "NOT_FOUND")
    assert code_of(lambda: client.candidates(world.probe_name, page_token=text)) == "INVALID_ARGUMENT"
    assert client.label_sets("known")[0].lens == len(world.lenses)  # the tables are intact


def test_bad_cutouts_are_invalid(world, client, check_serving):
    good = world.images[0]
    bad_arrays = [
        common_pb2.Array(shape=[3, 40, 40], dtype="float32", data=b"\0" * 100),  # bytes do not match the shape
        common_pb2.Array(shape=[3, 40, 40], dtype="float64", data=good.astype(np.float64).tobytes()),
        common_pb2.Array(shape=[3, 40, 40, 1, 1], dtype="float32", data=good.tobytes()),
        common_pb2.Array(shape=[3, -40, -40], dtype="float32", data=b""),
    ]
    for arr in bad_arrays:
        req = search_pb2.SimilarRequest(cutout=arr, k=3)
        with pytest.raises(grpc.RpcError) as err:
            client.search.Similar(req, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    nan = good.copy()
    nan[0, 0, 0] = np.nan
    for image in (nan, good[:2], good[:, :, :30], good[:, :20, :20], np.zeros((3, 600, 600), np.float32)):
        assert code_of(lambda im=image: client.similar(image=im, k=3)) == "INVALID_ARGUMENT"


def test_no_query_is_invalid(client, check_serving):
    with pytest.raises(grpc.RpcError) as err:
        client.search.Similar(search_pb2.SimilarRequest(k=3), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_bad_ids_and_sizes_are_invalid(world, client, check_serving):
    assert code_of(lambda: client.objects([-1])) == "INVALID_ARGUMENT"
    assert code_of(lambda: client.objects([])) == "INVALID_ARGUMENT"
    assert code_of(lambda: client.objects(range(20_000))) == "INVALID_ARGUMENT"
    assert code_of(lambda: client.similar(object_id=-3, k=3)) == "INVALID_ARGUMENT"
    assert code_of(lambda: client.cone(10.0, 0.0, 1e9)) == "INVALID_ARGUMENT"
    assert code_of(lambda: client.cone(float("nan"), 0.0, 10.0)) == "INVALID_ARGUMENT"
    assert code_of(lambda: client.candidates(world.probe_name, page_size=-1)) == "INVALID_ARGUMENT"
    assert code_of(lambda: client.add_labels("x", [(int(world.ids[0]), "maybe")])) == "INVALID_ARGUMENT"
    assert code_of(lambda: client.add_labels("x", [(int(world.ids[0]), "non_lens", "A")])) == "INVALID_ARGUMENT"
    assert code_of(lambda: client.grade({int(world.ids[0]): "C"})) == "INVALID_ARGUMENT"
    req = cutouts_pb2.GetCutoutRequest(object_id=int(world.ids[0]), format=7)
    with pytest.raises(grpc.RpcError) as err:
        client.cutouts.GetCutout(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: client.cutout(int(world.ids[0]), crop=500)) == "INVALID_ARGUMENT"


def test_not_found(world, client, check_serving):
    assert code_of(lambda: client.similar(object_id=12345, k=3)) == "NOT_FOUND"
    assert code_of(lambda: client.similar(ra=10.0, dec=-40.0, k=3)) == "NOT_FOUND"
    assert code_of(lambda: client.similar(object_id=int(world.ids[0]), k=3, encoder_version="nope-v1")) == "NOT_FOUND"
    assert code_of(lambda: client.candidates("no-such-model")) == "NOT_FOUND"
    assert code_of(lambda: client.score("no-such-model", [1])) == "NOT_FOUND"
    assert code_of(lambda: client.label_set("no-such-set")) == "NOT_FOUND"
    assert code_of(lambda: client.remove_labels("no-such-set", [1])) == "NOT_FOUND"
    assert code_of(lambda: client.grade({1: "A"})) == "NOT_FOUND"
    assert code_of(lambda: client.cutout(12345)) == "NOT_FOUND"
    flt = Filters(exclude_labelled=True, label_set="no-such-set")
    assert code_of(lambda: client.similar(object_id=int(world.ids[0]), k=3, filters=flt)) == "NOT_FOUND"


def test_failed_precondition_without_an_encoder(world, check_serving):
    from api_world import make_server

    from lensdb.api_grpc.client import LensDBClient

    with make_server(world, checkpoint="") as srv, \
            LensDBClient(f"127.0.0.1:{srv.port}") as api:
        with pytest.raises(ApiError) as err:
            api.similar(image=world.images[0], k=3)
        assert err.value.code.name == "FAILED_PRECONDITION" and "checkpoint" in err.value.details
        assert len(api.similar(object_id=int(world.ids[0]), k=3).hits) == 3


def test_deadline_exceeded(world, server, client, check_serving):
    assert code_of(lambda: client.similar(object_id=int(world.ids[0]), k=50, timeout=1e-6)) == "DEADLINE_EXCEEDED"
    # The service layer checks the deadline before each stage instead of working for nobody.
    query = SimilarQuery(k=5, object_id=int(world.ids[0]))
    with pytest.raises(DeadlineExceeded):
        server.services.search.similar(query, Deadline.after(-1.0))
    with pytest.raises(Cancelled):
        server.services.search.similar(query, Deadline(None, lambda: True))


def test_oversized_messages_are_refused(world, server, client, check_serving):
    floats = server.config.max_receive_bytes // 4 + 1000  # just over the server's receive limit
    with pytest.raises(grpc.RpcError) as err:
        client.search.Similar(search_pb2.SimilarRequest(vector=search_pb2.Vector(values=np.ones(floats)), k=3),
                              timeout=60)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_bad_positions_and_uploads_are_invalid(world, client, check_serving, tmp_path):
    for ra, dec, radius in ((float("nan"), 0.0, 0.0), (10.0, -91.0, 0.0), (10.0, 0.0, 1e7), (10.0, 0.0, -1.0)):
        assert code_of(lambda r=ra, d=dec, m=radius: client.similar(ra=r, dec=d, match_radius_arcsec=m, k=3)) \
            == "INVALID_ARGUMENT"
    for content in (b"\x00\xff\xfe" * 100, b"ra,dec\n1,2,3,4\n\x00\n", b"ra,dec\nabc,def\n"):
        path = tmp_path / "garbage.csv"
        path.write_bytes(content)
        assert code_of(lambda p=path: client.import_lens_list(p, name="garbage")) == "INVALID_ARGUMENT"
    assert all(s.name != "garbage" for s in client.label_sets())
