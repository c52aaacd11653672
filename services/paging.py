"""Opaque page tokens for keyset paging: where the last page ended, bound to what was asked.

A token holds the listing it belongs to (a digest of the request's scope: model, filter, label set) and the key
of the last row returned. A token presented with another scope is refused, so a client cannot splice pages of two
different listings; keys are compared, never interpolated into SQL.
"""

from __future__ import annotations

import base64
import hashlib
import json

from lensdb.core.errors import InvalidInput

_VERSION = 1


def scope_digest(*parts) -> str:
    """A short digest of the values that define a listing."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode(scope: str, last_key: int) -> str:
    """The token of the page after the row with key ``last_key``."""
    raw = json.dumps({"v": _VERSION, "s": scope, "k": int(last_key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, scope: str) -> int | None:
    """The last key of a token for ``scope`` (``None`` for the first page); InvalidInput for a bad token."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        ok = isinstance(data, dict) and data.get("v") == _VERSION and isinstance(data.get("k"), int)
    except (ValueError, TypeError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise InvalidInput("page_token is not one this server issued; start again with an empty token")
    if not 0 <= data["k"] < 2**63:
        raise InvalidInput("page_token is not one this server issued; start again with an empty token")
    if data.get("s") != scope:
        raise InvalidInput("page_token belongs to another listing (other model, filter or set); "
                           "start again with an empty token")
    return int(data["k"])
