"""The server around the services: token auth on and off, TLS, health, reflection without stubs, metrics, logs,
bounded concurrency, concurrent clients and graceful shutdown."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

import grpc
import pytest
from api_world import make_server
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from lensdb.api_grpc.client import ApiError, LensDBClient
from lensdb.api_grpc.gen.lensdb.v1 import search_pb2
from lensdb.api_grpc.health import LIVENESS
from lensdb.api_grpc.logs import JsonFormatter
from lensdb.api_grpc.servicers import SERVICE_NAMES

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def health_status(channel, service: str = "") -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=30).status


def test_health_is_serving_for_every_service(server, channel):
    for name in ("", *SERVICE_NAMES, LIVENESS):
        assert health_status(channel, name) == SERVING, name
    with pytest.raises(grpc.RpcError) as err:
        health_status(channel, "lensdb.v1.NoSuchService")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_token_auth(world):
    with make_server(world, token="s3cret-token") as srv:
        target = f"127.0.0.1:{srv.port}"
        for token in (None, "wrong", "s3cret-token-and-more"):
            with LensDBClient(target, token=token) as api, pytest.raises(ApiError) as err:
                api.objects([int(world.ids[0])])
            assert err.value.code.name == "UNAUTHENTICATED"
        with LensDBClient(target, token="s3cret-token") as api:
            assert api.objects([int(world.ids[0])]).objects[0].object_id == int(world.ids[0])
            assert len(list(api.iter_similar(int(world.ids[0]), k=5))) == 5  # streams are guarded the same way
        with LensDBClient(target) as api, pytest.raises(ApiError) as err:
            list(api.iter_similar(int(world.ids[0]), k=5))
        assert err.value.code.name == "UNAUTHENTICATED"
        with grpc.insecure_channel(target) as ch:  # health needs no token: Kubernetes probes send none
            assert health_status(ch) == SERVING
            assert reflected_services(target, token=None).get("error") == "UNAUTHENTICATED"
        got = reflected_services(target, token="s3cret-token", object_id=int(world.ids[2]))
        assert set(SERVICE_NAMES) <= set(got["services"]) and got["objects"] == [int(world.ids[2])]


def test_no_token_configured_means_no_auth(world, server):
    with LensDBClient(f"127.0.0.1:{server.port}", token="anything") as api:
        assert api.objects([int(world.ids[0])]).objects


REFLECTION_CLIENT = r"""
import json, sys
import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

target, token, object_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
md = (("authorization", "Bearer " + token),) if token else ()

class Auth(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor, grpc.StreamStreamClientInterceptor):
    def _add(self, details):
        return details._replace(metadata=list(details.metadata or ()) + list(md))
    def intercept_unary_unary(self, cont, details, request):
        return cont(self._add(details), request)
    def intercept_unary_stream(self, cont, details, request):
        return cont(self._add(details), request)
    def intercept_stream_stream(self, cont, details, requests):
        return cont(self._add(details), requests)

channel = grpc.intercept_channel(grpc.insecure_channel(target), Auth())
db = ProtoReflectionDescriptorDatabase(channel)
try:
    services = sorted(db.get_services())
except grpc.RpcError as exc:
    print(json.dumps({"error": exc.code().name}))
    sys.exit(0)
pool = descriptor_pool.DescriptorPool(db)

def call(service, method, **fields):
    m = pool.FindServiceByName(service).methods_by_name[method]
    req_cls = message_factory.GetMessageClass(m.input_type)
    resp_cls = message_factory.GetMessageClass(m.output_type)
    stub = channel.unary_unary(f"/{service}/{method}", request_serializer=req_cls.SerializeToString,
                               response_deserializer=resp_cls.FromString)
    return stub(req_cls(**fields), timeout=60)

objects = call("lensdb.v1.Catalogue", "GetObjects", object_ids=[object_id])
similar = call("lensdb.v1.Search", "Similar", object_id=object_id, k=3)
print(json.dumps({"services": services, "no_stubs": "api_grpc" not in sys.modules,
                  "objects": [o.object_id for o in objects.objects],
                  "hits": [h.object.object_id for h in similar.hits]}))
