"""Who may use the page and as whom.

A login (``POST /api/login``) checks the shared token when one is set, then opens a *session* fixed to the grader's
name (:mod:`lensdb.catalog.sessions`): the cookie holds the session's random secret (never the shared token, never
a name the browser could change), the catalogue only its hash, and ``lensdb grading graders --revoke NAME`` ends
a grader's sessions. Every request's grader is its session's grader. Failed logins are limited per client address.
The access gate sends a visitor without a session (or without the token) to the login page, and keeps the login
page's ``next`` on this site.
"""

from __future__ import annotations

import hmac
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from lensdb.web.common import SESSION_COOKIE, ctx_of, json_body, threaded

OPEN_PATHS = ("/login", "/api/login", "/healthz", "/readyz", "/static/")


def safe_next(value: str | None) -> str:
    """A path on this site to go to after the login; anything else (another host, ``//x``, ``/\\x``, a scheme,
    control characters) becomes ``/``."""
    v = value or "/"
    if (not v.startswith("/") or v.startswith("//") or "\\" in v or any(ord(c) < 32 or ord(c) == 127 for c in v)
            or len(v) > 2000):
        return "/"
    return v


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def login(request: Request):
    from lensdb.services import validate

    w = ctx_of(request)
    client = _client(request)
    if w.sessions.blocked(client):
        return JSONResponse({"error": "too many failed logins from this address; wait a minute and try again"},
                            status_code=429, headers={"Retry-After": "60"})
    body = await json_body(request)
    grader = str(body.get("grader") or "").strip()
    validate.name("grader", grader)
    token = w.config.token
    if token is not None and not hmac.compare_digest(str(body.get("token") or "").encode("utf-8", "replace"),
                                                     token.encode()):
        w.sessions.failed(client)
        return JSONResponse({"error": "wrong token: ask whoever runs this LensDB for the grading token"},
                            status_code=401)
    old = request.cookies.get(SESSION_COOKIE)
    secret = await threaded(lambda: w.grading.open_session(grader, client))
    if old:
        await threaded(lambda: w.grading.close_session(old))
        w.sessions.forget(old)
    resp = JSONResponse({"grader": grader})
    resp.set_cookie(SESSION_COOKIE, secret, max_age=30 * 86400, samesite="strict", httponly=True,
                    secure=request.url.scheme == "https")
    return resp


async def logout(request: Request):
    w = ctx_of(request)
    await json_body(request)
    secret = request.cookies.get(SESSION_COOKIE)
    await threaded(lambda: w.grading.close_session(secret))
    w.sessions.forget(secret)
    resp = JSONResponse({"ok": True})
    resp.delete_cookie(SESSION_COOKIE, samesite="strict", httponly=True)
    return resp


def gate(request: Request):
    """Set ``request.state.grader`` from the session; the answer for a request that may not go on (401 / a
    redirect to the login), else ``None``."""
    w = ctx_of(request)
    path = request.url.path
    bearer = _bearer(request)
    secret = request.cookies.get(SESSION_COOKIE) or bearer
    grader = w.sessions.grader(secret)
    request.state.grader = grader
    token = w.config.token
    shared = token is not None and bool(bearer) and hmac.compare_digest(bearer.encode("utf-8", "replace"),
                                                                         token.encode())
    if path.startswith(OPEN_PATHS):
        return None
    if token is not None and grader is None and not shared:
        if path.startswith(("/api/", "/stamp/")):
            return JSONResponse({"error": "a token is required: log in at /login (or send Authorization: "
                                          "Bearer <token>)"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
    if not path.startswith(("/api/", "/stamp/")) and path not in ("/", "/stats", "/guide") and grader is None:
        return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
    return None


ROUTES = [Route("/api/login", login, methods=["POST"]), Route("/api/logout", logout, methods=["POST"])]
