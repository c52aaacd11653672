"""The engines behind the API: one SQLAlchemy engine, the open vector stores (one per encoder version), the
encoder for cutout queries, and their health.

Everything opens lazily, so the server starts (and reports NOT_SERVING) while a backend is still down, and
serves as soon as it comes up. Every Milvus call is bounded and, when safe, retried on a new connection by the
vector store's client; a store whose server stayed unreachable is dropped and reopened by the next request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from lensdb.catalog import queries
from lensdb.catalog.db import make_engine, ping
from lensdb.core.config import Settings
from lensdb.core.errors import Conflict
from lensdb.services.config import ServiceConfig
from lensdb.services.errors import BackendUnavailable, as_domain, milvus_unavailable

if TYPE_CHECKING:
    from lensdb.encoder.inference import Embedder
    from lensdb.vectordb.store import VectorStore

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Seconds a backend check may take before the backend counts as down.
PING_TIMEOUT_S = 3.0


class CatalogueLabels:
    """The label store as :class:`lensdb.vectordb.search.LabelSource`: ids of labelled objects, for
    ``exclude_labelled``."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def labelled_ids(self, label_sets=()) -> list[int]:
        """Ids carrying a label of any class in ``label_sets`` (any set when empty); NotFound for an unknown set."""
        return queries.labelled_ids(self.engine, tuple(label_sets)).tolist()


class Backends:
    """Shared, thread-safe access to the engines of one server.

    Args:
        settings: where the database and Milvus are.
        config: the services' tunables (default encoder version, checkpoint, pool size).
    """

    def __init__(self, settings: Settings, config: ServiceConfig):
        self.settings, self.config = settings, config
        kwargs: dict = {"pool_size": config.pool_size, "max_overflow": 4, "pool_timeout": 30}
        if make_url(settings.database_url).get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": int(PING_TIMEOUT_S)}
        self.engine: Engine = make_engine(settings.database_url, **kwargs)
        self.labels = CatalogueLabels(self.engine)
        self._stores: dict[str, VectorStore] = {}
        self._lock = threading.Lock()
        self._admin = None
        self._embedder: Embedder | None = None
        self._embed_lock = threading.Lock()
        self._default_version: str | None = config.encoder_version or None

    # ------------------------------------------------------------------ vector stores
    def store(self, encoder_version: str | None = None) -> VectorStore:
        """The open store of ``encoder_version`` (the default version when ``None``)."""
        from lensdb.vectordb.store import VectorStore

        version = encoder_version or self.default_version()
        with self._lock:
            store = self._stores.get(version)
        if store is not None:
            return store
        try:
            opened = VectorStore.open(self.settings, version)
        except Exception as exc:
            raise as_domain(exc) from exc
        with self._lock:
            if version in self._stores:  # another thread opened it first
                opened.close()
            else:
                self._stores[version] = opened
            return self._stores[version]

    def drop_store(self, encoder_version: str) -> None:
        """Forget (and close) the store of ``encoder_version``; the next use reopens it."""
        with self._lock:
            store = self._stores.pop(encoder_version, None)
        if store is not None:
            try:
                store.close()
            except Exception:  # a broken connection may fail to close; it is dropped either way
                log.debug("closing the store of %s failed", encoder_version, exc_info=True)

    def read(self, encoder_version: str | None, fn: Callable[[VectorStore], T]) -> T:
        """``fn(store)``. Its Milvus calls are bounded and retried on a new connection by the vector store's client
        (:class:`lensdb.vectordb.connection.GuardedClient`); when Milvus stays unreachable the store is dropped (the
        next request reopens it) and the failure is BackendUnavailable."""
        version = encoder_version or self.default_version()
        store = self.store(version)
        try:
            return fn(store)
        except Exception as exc:
            if not milvus_unavailable(exc):
                raise
            self.drop_store(version)
            if isinstance(exc, BackendUnavailable):
                raise
            raise BackendUnavailable(f"the vector database (Milvus) is unavailable: {exc}") from exc

    def default_version(self) -> str:
        """The encoder version searched when a request names none (see :class:`ServeConfig`)."""
        if self._default_version:
            return self._default_version
        checkpoint = self.checkpoint_path()
        if checkpoint is not None:
            self._default_version = self.embedder().version
            return self._default_version
        versions = self.encoder_versions()
        if len(versions) != 1:
            found = ", ".join(versions) or "none"
            raise Conflict(f"no default encoder version: the server has no checkpoint and Milvus holds {found}; "
                           "set [service] encoder_version or name encoder_version in the request")
        self._default_version = versions[0]
        return self._default_version

    def encoder_versions(self) -> list[str]:
        """Encoder versions of the LensDB collections in Milvus, sorted."""
        from lensdb.vectordb import naming
        from lensdb.vectordb.config import VectorDBConfig

        prefix = VectorDBConfig.from_settings(self.settings).collection_prefix + "_"
        client = self.admin()
        try:
            names = [n for n in client.list_collections(timeout=PING_TIMEOUT_S) if n.startswith(prefix)]
            out = []
            for name in names:
                desc = client.describe_collection(name, timeout=PING_TIMEOUT_S)
                version = (desc.get("properties") or {}).get(naming.ENCODER_PROPERTY)
                if version:
                    out.append(version)
        except Exception as exc:
            raise as_domain(exc) from exc
        return sorted(out)

    def admin(self):
        """A long-lived Milvus client for checks and listings (not for searches)."""
        from lensdb.vectordb.connection import connect

        with self._lock:
            if self._admin is None:
                try:
                    self._admin = connect(self.settings)
                except Exception as exc:
                    raise BackendUnavailable(f"cannot connect to Milvus at {self.settings.milvus_uri}: {exc}") from exc
            return self._admin

    # ------------------------------------------------------------------ encoder
    def checkpoint_path(self) -> Path | None:
        """The encoder checkpoint for cutout queries, or ``None`` when none is configured or present."""
        if self.config.checkpoint:
            return Path(self.config.checkpoint)
        default = self.settings.path("encoder", "checkpoint.pt")
        return default if default.is_file() else None

    def embedder(self) -> Embedder:
        """The encoder of the checkpoint, loaded on first use (CPU unless a GPU is present)."""
        with self._embed_lock:
            if self._embedder is None:
                path = self.checkpoint_path()
                if path is None:
                    raise Conflict("this server has no encoder checkpoint, so it cannot embed cutouts; set "
                                   "[service] checkpoint (or put one at <data-dir>/encoder/checkpoint.pt)")
                from lensdb.encoder.inference import Embedder

                if self.config.embed_threads:
                    import torch

                    torch.set_num_threads(self.config.embed_threads)
                self._embedder = Embedder.from_checkpoint(path)
                log.info("loaded encoder %s from %s for cutout queries", self._embedder.version, path)
            return self._embedder

    # ------------------------------------------------------------------ health
    def ping_database(self) -> str | None:
        """``None`` when the database answers, else why not."""
        return ping(self.engine)

    def ping_milvus(self) -> str | None:
        """``None`` when Milvus answers, else why not."""
        try:
            self.admin().ping(PING_TIMEOUT_S)
            return None
        except Exception as exc:
            return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"

    def close(self) -> None:
        """Close every store, the admin client and the database pool."""
        from lensdb.vectordb.connection import disconnect

        for version in list(self._stores):
            self.drop_store(version)
        with self._lock:
            admin, self._admin = self._admin, None
        if admin is not None:
            try:
                disconnect(admin, self.settings.milvus_uri)
            except Exception:  # shutting down: a dead server cannot be told goodbye
                log.debug("closing the Milvus admin client failed", exc_info=True)
        self.engine.dispose()
