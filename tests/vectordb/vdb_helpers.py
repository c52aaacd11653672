"""Helpers of the vector-store tests: a Milvus Lite server subprocess and synthetic records."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from vectordb.config import VectorDBConfig

DIM = 8  # the behaviour under test does not depend on the dimension; Lite inserts are fast at small dims


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(uri: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    from pymilvus import MilvusClient

    host, port = uri.removeprefix("http://").split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"milvus-lite server exited with status {proc.returncode}")
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                pass
            client = MilvusClient(uri=uri, timeout=5)
            client.list_collections()
            client.close()
            return
        except Exception:  # not up yet: keep polling until the deadline
            time.sleep(0.2)
    raise RuntimeError(f"milvus-lite server at {uri} did not answer within {timeout} s")


def start_lite_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """Start ``milvus-lite server`` on a free loopback port; returns (process, uri) once it answers."""
    exe = shutil.which("milvus-lite", path=str(Path(sys.executable).parent)) or "milvus-lite"
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "server", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(uri, proc)
    except BaseException:
        stop_lite_server(proc)
        raise
    return proc, uri


def stop_lite_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr:
        proc.stderr.close()


def make_columns(n: int, dim: int = DIM, seed: int = 0, start_id: int = 1000, **fixed) -> dict:
    """Synthetic records: random unit vectors, both surveys, r in [16, 23), positions in a 2 x 2 degree patch."""
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((n, dim)).astype(np.float32)
    norm = np.linalg.norm(raw, axis=1)
    cols = {
        "object_id": np.arange(start_id, start_id + n, dtype=np.int64),
        "vector": (raw / norm[:, None]).astype(np.float32),
        "norm": norm,
        "survey": rng.choice(["south", "north"], n),
        "mag_g": rng.uniform(17, 24, n).astype(np.float32),
        "mag_r": rng.uniform(16, 23, n).astype(np.float32),
        "mag_z": rng.uniform(15, 22, n).astype(np.float32),
        "ra": rng.uniform(150, 152, n),
        "dec": rng.uniform(1, 3, n),
        "source_type": rng.choice(["DEV", "EXP", "REX", "SER", "PSF"], n),
        "shard": np.array([f"images_npix152_{i // 1000:09d}.h5" for i in range(n)]),
        "shard_row": np.arange(n, dtype=np.int64) % 1000,
    }
    cols.update(fixed)
    return cols


def with_index(config: VectorDBConfig, index_type: str) -> VectorDBConfig:
    return dataclasses.replace(config, index_type=index_type)
