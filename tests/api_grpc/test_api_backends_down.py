"""Health and errors when a backend is down: a Milvus server that is stopped and comes back (a Milvus Lite server, and
the real Milvus server), a database that cannot be reached, and a PostgreSQL server (a private cluster) that dies
and comes back. The API server keeps running throughout, answers what it still can, answers UNAVAILABLE (never
INTERNAL) for what it cannot, and recovers by itself."""

from __future__ import annotations

import grpc
import pytest
from api_world import make_server
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lite_server import free_port, start_lite_server, stop_process
from milvus_server import MilvusServer
from pg_cluster import PrivatePostgres

from lensdb.api_grpc.client import ApiError, LensDBClient
from lensdb.core.config import load_settings

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def statuses(channel) -> dict[str, int]:
    stub = health_pb2_grpc.HealthStub(channel)
    names = ("", "lensdb.v1.Search", "lensdb.v1.Catalogue", "lensdb.v1.Labels", "lensdb.liveness")
    return {n: stub.Check(health_pb2.HealthCheckRequest(service=n), timeout=30).status for n in names}


@pytest.fixture(params=["lite-server", "milvus"])
def own_milvus(request, world, tmp_path):
    """A Milvus server of the test's own holding a copy of the world's vectors: ``milvus-lite server`` or the real
    Milvus server (killed with SIGKILL and restarted on the same data folder); yields (settings, restart, stop)."""
    from lensdb.vectordb.config import VectorDBConfig
    from lensdb.vectordb.store import VectorStore

    if request.param == "lite-server":
        port = free_port()
        data = tmp_path / "milvus"
        state = {"proc": start_lite_server(data, port=port)[0]}
        uri = f"http://127.0.0.1:{port}"

        def stop():
            stop_process(state["proc"])

        def restart():
            state["proc"] = start_lite_server(data, port=port)[0]
    else:
        server = MilvusServer(tmp_path / "milvus").start()
        uri, stop, restart = server.uri, server.kill, server.start
        request.addfinalizer(server.remove)
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"), database_url=world.db_url, milvus_uri=uri)
    dim = world.vectors.shape[1]
    c = world.columns
    with VectorStore.open(settings, world.encoder_version, dim=dim, create=True,
                          config=VectorDBConfig(dim=dim, index_type="FLAT")) as store:
        store.insert({"object_id": world.ids, "vector": world.vectors, "norm": [1.0] * len(world.ids),
                      "survey": c["survey"], "mag_g": c["mag_r"], "mag_r": c["mag_r"], "mag_z": c["mag_r"],
                      "ra": c["ra"], "dec": c["dec"], "source_type": c["source_type"],
                      "shard": ["s"] * len(world.ids)})
        store.flush()  # the real server keeps unflushed rows only in its write-ahead log until they are sealed

    yield settings, restart, stop
    stop()


#: The outage tests need one world only (the other backend is not the one that fails).
ONE_WORLD = pytest.mark.parametrize("world", ["sqlite+lite-file"], indirect=True)


@ONE_WORLD
def test_milvus_down_then_back(world, own_milvus):
    settings, restart, stop = own_milvus
    qid = int(world.ids[0])
    with make_server(world, settings) as srv, grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch, \
            LensDBClient(f"127.0.0.1:{srv.port}", timeout=60) as api:
        assert set(statuses(ch).values()) == {SERVING}
        expected = api.similar(object_id=qid, k=5).ids
        stop()
        srv.monitor.check_now()
        st = statuses(ch)
        assert st[""] == NOT_SERVING and st["lensdb.v1.Search"] == NOT_SERVING
        assert st["lensdb.v1.Catalogue"] == SERVING and st["lensdb.liveness"] == SERVING
        with pytest.raises(ApiError) as err:
            api.similar(object_id=qid, k=5)
        assert err.value.code.name == "UNAVAILABLE"
        assert api.objects([qid]).objects  # the catalogue still answers
        restart()
        srv.monitor.check_now()
        assert set(statuses(ch).values()) == {SERVING}
        assert api.similar(object_id=qid, k=5).ids == expected  # a new connection, same answer


def test_database_unreachable(world):
    dead = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/lensdb"
    settings = load_settings(env={}, data_dir=str(world.settings.data_dir), database_url=dead,
                             milvus_uri=world.settings.milvus_uri)
    with make_server(world, settings) as srv, grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch, \
            LensDBClient(f"127.0.0.1:{srv.port}", timeout=60) as api:
        st = statuses(ch)
        assert st[""] == NOT_SERVING and st["lensdb.v1.Catalogue"] == NOT_SERVING
        assert st["lensdb.v1.Labels"] == NOT_SERVING and st["lensdb.liveness"] == SERVING
        for call in (lambda: api.objects([int(world.ids[0])]), lambda: api.cone(151.0, 2.0, 10.0),
                     lambda: api.models(), lambda: api.label_sets(), lambda: api.cutout(int(world.ids[0])),
                     lambda: api.similar(ra=151.0, dec=2.0, k=3)):
            with pytest.raises(ApiError) as err:
                call()
            assert err.value.code.name == "UNAVAILABLE", err.value
        # A search by object id needs only Milvus, and still answers.
        assert len(api.similar(object_id=int(world.ids[0]), k=3).hits) == 3


@pytest.fixture
def private_pg(world):
    """A migrated LensDB database on a private PostgreSQL cluster (never the shared server), removed afterwards."""
    from lensdb.catalog.db import upgrade

    pg = PrivatePostgres().start()
    try:
        url = pg.create_database("lensdb")
        upgrade(url)
        yield pg, url
    finally:
        pg.remove()


@ONE_WORLD
def test_postgresql_dies_then_comes_back(world, private_pg):
    pg, url = private_pg
    settings = load_settings(env={}, data_dir=str(world.settings.data_dir), database_url=url,
                             milvus_uri=world.settings.milvus_uri)
    with make_server(world, settings) as srv, grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch, \
            LensDBClient(f"127.0.0.1:{srv.port}", timeout=60) as api:
        assert set(statuses(ch).values()) == {SERVING}
        assert api.label_sets() is not None  # the empty catalogue answers
        pg.stop("immediate")  # every backend aborted, no clean shutdown
        srv.monitor.check_now()
        st = statuses(ch)
        assert st[""] == NOT_SERVING and st["lensdb.v1.Catalogue"] == NOT_SERVING
        assert st["lensdb.liveness"] == SERVING
        for call in (lambda: api.objects([int(world.ids[0])]), lambda: api.label_sets(), lambda: api.models()):
            with pytest.raises(ApiError) as err:
                call()
            assert err.value.code.name == "UNAVAILABLE", err.value
        pg.start()
        srv.monitor.check_now()
        assert set(statuses(ch).values()) == {SERVING}
        assert api.label_sets() is not None and api.objects([int(world.ids[0])]) is not None  # recovered by itself
