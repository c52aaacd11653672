"""Connections to Milvus: a Lite file, a Lite server or a Milvus standalone/cluster, from the settings.

A Lite file is served by an in-process gRPC server that pymilvus starts on first use and that holds the file's
lock. LensDB counts its own users of each file and stops that server when the last one closes, so that another
process (a CLI command, a ``milvus-lite server``) can open the file afterwards, and so that a re-open in the same
process reads the file again.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import grpc
from pymilvus import MilvusClient, MilvusException

from lensdb.core.config import Settings
from lensdb.core.errors import LensDBError

_lite_lock = threading.Lock()
_lite_users: Counter[str] = Counter()


def milvus_call(what: str, fn, *args, **kwargs):
    """Call the client; turn engine errors into a LensDBError that says which operation failed."""
    try:
        return fn(*args, **kwargs)
    except MilvusException as exc:
        raise LensDBError(f"Milvus {what} failed: {exc.message}") from exc


#: gRPC codes and Milvus error texts that mean "the server cannot be reached" (gRPC is Milvus's transport).
_UNAVAILABLE_RPC = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_UNAVAILABLE_TEXT = ("fail connecting", "server unavailable", "connection refused", "failed to connect")


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the Milvus server cannot be reached."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, grpc.RpcError) and getattr(e, "code", None) and e.code() in _UNAVAILABLE_RPC:
            return True
        if isinstance(e, MilvusException) and any(t in str(e.message).lower() for t in _UNAVAILABLE_TEXT):
            return True
        e = e.__cause__ or e.__context__
    return False


def is_lite_file(uri: str) -> bool:
    """True for a Milvus Lite file path (``*.db``), False for ``http(s)://`` and ``tcp://`` servers."""
    return uri.endswith(".db") and "://" not in uri


def connect(settings: Settings) -> MilvusClient:
    """A client for ``settings.milvus_uri`` with ``settings.milvus_token`` (release it with :func:`disconnect`)."""
    uri = settings.milvus_uri
    if is_lite_file(uri):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        client = MilvusClient(uri=uri, token=settings.milvus_token or "")
    except MilvusException as exc:
        raise LensDBError(
            f"cannot connect to Milvus at {uri}: {exc.message}; check --milvus-uri/--milvus-token "
            "(a Lite file must not be open in another process)"
        ) from exc
    if is_lite_file(uri):
        with _lite_lock:
            _lite_users[str(Path(uri).resolve())] += 1
    return client


def disconnect(client: MilvusClient, uri: str) -> None:
    """Close a client from :func:`connect`; the last user of a Lite file also stops its in-process server."""
    client.close()
    if not is_lite_file(uri):
        return
    path = str(Path(uri).resolve())
    with _lite_lock:
        _lite_users[path] -= 1
        last = _lite_users[path] <= 0
    if last:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)
