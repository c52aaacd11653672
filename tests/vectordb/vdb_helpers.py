"""Helpers of the vector-store tests: a Milvus Lite server subprocess and synthetic records."""

from __future__ import annotations

import dataclasses

import numpy as np

from lensdb.vectordb.config import VectorDBConfig

DIM = 8  # the behaviour under test does not depend on the dimension; Lite inserts are fast at small dims

#: The vector-store backends of the test matrix: a Lite file, the Lite server, the real Milvus server.
BACKENDS = ["lite-file", "lite-server", "milvus"]


def backend_uri(kind: str, folder, request) -> str:
    """Milvus URI of a backend of the matrix: a Lite file in ``folder``, the session's Lite server or the session's
    real Milvus server (fixtures ``lite_server`` and ``milvus_standalone``)."""
    if kind == "lite-file":
        return str(folder / "milvus.db")
    return request.getfixturevalue("lite_server" if kind == "lite-server" else "milvus_standalone")


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
