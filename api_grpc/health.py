"""The standard ``grpc.health.v1`` service, kept current by a background check of the backends.

Each LensDB service is SERVING only while the backends it needs answer; the overall status (service ``""``, what
Kubernetes' gRPC probe asks by default) needs all of them. ``lensdb.liveness`` is SERVING as long as the process
runs and is not shutting down: a liveness probe should ask for it, so that a database outage takes the pods out
of the load balancer (readiness) without restarting them.
"""

from __future__ import annotations

import logging
import threading

from grpc_health.v1 import health, health_pb2

from lensdb.api_grpc.metrics import Metrics
from lensdb.services.backends import Backends

log = logging.getLogger("lensdb.api.health")
LIVENESS = "lensdb.liveness"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
#: Backends each service needs.
NEEDS = {
    "lensdb.v1.Search": ("database", "milvus"),
    "lensdb.v1.Catalogue": ("database",),
    "lensdb.v1.Probes": ("database", "milvus"),
    "lensdb.v1.Labels": ("database",),
    "lensdb.v1.Cutouts": ("database",),
    "": ("database", "milvus"),
}


class HealthMonitor:
    """Checks the backends every ``interval`` seconds and sets the health statuses.

    Args:
        backends: what to check.
        servicer: the health servicer registered on the server.
        interval: seconds between checks.
        metrics: where ``lensdb_backend_up`` goes (optional).
    """

    def __init__(self, backends: Backends, servicer: health.HealthServicer, interval: float,
                 metrics: Metrics | None = None):
        self.backends, self.servicer, self.interval, self.metrics = backends, servicer, interval, metrics
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last: dict[str, str | None] = {}
        servicer.set(LIVENESS, SERVING)

    def check_now(self) -> dict[str, str | None]:
        """Check every backend once and update the statuses; returns backend -> None (up) or why it is down."""
        with self._lock:
            state = {"database": self.backends.ping_database(), "milvus": self.backends.ping_milvus()}
            if self._stop.is_set():  # shutting down: statuses stay NOT_SERVING
                return state
            for name, needs in NEEDS.items():
                up = all(state[b] is None for b in needs)
                self.servicer.set(name, SERVING if up else NOT_SERVING)
            for backend, problem in state.items():
                if self.metrics is not None:
                    self.metrics.backend_up.labels(backend).set(0 if problem else 1)
                if problem != self.last.get(backend, "unchecked"):
                    if problem:
                        log.warning("backend %s is down: %s", backend, problem)
                    else:
                        log.info("backend %s is up", backend)
            self.last = state
            return state

    def start(self) -> None:
        """Check now, then keep checking in a daemon thread."""
        self.check_now()
        self._thread = threading.Thread(target=self._run, name="lensdb-health", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_now()
            except Exception:  # a failing check must not end the loop
                log.exception("health check failed")

    def stop(self) -> None:
        """Stop checking and report every service NOT_SERVING (shutdown)."""
        self._stop.set()
        with self._lock:
            self.servicer.enter_graceful_shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
