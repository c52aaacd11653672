"""The inspection page's app (Starlette; pages rendered with Jinja2, autoescaped). Routes live by concern:

- :mod:`lensdb.web.pages`  (HTML) ``/``, ``/login``, ``/queue/{id}``, ``/queue/{id}/page/{n}``, ``/object/{id}``,
  ``/object/{id}/neighbours``, ``/stats``
- :mod:`lensdb.web.api`    (JSON) ``POST /api/queues``, ``/api/grade``, ``/api/undo``, ``/api/rounds`` (starts a round in the
  background, or joins the running one: 202 with its job); ``GET /api/rounds/{job}`` (its progress),
  ``GET /api/queues/{id}/page/{n}``, ``/api/stats``, ``/healthz``, ``/readyz``
- :mod:`lensdb.web.stamps` ``/stamp/{id}.png`` (``band`` rgb|g|r|z, ``stretch`` asinh|linear|zscale, ``zoom`` 1-8,
  ``bar`` 0|1)
- :mod:`lensdb.web.auth`   ``POST /api/login``, ``/api/logout`` and the access gate

Every POST takes JSON and must carry the header ``X-LensDB: 1`` (a cross-site form cannot send it, so no other site
can grade in a grader's name). With a token set, every route but the login and the health check needs the token
(the login cookie, or ``Authorization: Bearer``). Errors answer with the problem and what to do (JSON for /api,
a page otherwise), never a traceback.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from lensdb.services import Services
from lensdb.web import api, auth, pages, stamps
from lensdb.web.common import HERE, WebContext, ctx_of, status_of
from lensdb.web.config import WebConfig
from lensdb.web.security import Guard

log = logging.getLogger(__name__)


async def on_error(request: Request, exc: Exception):
    """One answer for every error: the problem and what to do; JSON under /api and /stamp, a page elsewhere."""
    if isinstance(exc, HTTPException):
        status, message = exc.status_code, exc.detail or "not found"
        if status == 404:
            message = f"there is no page {request.url.path}; start from the front page (/)"
    else:
        status, message = status_of(exc)
        if status == 500:
            log.exception("%s %s failed", request.method, request.url.path)
    if request.url.path.startswith(("/api/", "/stamp/")):
        return JSONResponse({"error": message}, status_code=status)
    return ctx_of(request).render("error.html", request, http_status=status, status=status, message=message)


async def access(request: Request, call_next):
    refused = auth.gate(request)
    if refused is not None:
        return refused
    try:
        response = await call_next(request)
    except Exception as exc:  # errors raised below the routes (the handlers catch the rest)
        return await on_error(request, exc)
    return response


def create_app(services: Services, config: WebConfig) -> Starlette:
    """The Starlette app over ``services``."""
    routes = [*pages.ROUTES, *api.ROUTES, *stamps.ROUTES, *auth.ROUTES,
              Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes, exception_handlers={Exception: on_error, HTTPException: on_error},
                    middleware=[Middleware(Guard, config=config), Middleware(BaseHTTPMiddleware, dispatch=access)])
    app.state.web = WebContext.make(services, config)
    return app
