"""The inspection page's HTTP server: uvicorn running the Starlette app, in the foreground (``lensdb web``) or in
a thread (tests, ``lensdb demo``), on a fixed port or a free one (port 0)."""

from __future__ import annotations

import logging
import threading
import time

import uvicorn

from lensdb.services import Services
from lensdb.web.app import create_app
from lensdb.web.config import WebConfig

log = logging.getLogger(__name__)


class WebServer:
    """``WebServer(services, config).start()`` serves in a thread; ``.url`` is where; ``.stop()`` ends it."""

    def __init__(self, services: Services, config: WebConfig):
        self.services = services
        self.config = config
        self.app = create_app(services, config)
        self._server = uvicorn.Server(uvicorn.Config(self.app, host=config.host, port=config.port,
                                                     log_level=config.log_level, access_log=False,
                                                     lifespan="off"))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> WebServer:
        self._thread = threading.Thread(target=self._server.run, name="lensdb-web", daemon=True)
        self._thread.start()
        t0 = time.monotonic()
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() - t0 > timeout_s:
                raise RuntimeError(f"the inspection page could not listen on {self.config.host}:{self.config.port}")
            time.sleep(0.02)
        log.info("inspection page at %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C / SIGTERM (uvicorn handles both)."""
        self._server.run()

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
