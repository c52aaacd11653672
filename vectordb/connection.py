"""Connections to Milvus: a Lite file, a Lite server or a Milvus standalone/cluster, from the settings.

Every call to the engine goes through :class:`GuardedClient`, which bounds its wait and survives a server that
went away and came back:

- each call gets pymilvus's ``timeout=`` (``[vectordb] call_timeout_s``; loads, flushes and index builds get
  ``long_call_timeout_s``), so no call can hang on a connection the server dropped (one was seen to stall for
  579 s without it);
- a call that fails because the server cannot be reached is retried, when repeating it is safe (reads, loads,
  flushes, upserts and deletes by id; never an insert or a create), up to ``call_retries`` times on a *new*
  connection after a backoff that doubles from ``retry_backoff_s``;
- a read of a collection that a restarted server no longer has loaded loads it again and asks once more;
- when the server stays down, the call raises :class:`~lensdb.core.errors.BackendUnavailable` naming the server,
  which the CLI turns into exit status 3 and the gRPC API into UNAVAILABLE.

Connections to a server are *dedicated* (not pymilvus's per-address shared channel) with their own gRPC
sub-channels (:data:`GRPC_OPTIONS`), so that a reconnect really opens a new channel instead of handing back the
broken one or waiting out gRPC's reconnect backoff.

A Lite file is served by an in-process gRPC server that pymilvus starts on first use and that holds the file's
lock. LensDB counts its own users of each file and stops that server when the last one closes, so that another
process (a CLI command, a ``milvus-lite server``) can open the file afterwards, and so that a re-open in the same
process reads the file again.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
from pymilvus import MilvusClient, MilvusException

from lensdb.core.config import Settings
from lensdb.core.errors import BackendUnavailable, LensDBError, first_line
from lensdb.core.logs import quiet_lite_noise
from lensdb.vectordb.config import VectorDBConfig

quiet_lite_noise()  # Milvus Lite's expected timestamp warnings, for every use of LensDB, not only the CLI

log = logging.getLogger(__name__)
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
_UNAVAILABLE_TEXT = ("fail connecting", "server unavailable", "connection refused", "failed to connect",
                     "retry timeout", "deadline exceeded", "deadline_exceeded", "socket closed", "connection reset")


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the Milvus server cannot be reached."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, BackendUnavailable):
            return True
        if isinstance(e, grpc.RpcError) and getattr(e, "code", None) and e.code() in _UNAVAILABLE_RPC:
            return True
        if isinstance(e, MilvusException) and any(t in str(e.message).lower() for t in _UNAVAILABLE_TEXT):
            return True
        e = e.__cause__ or e.__context__
    return False


def is_lite_file(uri: str) -> bool:
    """True for a Milvus Lite file path (``*.db``), False for ``http(s)://`` and ``tcp://`` servers."""
    return uri.endswith(".db") and "://" not in uri


#: Calls that are safe to repeat after a failure whose outcome is unknown (the server may or may not have done
#: them): reads, loads, flushes, and writes keyed by primary key (an upsert or a delete by id repeated is the same
#: write). An insert repeated would store a row twice; creates are checked by their callers instead.
IDEMPOTENT_CALLS = frozenset({
    "search", "query", "get", "query_iterator", "has_collection", "describe_collection", "list_collections",
    "list_partitions", "has_partition", "list_indexes", "describe_index", "get_load_state", "get_collection_stats",
    "load_collection", "release_collection", "flush", "upsert", "delete", "get_server_version",
})
#: Calls whose work grows with the data (they wait for the server to finish): they get ``long_call_timeout_s``.
LONG_CALLS = frozenset({"load_collection", "flush", "create_index", "drop_index", "release_collection",
                        "drop_collection", "create_collection"})
#: gRPC channel options of server connections. gRPC shares sub-channels between all channels of a process that
#: have the same target and options, and backs off reconnecting a failed one for up to two minutes: after a server
#: restart, even a brand-new client would wait out that backoff. A local sub-channel pool and a short backoff let a
#: reconnect reach a server that is back within a second or two.
GRPC_OPTIONS = {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.min_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 2000,
}
#: Reads that need the collection loaded.
_READS = frozenset({"search", "query", "get", "query_iterator"})


def _not_loaded(exc: BaseException) -> bool:
    return isinstance(exc, MilvusException) and "not loaded" in str(exc.message).lower()


#: Client methods that are not calls to the server.
_LOCAL = frozenset({"close", "prepare_index_params", "create_schema", "create_field_schema"})


