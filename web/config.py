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
    """

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    insecure: bool = False
    stamp_px: int = 96
    log_level: str = "warning"

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