"""


def reflected_services(target: str, token: str | None, object_id: int = 0) -> dict:
    """Run a client that has no LensDB stubs (a fresh interpreter) against ``target``; its JSON answer."""
    out = subprocess.run([sys.executable, "-c", REFLECTION_CLIENT, target, token or "", str(object_id)],
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_reflection_lets_a_client_without_stubs_call_the_services(world, server, client):
    got = reflected_services(f"127.0.0.1:{server.port}", None, int(world.ids[4]))
    assert set(SERVICE_NAMES) | {"grpc.health.v1.Health"} <= set(got["services"])
    assert got["no_stubs"] and got["objects"] == [int(world.ids[4])]
    assert got["hits"] == client.similar(object_id=int(world.ids[4]), k=3).ids


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls(world, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    with make_server(world, tls_cert=str(cert), tls_key=str(key)) as srv:
        target = f"127.0.0.1:{srv.port}"
        with LensDBClient(target, root_certificates=cert.read_bytes()) as api:
            assert api.objects([int(world.ids[0])]).objects
        with LensDBClient(target, timeout=10) as plain, pytest.raises(ApiError) as err:
            plain.objects([int(world.ids[0])])
        assert err.value.code.name == "UNAVAILABLE"


def _samples(port: int) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_count_requests_errors_and_latency(world, server, client):
    key_ok = ("lensdb_grpc_requests_total", (("code", "OK"), ("method", "GetObjects"),
                                             ("service", "lensdb.v1.Catalogue")))
    key_err = ("lensdb_grpc_errors_total", (("code", "INVALID_ARGUMENT"), ("method", "GetObjects"),
                                            ("service", "lensdb.v1.Catalogue")))
    key_lat = ("lensdb_grpc_request_seconds_count", (("method", "GetObjects"), ("service", "lensdb.v1.Catalogue")))
    before = _samples(server.metrics_port)
    for _ in range(3):
        client.objects([int(world.ids[0])])
    with pytest.raises(ApiError):
        client.objects([-1])
    after = _samples(server.metrics_port)
    assert after[key_ok] - before.get(key_ok, 0) == 3
    assert after[key_err] - before.get(key_err, 0) == 1
    assert after[key_lat] - before.get(key_lat, 0) == 4
    assert after[("lensdb_grpc_in_flight", ())] == 0
    server.monitor.check_now()
    assert _samples(server.metrics_port)[("lensdb_backend_up", (("backend", "milvus"),))] == 1


def test_one_structured_log_record_per_call(world, client, caplog):
    with caplog.at_level(logging.INFO, logger="lensdb.api.access"):
        client.objects([int(world.ids[0])])
        with pytest.raises(ApiError):
            client.similar(object_id=1, k=3)
    records = [r for r in caplog.records if r.name == "lensdb.api.access"]
    assert [(r.rpc["method"], r.rpc["code"]) for r in records] == [
        ("/lensdb.v1.Catalogue/GetObjects", "OK"), ("/lensdb.v1.Search/Similar", "NOT_FOUND")]
    line = json.loads(JsonFormatter().format(records[1]))
    assert line["code"] == "NOT_FOUND" and line["level"] == "INFO" and line["ms"] >= 0 and line["peer"]


def test_concurrent_rpcs_beyond_the_limit_are_refused(world):
    with make_server(world, max_concurrent_rpcs=1) as srv, \
            grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch, LensDBClient(f"127.0.0.1:{srv.port}") as api:
        watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(service=""))
        assert next(watch).status == SERVING  # this call now stays open: the one allowed RPC
        with pytest.raises(ApiError) as err:
            api.objects([int(world.ids[0])], timeout=30)
        assert err.value.code.name == "RESOURCE_EXHAUSTED"
        watch.cancel()
        for _ in range(600):  # the server notices the cancellation asynchronously
            try:
                assert api.objects([int(world.ids[0])], timeout=30).objects
                break
            except ApiError:
                time.sleep(0.05)
        else:
            pytest.fail("the server kept refusing after the open call ended")


def test_concurrent_clients_get_the_same_answers(world, server):
    queries = [int(i) for i in world.ids[:16]]
    with LensDBClient(f"127.0.0.1:{server.port}") as api:
        expected = {q: api.similar(object_id=q, k=20).ids for q in queries}
    failures, results = [], {}

    def worker(n: int) -> None:
        try:
            with LensDBClient(f"127.0.0.1:{server.port}") as api:
                for rep in range(6):
                    q = queries[(n + rep) % len(queries)]
                    results[(n, rep)] = (q, api.similar(object_id=q, k=20).ids)
                    assert api.objects([q]).objects[0].object_id == q
        except Exception as exc:  # collected and reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(results) == 16 * 6 and all(expected[q] == ids for q, ids in results.values())


def test_graceful_shutdown_finishes_calls_in_flight(world):
    srv = make_server(world, stream_chunk=1).start()
    target = f"127.0.0.1:{srv.port}"
    with LensDBClient(target) as api:
        stream = api.search.SimilarStream(api.similar_request(int(world.ids[0]), k=100), timeout=60)
        first = next(stream)
        stopper = threading.Thread(target=srv.stop, kwargs={"grace": 60})
        stopper.start()
        rest = list(stream)  # the call started before the stop completes normally
        stopper.join()
        assert len(first.hits) + sum(len(p.hits) for p in rest) == 100
        assert srv.wait(0)
        with pytest.raises(ApiError) as err:
            api.objects([int(world.ids[0])], timeout=10)
        assert err.value.code.name == "UNAVAILABLE"
    check = srv.health_servicer.Check(health_pb2.HealthCheckRequest(service=""), None)
    assert check.status == NOT_SERVING  # shutting down: probes see NOT_SERVING first


def test_port_in_use_is_a_clear_error(world, server):
    from lensdb.core.config import ConfigError

    with pytest.raises(ConfigError, match="cannot listen"):
        make_server(world, port=server.port).start()


def test_request_with_a_client_deadline_shorter_than_the_search(world, server, channel):
    stub = search_pb2.SimilarRequest(object_id=int(world.ids[0]), k=3)
    from lensdb.api_grpc.gen.lensdb.v1 import search_pb2_grpc

    with pytest.raises(grpc.RpcError) as err:
        search_pb2_grpc.SearchStub(channel).Similar(stub, timeout=1e-6)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert health_status(channel) == SERVING


def test_client_retries_reads_only():
    from lensdb.api_grpc.client import SERVICE_CONFIG

    names = {(n["service"], n["method"]) for cfg in SERVICE_CONFIG["methodConfig"] for n in cfg["name"]}
    assert ("lensdb.v1.Search", "Similar") in names and ("lensdb.v1.Catalogue", "GetObjects") in names
    writes = {"AddLabels", "RemoveLabels", "RecordGrades", "ImportLensList"}
    assert not {m for _, m in names} & writes
    assert SERVICE_CONFIG["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]


def test_server_and_service_settings_live_in_their_own_sections(tmp_path):
    """[serve] configures the gRPC server, [service] what requests may ask (shared by every face)."""
    from lensdb.api_grpc.config import ServeConfig
    from lensdb.core.config import ConfigError, load_settings
    from lensdb.services.config import ServiceConfig

    (tmp_path / "ok.toml").write_text("[serve]\nmax_workers = 3\n[service]\nmax_page_size = 50\npage_size = 5\n")
    settings = load_settings(config_file=tmp_path / "ok.toml", env={})
    assert ServeConfig.from_settings(settings).max_workers == 3
    assert (ServiceConfig.from_settings(settings).max_page_size, ServiceConfig.from_settings(settings).page_size) \
        == (50, 5)
    (tmp_path / "old.toml").write_text('[serve]\nport = 1\nencoder_version = "v1"\nmax_ids = 3\n')
    old = load_settings(config_file=tmp_path / "old.toml", env={})
    with pytest.raises(ConfigError, match=r"\[serve\] encoder_version, max_ids: .*move them to \[service\]"):
        ServeConfig.from_settings(old)
    with pytest.raises(ConfigError, match=r"\[service\] page_size 9 exceeds max_page_size 8"):
        ServiceConfig(page_size=9, max_page_size=8)


def test_reflection_v1_as_well_as_v1alpha(world, server):
    """A v1 reflection client (its own v1 message classes, the v1 method path) lists the services and fetches
    descriptors; v1alpha answers the same."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    from lensdb.api_grpc.reflection import V1, V1ALPHA

    pool = descriptor_pool.Default()
    classes = {}
    for version in ("v1", "v1alpha"):
        req = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"grpc.reflection.{version}."
                                                                          "ServerReflectionRequest"))
        resp = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"grpc.reflection.{version}."
                                                                           "ServerReflectionResponse"))
        classes[version] = (req, resp)
    answers = {}
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        for version, service in (("v1", V1), ("v1alpha", V1ALPHA)):
            req, resp = classes[version]
            call = channel.stream_stream(f"/{service}/ServerReflectionInfo", request_serializer=req.SerializeToString,
                                         response_deserializer=resp.FromString)
            replies = list(call(iter([req(list_services=""), req(file_containing_symbol=SERVICE_NAMES[0]),
                                      req(file_containing_symbol=V1)]), timeout=30))
            listed = {s.name for s in replies[0].list_services_response.service}
            files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                     for b in replies[1].file_descriptor_response.file_descriptor_proto]
            v1_file = descriptor_pb2.FileDescriptorProto.FromString(
                replies[2].file_descriptor_response.file_descriptor_proto[0])
            answers[version] = (listed, {f.name for f in files}, v1_file.package)
    assert answers["v1"] == answers["v1alpha"]
    listed, names, package = answers["v1"]
    assert {V1, V1ALPHA, *SERVICE_NAMES} <= listed
    assert any(n.startswith("lensdb/v1/") for n in names) and package == "grpc.reflection.v1"
