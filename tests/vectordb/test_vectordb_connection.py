"""Bounded waits and clear errors when Milvus cannot be reached: a port where nothing listens, and a server that
accepts the connection but never answers (a stalled server: the call must not hang)."""

from __future__ import annotations

import socket
import time

import pytest
from lite_server import free_port

from lensdb.core.config import load_settings
from lensdb.core.errors import BackendUnavailable
from lensdb.services.errors import as_domain
from lensdb.vectordb.config import VectorDBConfig
from lensdb.vectordb.connection import connect, is_unavailable
from lensdb.vectordb.store import VectorStore

FAST = VectorDBConfig(dim=8, connect_timeout_s=1.0, call_timeout_s=1.0, call_retries=1, retry_backoff_s=0.1)


def test_nothing_listening_is_backend_unavailable_naming_the_server(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    settings = load_settings(env={}, data_dir=str(tmp_path), milvus_uri=uri)
    t = time.monotonic()
    with pytest.raises(BackendUnavailable, match=f"Milvus at {uri} is unavailable") as err:
        VectorStore.open(settings, "v", config=FAST)
    assert time.monotonic() - t < 30
    assert is_unavailable(err.value) and as_domain(err.value) is err.value


def test_a_stalled_server_is_a_bounded_wait():
    """A listener that completes TCP handshakes but never speaks: every wait ends within its timeout."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        uri = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = load_settings(env={}, milvus_uri=uri)
        t = time.monotonic()
        with pytest.raises(BackendUnavailable, match=f"Milvus at {uri}"):
            connect(settings, FAST)
        assert time.monotonic() - t < 30


def test_timeouts_and_retries_are_checked():
    for bad in ({"call_timeout_s": 0}, {"connect_timeout_s": -1.0}, {"call_retries": -1}):
        with pytest.raises(Exception, match=r"\[vectordb\]"):
            VectorDBConfig(**bad)
