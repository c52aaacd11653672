"""Who may use the page: the token check, login and logout, and the access middleware that sends a visitor
without the token (or without a grader name) to the login page."""

from __future__ import annotations

import hmac
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from lensdb.web.common import GRADER_COOKIE, TOKEN_COOKIE, ctx_of, json_body

OPEN_PATHS = ("/login", "/api/login", "/healthz", "/readyz", "/static/")


def authorised(request: Request) -> bool:
    token = ctx_of(request).config.token
    if token is None:
        return True
    given = request.cookies.get(TOKEN_COOKIE) or ""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        given = header[7:].strip()
    return hmac.compare_digest(given.encode(), token.encode())


async def login(request: Request):
    from lensdb.services import validate

    config = ctx_of(request).config
    body = await json_body(request)
    grader = str(body.get("grader") or "").strip()
    validate.name("grader", grader)
    if config.token is not None and not hmac.compare_digest(str(body.get("token") or "").encode(),
                                                            config.token.encode()):
        return JSONResponse({"error": "wrong token: ask whoever runs this LensDB for the grading token"},
                            status_code=401)
    resp = JSONResponse({"grader": grader})
    resp.set_cookie(GRADER_COOKIE, quote(grader, safe=""), max_age=365 * 86400, samesite="strict", httponly=True)
    if config.token is not None:
        resp.set_cookie(TOKEN_COOKIE, config.token, max_age=30 * 86400, samesite="strict", httponly=True)
    return resp


async def logout(request: Request):
    await json_body(request)
    resp = JSONResponse({"ok": True})
    resp.delete_cookie(GRADER_COOKIE)
    resp.delete_cookie(TOKEN_COOKIE)
    return resp


def gate(request: Request):
    """The answer for a request that may not go on (401 / a redirect to the login), else ``None``."""
    path = request.url.path
    if not path.startswith(OPEN_PATHS) and not authorised(request):
        if path.startswith(("/api/", "/stamp/")):
            return JSONResponse({"error": "a token is required: log in at /login (or send Authorization: "
                                          "Bearer <token>)"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
    if (not path.startswith(OPEN_PATHS) and not path.startswith(("/api/", "/stamp/"))
            and path != "/" and not request.cookies.get(GRADER_COOKIE) and path not in ("/stats",)):
        return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
    return None


ROUTES = [Route("/api/login", login, methods=["POST"]), Route("/api/logout", logout, methods=["POST"])]
