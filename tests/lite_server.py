"""Test helpers shared across packages: a free loopback port, and ``milvus-lite server`` as a subprocess."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lite_server(data_dir: Path, port: int | None = None, timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """``milvus-lite server`` on ``port`` (default a free one); (process, uri) once it answers a request."""
    from pymilvus import MilvusClient

    exe = shutil.which("milvus-lite", path=str(Path(sys.executable).parent)) or "milvus-lite"
    port = port or free_port()
    proc = subprocess.Popen([exe, "server", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"milvus-lite server exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
            client = MilvusClient(uri=uri, timeout=5)
            client.list_collections()
            client.close()
            return proc, uri
        except Exception:  # not up yet: keep polling until the deadline
            time.sleep(0.2)
    stop_process(proc)
    raise RuntimeError(f"milvus-lite server at {uri} did not answer within {timeout:g} s")


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate, wait up to 20 s, then kill."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
