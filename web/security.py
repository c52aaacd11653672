"""The page's outer guard, one ASGI middleware around everything (so that every answer, a 401, a redirect or a
413 included, gets the same protection):

- the Host header must be one the page serves (:attr:`WebConfig.trusted_hosts`): a site that points its own DNS
  name at 127.0.0.1 (DNS rebinding) is refused before any route runs;
- a state-changing request (POST) from a browser must come from the page itself: an ``Origin`` other than the
  page's, or ``Sec-Fetch-Site: cross-site``, is refused (the ``X-LensDB`` header is the second lock);
- request bodies are capped (``max_body_bytes``): a larger ``Content-Length`` is answered 413 at once, and a body
  streamed without one is read up to the cap (413 beyond it) before any route sees it;
- every answer carries a strict Content-Security-Policy (no framing: ``frame-ancestors 'none'``), ``nosniff``,
  ``X-Frame-Options: DENY`` and ``Referrer-Policy: same-origin``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

#: The one inline script (``static/early.js``, put in every page's head so that it runs before anything can be
#: typed): allowed by its hash, every other script must come from the page's own files.
EARLY_JS = (Path(__file__).resolve().parent / "static" / "early.js").read_text()
EARLY_HASH = base64.b64encode(hashlib.sha256(EARLY_JS.encode()).digest()).decode()
CSP = (f"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self' 'sha256-{EARLY_HASH}'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def host_name(host_header: str) -> str:
    """The name of a Host header without its port (``[::1]:8080`` -> ``::1``), lower-case."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class Guard:
    def __init__(self, app, config):
        self.app = app
        self.trusted = config.trusted_hosts
        self.cap = config.max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}

        async def secured_send(message):
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *[(k, v) for k, v in HEADERS if k not in have]]}
            await send(message)

        host = headers.get("host", "")
        if self.trusted is not None and host_name(host) not in self.trusted:
            return await _refuse(secured_send, 400, f"this page does not serve the host name {host[:100]!r}; "
                                 "open it at its own address (e.g. http://127.0.0.1:PORT), or add the name to "
                                 "[web] allowed_hosts")
        if scope["method"] in UNSAFE_METHODS:
            origin = headers.get("origin")
            scheme = scope.get("scheme", "http")
            if origin is not None and origin.rstrip("/").lower() != f"{scheme}://{host}".lower():
                return await _refuse(secured_send, 403, f"a request from another site ({origin[:100]}) may not "
                                     "change data here; use the page itself")
            if headers.get("sec-fetch-site") == "cross-site":
                return await _refuse(secured_send, 403, "a request from another site may not change data here; "
                                     "use the page itself")
        length = headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > self.cap
            except ValueError:
                return await _refuse(secured_send, 400, "the Content-Length header is not a number")
            if too_big:
                return await _refuse(secured_send, 413, f"the request body is larger than {self.cap:,} bytes, "
                                     "the most this page accepts; send less at once")
        if length is None and scope["method"] in UNSAFE_METHODS:
            # A body streamed without a length: read it here up to the cap, then hand it on whole.
            chunks, seen = [], 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunks.append(message.get("body", b""))
                seen += len(chunks[-1])
                if seen > self.cap:
                    return await _refuse(secured_send, 413, f"the request body is larger than {self.cap:,} bytes, "
                                         "the most this page accepts; send less at once")
                if not message.get("more_body", False):
                    break
            body, sent = b"".join(chunks), False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            return await self.app(scope, replay, secured_send)
        await self.app(scope, receive, secured_send)


async def _refuse(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
