"""Typed tunables of the gRPC server, read from the ``[serve]`` section of the config file::

    [serve]
    port = 50051
    max_workers = 16

What the services behind it allow (page sizes, id counts, the default encoder version) is the ``[service]``
section (:class:`lensdb.services.config.ServiceConfig`), shared with every other face.

Secrets do not belong in a config file that is often committed: the token is read from ``LENSDB_API_TOKEN`` (or
``--token-file``) first; ``token`` here is the last resort. TLS files come from ``LENSDB_TLS_CERT`` /
``LENSDB_TLS_KEY``, the flags, or ``tls_cert`` / ``tls_key`` here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from lensdb.core.config import ConfigError, Settings, load_section

LogFormat = Literal["json", "text"]
MIB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    """How ``lensdb serve`` runs.

    Attributes:
        host: interface to listen on (``0.0.0.0`` for every IPv4 interface, ``[::]`` for IPv6 too).
        port: gRPC port (0 = any free port; the server reports the one it bound).
        metrics_port: Prometheus ``/metrics`` HTTP port (0 = no metrics endpoint).
        metrics_host: interface of ``/metrics``: loopback by default, since the metrics need no token; the Helm
            chart opens it to the cluster for Prometheus (``0.0.0.0``).
        token: bearer token clients must send (prefer ``LENSDB_API_TOKEN``); ``None`` = no authentication. A blank
            token is refused: it must never mean "no authentication".
        tls_cert, tls_key: PEM files; both or neither.
        max_workers: threads handling RPCs.
        max_concurrent_rpcs: RPCs in progress at once; more are refused with RESOURCE_EXHAUSTED.
        max_receive_mb, max_send_mb: largest request / response message, MiB.
        stream_chunk: hits per message of a streamed search.
        health_interval_s: seconds between backend checks of the health service.
        grace_s: seconds in-flight RPCs get to finish on shutdown.
        log_format: ``json`` (one object per line, for log collectors) or ``text``.
    """

    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = 9090
    metrics_host: str = "127.0.0.1"
    token: str | None = None
    tls_cert: str = ""
    tls_key: str = ""
    max_workers: int = 16
    max_concurrent_rpcs: int = 64
    max_receive_mb: int = 16
    max_send_mb: int = 64
    stream_chunk: int = 512
    health_interval_s: float = 5.0
    grace_s: float = 10.0
    log_format: LogFormat = "json"

    def __post_init__(self) -> None:
        positive = ("max_workers", "max_concurrent_rpcs", "max_receive_mb", "max_send_mb", "stream_chunk")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"[serve] {name} must be >= 1; got {getattr(self, name)}")
        for name in ("port", "metrics_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ConfigError(f"[serve] {name} must be a port number in [0, 65535]; got {getattr(self, name)}")
        if not self.health_interval_s > 0:
            raise ConfigError(f"[serve] health_interval_s must be > 0; got {self.health_interval_s}")
        if self.token is not None and not self.token.strip():
            raise ConfigError("[serve] token is empty: an empty token would switch authentication off; set the token "
                              "(better: $LENSDB_API_TOKEN or --token-file), or remove the key to serve without one")
        if self.token is not None and self.token != self.token.strip():
            raise ConfigError("[serve] token has blanks around it; remove them (clients send the token exactly)")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("[serve] TLS needs both a certificate and a key (tls_cert and tls_key)")
        if self.grace_s < 0:
            raise ConfigError("[serve] grace_s must be >= 0")

    @property
    def max_receive_bytes(self) -> int:
        return self.max_receive_mb * MIB

    @property
    def max_send_bytes(self) -> int:
        return self.max_send_mb * MIB

    @classmethod
    def from_settings(cls, settings: Settings | None, **overrides) -> ServeConfig:
        """The ``[serve]`` section of the config file, with keyword overrides (``None`` = not given)."""
        from lensdb.services.config import ServiceConfig

        moved = set(settings.sections.get("serve", {}) if settings else ()) & {
            f.name for f in dataclasses.fields(ServiceConfig)}
        if moved:
            raise ConfigError(f"[serve] {', '.join(sorted(moved))}: what requests may ask and the default encoder "
                              "are settings of the services, shared by every face; move them to [service]")
        return load_section(cls, settings, "serve", **overrides)
