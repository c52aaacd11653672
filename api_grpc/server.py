"""Build, start and stop the LensDB gRPC server.

    with LensDBServer(settings, ServeConfig(port=0, metrics_port=0), service_config=ServiceConfig()) as server:
        print(server.port)            # the port it bound (port 0 = any free one)
        server.wait()                 # until stop() (or a signal handler calling it)

What runs: the five LensDB services over one shared :class:`~lensdb.services.Services` (the protocol-free service
layer, configured by ``[service]``; this module's own settings are ``[serve]``); ``grpc.health.v1`` kept current by
a backend check (:mod:`lensdb.api_grpc.health`); server reflection (``grpc.reflection.v1`` and ``v1alpha``, so
clients without stubs can list and call the services); interceptors for metrics and logs and, when a token is
configured, authentication; TLS when a certificate and key are configured; message size limits; a bounded thread
pool and a cap on concurrent RPCs (RESOURCE_EXHAUSTED beyond it). :meth:`LensDBServer.stop` is graceful: health
turns NOT_SERVING, new calls are refused, and calls in flight get ``grace_s`` seconds to finish.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from lensdb.api_grpc.config import ServeConfig
from lensdb.api_grpc.health import HealthMonitor
from lensdb.api_grpc.interceptors import AuthInterceptor, ObserveInterceptor
from lensdb.api_grpc.metrics import Metrics
from lensdb.api_grpc.reflection import enable_reflection
from lensdb.api_grpc.servicers import SERVICE_NAMES, add_all
from lensdb.core.config import ConfigError, Settings
from lensdb.services import Backends, Services
from lensdb.services.config import ServiceConfig

log = logging.getLogger("lensdb.api")
HEALTH_SERVICE = "grpc.health.v1.Health"


def _read(path: str, what: str) -> bytes:
    if Path(path).is_dir():
        raise ConfigError(f"the TLS {what} {path} is a folder; give the PEM file")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the TLS {what} {path}: {exc.strerror}") from exc


def tls_pair(cert: str, key: str) -> tuple[bytes, bytes]:
    """(key, certificate) PEM bytes, checked to be a certificate and its own private key.

    gRPC only reports a bad pair as a failure to bind the port; Python's ssl module says what is wrong first.
    """
    key_pem, cert_pem = _read(key, "key"), _read(cert, "certificate")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise ConfigError(f"the TLS certificate {cert} and key {key} are not a certificate and its private key "
                          f"({exc.reason or exc}): --tls-cert takes the certificate, --tls-key its key (swapped?)"
                          ) from exc
    return key_pem, cert_pem


class LensDBServer:
    """One gRPC server over one set of backends.

    Args:
        settings: where the database and Milvus are.
        config: the server's tunables (port, token, TLS, limits).
        services: services to serve (default: new ones over new backends, closed on :meth:`stop`).
        service_config: the services' tunables when they are made here (default: ``[service]`` of the settings).
        metrics_on_free_port: with ``config.metrics_port == 0``, serve metrics on a free port instead of not at
            all (tests; ``metrics_port`` then holds the port).
    """

    def __init__(self, settings: Settings, config: ServeConfig, services: Services | None = None, *,
                 service_config: ServiceConfig | None = None, metrics_on_free_port: bool = False):
        self.settings, self.config = settings, config
        self._own_services = services is None
        if services is None:
            service_config = service_config or ServiceConfig.from_settings(settings)
            # One database connection per RPC thread: a request never waits for a connection.
            service_config = dataclasses.replace(service_config, pool_size=config.max_workers)
            services = Services.build(Backends(settings, service_config))
        self.services = services
        self.metrics = Metrics()
        self.health_servicer = health.HealthServicer(experimental_non_blocking=True)
        self.monitor = HealthMonitor(self.services.backends, self.health_servicer, config.health_interval_s,
                                     self.metrics)
        self.port: int | None = None
        self.metrics_port: int | None = None
        self.tls = bool(config.tls_cert)
        self._server: grpc.Server | None = None
        self._stopped = threading.Event()
        self._metrics_free_port = metrics_on_free_port

    def _build(self) -> grpc.Server:
        cfg = self.config
        auth = AuthInterceptor(cfg.token) if cfg.token is not None else None
        interceptors: list[grpc.ServerInterceptor] = [ObserveInterceptor(self.metrics, auth)]
        if auth is not None:
            interceptors.append(auth)
        options = [
            ("grpc.max_receive_message_length", cfg.max_receive_bytes),
            ("grpc.max_send_message_length", cfg.max_send_bytes),
            ("grpc.so_reuseport", 0),  # a port in use is an error, not a silently shared socket
        ]
        server = grpc.server(
            ThreadPoolExecutor(max_workers=cfg.max_workers, thread_name_prefix="lensdb-rpc"),
            interceptors=interceptors, options=options, maximum_concurrent_rpcs=cfg.max_concurrent_rpcs,
        )
        add_all(server, self.services, cfg.stream_chunk)
        health_pb2_grpc.add_HealthServicer_to_server(self.health_servicer, server)
        enable_reflection(server, (*SERVICE_NAMES, HEALTH_SERVICE))
        return server

    def start(self) -> LensDBServer:
        """Bind, start serving and checking the backends; returns self (``port`` holds the bound port)."""
        cfg = self.config
        self._server = self._build()
        address = f"{cfg.host}:{cfg.port}"
        try:
            if self.tls:
                creds = grpc.ssl_server_credentials([tls_pair(cfg.tls_cert, cfg.tls_key)])
                self.port = self._server.add_secure_port(address, creds)
            else:
                self.port = self._server.add_insecure_port(address)
        except (RuntimeError, ConfigError) as exc:
            if self._own_services:
                self.services.backends.close()
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"cannot listen on {address}: {exc} (port in use, or no such interface?)") from exc
        self._server.start()
        self.monitor.start()
        if cfg.metrics_port or self._metrics_free_port:
            self.metrics_port = self.metrics.serve(cfg.metrics_host, cfg.metrics_port)
        log.info("serving LensDB gRPC on %s:%d (%s, auth %s)%s", cfg.host, self.port,
                 "TLS" if self.tls else "plaintext", "on" if cfg.token else "off",
                 f"; metrics on {cfg.metrics_host}:{self.metrics_port}/metrics" if self.metrics_port else "")
        return self

    def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING, refuse new calls, let calls in flight finish within ``grace`` seconds."""
        if self._server is None or self._stopped.is_set():
            return
        grace = self.config.grace_s if grace is None else grace
        log.info("stopping: health NOT_SERVING, in-flight calls get %.1f s", grace)
        self.monitor.stop()
        self._server.stop(grace).wait()
        self.metrics.stop()
        if self._own_services:
            self.services.backends.close()
        self._stopped.set()
        log.info("stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` finished (or ``timeout`` seconds); True when stopped."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> LensDBServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop(grace=0)