class GuardedClient:
    """A pymilvus ``MilvusClient`` whose every server call is bounded, retried when safe, and reconnected.

    Attribute access is forwarded to the current ``MilvusClient``; its server calls go through :meth:`call`.

    Args:
        uri, token: the server (or Lite file).
        config: the timeouts and retries (``[vectordb]``).
    """

    def __init__(self, uri: str, token: str, config: VectorDBConfig):
        self.uri, self._token, self.config = uri, token or "", config
        self._lock = threading.Lock()
        self._client: MilvusClient | None = self._open()

    def _open(self) -> MilvusClient:
        kwargs = {} if is_lite_file(self.uri) else {"dedicated": True, "grpc_options": dict(GRPC_OPTIONS)}
        try:
            return MilvusClient(uri=self.uri, token=self._token, timeout=self.config.connect_timeout_s, **kwargs)
        except MilvusException as exc:
            if is_unavailable(exc):
                raise BackendUnavailable(self._down_message("connect", 1, exc)) from exc
            raise LensDBError(
                f"cannot connect to Milvus at {self.uri}: {exc.message}; check --milvus-uri/--milvus-token "
                "(a Lite file must not be open in another process)"
            ) from exc

    def _down_message(self, what: str, attempts: int, exc: BaseException) -> str:
        return (f"Milvus at {self.uri} is unavailable ({what} failed after {attempts} attempt(s): "
                f"{first_line(exc, 200)}); check that the server runs and is reachable, then retry")

    @property
    def client(self) -> MilvusClient:
        """The current connection (reopened when the last one was dropped)."""
        with self._lock:
            if self._client is None:
                self._client = self._open()
            return self._client

    def _reconnect(self, broken: MilvusClient | None) -> None:
        with self._lock:
            if self._client is not broken:  # another thread reconnected already
                return
            self._client = None
        if broken is not None:
            try:
                broken.close()
            except Exception:  # a broken channel may fail to close; it is dropped either way
                log.debug("closing a broken Milvus connection failed", exc_info=True)

    def call(self, name: str, *args, **kwargs):
        """``MilvusClient.<name>(*args, **kwargs)`` with a bounded wait, retried on a new connection when safe."""
        long = name in LONG_CALLS
        kwargs.setdefault("timeout", self.config.long_call_timeout_s if long else self.config.call_timeout_s)
        retries = self.config.call_retries if name in IDEMPOTENT_CALLS else 0
        delay = self.config.retry_backoff_s
        reloaded = False
        for attempt in range(retries + 1):
            current = None
            try:
                current = self.client
                return getattr(current, name)(*args, **kwargs)
            except Exception as exc:
                if not reloaded and name in _READS and args and _not_loaded(exc):
                    # A restarted server comes back with its collections released: load again, ask again (once).
                    reloaded = True
                    log.warning("Milvus at %s: collection %s is not loaded (server restarted?); loading it again",
                                self.uri, args[0])
                    current.load_collection(args[0], timeout=self.config.long_call_timeout_s)
                    return getattr(current, name)(*args, **kwargs)
                if not is_unavailable(exc):
                    raise
                if attempt == retries:
                    raise BackendUnavailable(self._down_message(name, attempt + 1, exc)) from exc
                log.warning("Milvus at %s: %s failed (%s); reconnecting, retry %d of %d in %.1f s",
                            self.uri, name, first_line(exc, 200), attempt + 1, retries, delay)
                self._reconnect(current)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def ping(self, timeout: float) -> None:
        """One ``list_collections`` bounded by ``timeout`` seconds and never retried (for health checks); raises
        BackendUnavailable when the server does not answer, and the next call opens a new connection."""
        current = None
        try:
            current = self.client
            current.list_collections(timeout=timeout)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self._reconnect(current)
            raise BackendUnavailable(self._down_message("ping", 1, exc)) from exc

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self.client, name)
        if name in _LOCAL or not callable(attr):
            return attr
        return functools.partial(self.call, name)


def connect(settings: Settings, config: VectorDBConfig | None = None) -> GuardedClient:
    """A guarded client for ``settings.milvus_uri`` with ``settings.milvus_token`` (release it with
    :func:`disconnect`); timeouts and retries from ``config`` (default: the ``[vectordb]`` section)."""
    config = config or VectorDBConfig.from_settings(settings)
    uri = settings.milvus_uri
    if is_lite_file(uri):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        _check_lite_free(uri)
    client = GuardedClient(uri, settings.milvus_token or "", config)
    if is_lite_file(uri):
        with _lite_lock:
            _lite_users[str(Path(uri).resolve())] += 1
    return client


def _check_lite_free(uri: str) -> None:
    """Refuse, in one clear line, a Milvus Lite file that another process holds (for example ``lensdb web`` on the
    same data folder): Milvus Lite would log a traceback and fail. Only checked when this process does not use the
    file yet (its own users share one in-process server)."""
    import fcntl
    import os

    path = Path(uri).resolve()
    with _lite_lock:
        if _lite_users[str(path)] > 0 or not path.is_dir():
            return
    try:
        from milvus_lite.db import LOCK_FILENAME
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:  # another milvus-lite layout: let it report the problem itself
        return
    if os.path.abspath(uri) in getattr(server_manager_instance, "_servers", {}):
        return  # this process serves the file already (the lock is ours)
    lock = path / LOCK_FILENAME
    if not lock.exists():
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        raise BackendUnavailable(
            f"the Milvus Lite file {path.name} is in use by another process (for example 'lensdb web' on the same "
            "data folder); stop that process first, or do this from its page (the statistics page runs rounds), "
            "or use a Milvus server") from None
    finally:
        os.close(fd)


def disconnect(client: GuardedClient | MilvusClient, uri: str) -> None:
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
