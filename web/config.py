"""Typed tunables of the inspection page: the ``[web]`` section of the config file::

    [web]
    port = 8080

The token (graders must give it to log in when set) comes from ``LENSDB_WEB_TOKEN`` or ``--token-file`` first;
``token`` here is the last resort. With no token the page listens on loopback only unless ``--insecure`` is given:
a page that writes grades must not be open to a network without a password.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from lensdb.core.config import ConfigError, Settings, load_section

TOKEN_ENV = "LENSDB_WEB_TOKEN"


@dataclass(frozen=True)
class WebConfig:
    """How ``lensdb web`` runs.

    Attributes:
        host: interface to listen on (``0.0.0.0`` for every IPv4 interface).
        port: HTTP port (0 = any free port; the server reports the one it bound).
        token: what graders type to log in (prefer ``LENSDB_WEB_TOKEN``); ``None`` = no login password.
        insecure: allow serving a non-loopback interface without a token.
        stamp_px: default side of a grid stamp on the page, CSS pixels.
        log_level: uvicorn's log level.
        allowed_hosts: the names the page answers to (the request's Host header, without the port); ``*`` = any.
            Empty (the default): the loopback names (127.0.0.1, localhost, ::1) and ``host`` itself; any name when
            ``host`` is a wildcard address (0.0.0.0, ::), which is open to a network on purpose (with a token or
            --insecure). A page without a token that answered any name could be read by another site that points
            its DNS name at 127.0.0.1 (DNS rebinding).
        max_body_bytes: largest request body, bytes (413 above it).
        login_failures_per_minute: failed logins allowed per client address and minute (429 above it).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    insecure: bool = False
    stamp_px: int = 96
    log_level: str = "warning"
    allowed_hosts: tuple[str, ...] = ()
    max_body_bytes: int = 1_000_000
    login_failures_per_minute: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"[web] port must be a port number in [0, 65535]; got {self.port}")
        if self.token is not None and (not self.token.strip() or self.token != self.token.strip()):
            raise ConfigError("[web] token is empty or has blanks around it; an empty token would switch the login "
                              "password off: set it, or remove the key")
        if self.token is None and not self.insecure and not is_loopback(self.host):
            raise ConfigError(f"[web] serving {self.host} without a token would let anyone on the network grade; "
                              f"set ${TOKEN_ENV} (or --token-file), or pass --insecure to accept that")
        if not 16 <= self.stamp_px <= 512:
            raise ConfigError(f"[web] stamp_px must lie in [16, 512]; got {self.stamp_px}")
        if not 1024 <= self.max_body_bytes <= 1 << 30:
            raise ConfigError(f"[web] max_body_bytes must lie in [1024, 2**30]; got {self.max_body_bytes}")
        if self.login_failures_per_minute < 1:
            raise ConfigError(f"[web] login_failures_per_minute must be >= 1; got {self.login_failures_per_minute}")
        if any(not h.strip() or h != h.strip().lower() for h in self.allowed_hosts):
            raise ConfigError(f"[web] allowed_hosts must be lower-case host names without blanks; got "
                              f"{list(self.allowed_hosts)}")

    @property
    def trusted_hosts(self) -> frozenset[str] | None:
        """The Host names accepted (``None`` = any), see ``allowed_hosts``."""
        if self.allowed_hosts:
            return None if "*" in self.allowed_hosts else frozenset(self.allowed_hosts)
        if self.host in ("0.0.0.0", "::", ""):  # open to a network on purpose (with a token, or --insecure)
            return None
        return frozenset({"127.0.0.1", "localhost", "::1", self.host.strip("[]").lower()})

    @classmethod
    def from_settings(cls, settings: Settings | None, **overrides) -> WebConfig:
        return load_section(cls, settings, "web", **overrides)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
