"""Start the inspection page over a test world (shared by the web tests; not a conftest, so that its name is
unique on sys.path)."""

from __future__ import annotations

from lensdb.services import Services
from lensdb.services.config import ServiceConfig
from lensdb.web.config import WebConfig
from lensdb.web.server import WebServer


def start_web(world, **overrides) -> tuple[WebServer, Services]:
    services = Services.open(world.settings, ServiceConfig(checkpoint=str(world.checkpoint),
                                                           encoder_version=world.encoder_version))
    config = WebConfig(**{"host": "127.0.0.1", "port": 0, **overrides})
    return WebServer(services, config).start(), services
