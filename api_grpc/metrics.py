"""Prometheus metrics of the API, served on their own HTTP port (``/metrics``).

Each server has its own registry, so several servers in one process (tests) never share counters:

- ``lensdb_grpc_requests_total{service, method, code}``: RPCs finished, by status code;
- ``lensdb_grpc_errors_total{service, method, code}``: those that did not end OK;
- ``lensdb_grpc_request_seconds{service, method}``: latency histogram (from the call's arrival to its end);
- ``lensdb_grpc_in_flight``: RPCs in progress;
- ``lensdb_backend_up{backend}``: 1 when the backend answered the last health check.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

#: Latency buckets, seconds: from sub-millisecond lookups to deep, filtered searches.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def split_method(full: str) -> tuple[str, str]:
    """``/lensdb.v1.Search/Similar`` -> (``lensdb.v1.Search``, ``Similar``)."""
    _, _, rest = full.partition("/")
    service, _, method = rest.partition("/")
    return service or "unknown", method or "unknown"


class Metrics:
    """The server's metrics and, once :meth:`serve` ran, their HTTP endpoint."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("service", "method", "code")
        self.requests = Counter("lensdb_grpc_requests", "RPCs finished, by status code", labels,
                                registry=self.registry)
        self.errors = Counter("lensdb_grpc_errors", "RPCs that did not end with OK", labels, registry=self.registry)
        self.latency = Histogram("lensdb_grpc_request_seconds", "RPC latency, seconds", ("service", "method"),
                                 buckets=BUCKETS, registry=self.registry)
        self.in_flight = Gauge("lensdb_grpc_in_flight", "RPCs in progress", registry=self.registry)
        self.backend_up = Gauge("lensdb_backend_up", "1 when the backend answered the last health check",
                                ("backend",), registry=self.registry)
        self._http = None
        self._thread: threading.Thread | None = None

    def observe(self, method: str, code: str, seconds: float) -> None:
        """Record one finished RPC."""
        service, name = split_method(method)
        self.requests.labels(service, name, code).inc()
        if code != "OK":
            self.errors.labels(service, name, code).inc()
        self.latency.labels(service, name).observe(seconds)

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on ``host:port`` (0 = a free port) in a daemon thread; returns the bound port."""
        self._http, self._thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._http.server_port)

    def stop(self) -> None:
        """Stop the HTTP endpoint (if serving)."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
