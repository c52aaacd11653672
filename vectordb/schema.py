"""The collection schema (one row per object) and the vector index choices.

Fields (units in brackets):

==============  ==============  ==========================================================================
object_id       INT64 (pk)      ``release << 40 | brickid << 20 | objid`` (see :mod:`lensdb.core.ids`)
vector          FLOAT_VECTOR    encoder output divided by its L2 norm (unit length), ``dim`` floats
norm            FLOAT           L2 norm of the raw encoder output
survey          VARCHAR(8)      ``south`` or ``north``
mag_g/r/z       FLOAT           AB magnitudes; 99 when the catalogue has none
ra, dec         DOUBLE          ICRS position [degrees]
source_type     VARCHAR(8)      Tractor morphology: PSF, REX, DEV, EXP, SER, DUP
shard           VARCHAR(256)    name of the survey shard the image came from
shard_row       INT64           row of the image in that shard (-1 when unknown)
==============  ==============  ==========================================================================

Cosine similarity is the inner product of the unit vectors, so every index uses the IP metric.
"""

from __future__ import annotations

from typing import Any

from pymilvus import CollectionSchema, DataType, MilvusClient

from lensdb.core.errors import InvalidInput
from lensdb.vectordb.config import QUANTISED_INDEXES, VectorDBConfig

#: Every index type a collection may have.
INDEX_TYPES = ("HNSW", "FLAT", "IVF_FLAT", *QUANTISED_INDEXES)

SCHEMA_VERSION = "1"
PRIMARY = "object_id"
VECTOR = "vector"
SHARD_MAX_LEN = 256
#: Scalar fields a search may return, with their numpy dtypes.
METADATA_FIELDS: dict[str, str] = {
    "norm": "float32",
    "survey": "object",
    "mag_g": "float32",
    "mag_r": "float32",
    "mag_z": "float32",
    "ra": "float64",
    "dec": "float64",
    "source_type": "object",
    "shard": "object",
    "shard_row": "int64",
}
MAG_FIELDS = {"g": "mag_g", "r": "mag_r", "z": "mag_z"}
METRIC = "IP"


def build_schema(dim: int, description: str) -> CollectionSchema:
    """The LensDB collection schema for vectors of dimension ``dim``."""
    if not isinstance(dim, int) or dim < 2 or dim > 32768:
        raise InvalidInput(f"vector dimension must be an integer in [2, 32768]; got {dim!r}")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description=description)
    schema.add_field(PRIMARY, DataType.INT64, is_primary=True)
    schema.add_field(VECTOR, DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("norm", DataType.FLOAT)
    schema.add_field("survey", DataType.VARCHAR, max_length=8)
    for band in MAG_FIELDS.values():
        schema.add_field(band, DataType.FLOAT)
    schema.add_field("ra", DataType.DOUBLE)
    schema.add_field("dec", DataType.DOUBLE)
    schema.add_field("source_type", DataType.VARCHAR, max_length=8)
    schema.add_field("shard", DataType.VARCHAR, max_length=SHARD_MAX_LEN)
    schema.add_field("shard_row", DataType.INT64)
    return schema


def pq_m(config: VectorDBConfig, dim: int) -> int:
    """Sub-vectors of a product quantiser over ``dim``-d vectors (``config.pq_m``, or dim / 8)."""
    m = config.pq_m or max(1, dim // 8)
    if dim % m:
        raise InvalidInput(f"[vectordb] pq_m = {m} does not divide the vector dimension {dim}; choose a divisor "
                           f"(e.g. {max(1, dim // 8)})")
    return m


def index_params(client: MilvusClient, config: VectorDBConfig, dim: int | None = None):
    """Index parameters for the vector field of ``dim``-d vectors (default ``config.dim``), from ``config.index_type``."""
    dim = dim or config.dim
    params = client.prepare_index_params()
    build: dict[str, Any]
    kind = config.index_type
    if kind == "HNSW":
        build = {"M": config.hnsw_m, "efConstruction": config.hnsw_ef_construction}
    elif kind in ("IVF_FLAT", "IVF_SQ8", "IVF_RABITQ"):
        build = {"nlist": config.ivf_nlist}
    elif kind == "IVF_PQ":
        build = {"nlist": config.ivf_nlist, "m": pq_m(config, dim), "nbits": 8}
    elif kind == "HNSW_SQ":
        build = {"M": config.hnsw_m, "efConstruction": config.hnsw_ef_construction, "sq_type": "SQ8"}
    elif kind == "HNSW_PQ":
        build = {"M": config.hnsw_m, "efConstruction": config.hnsw_ef_construction, "m": pq_m(config, dim),
                 "nbits": 8}
    elif kind == "FLAT":
        build = {}
    else:  # pragma: no cover - the config's Literal type refuses other values
        raise InvalidInput(f"unknown index type {kind!r}; use one of {', '.join(INDEX_TYPES)}")
    params.add_index(field_name=VECTOR, index_name=VECTOR, index_type=kind, metric_type=METRIC, params=build)
    return params


def hnsw_ef(config: VectorDBConfig, limit: int, selectivity: float = 1.0) -> int:
    """The HNSW search beam for a page of ``limit`` hits when a fraction ``selectivity`` of rows pass the filter.

    ef must be at least ``limit`` (HNSW returns fewer hits otherwise); a selective filter leaves few admissible
    nodes on the graph walk, so the beam widens by ``1 / selectivity`` up to ``ef_max``.
    """
    ef = max(config.ef_min, int(config.ef_factor * limit + 0.999))
    if 0.0 < selectivity < 1.0:
        ef = int(ef / selectivity + 0.999)
    return max(limit, min(ef, config.ef_max))


def search_params(index_type: str, config: VectorDBConfig, limit: int, selectivity: float = 1.0) -> dict:
    """The engine's search parameters for a page of ``limit`` hits on an index of ``index_type``."""
    if index_type in ("HNSW", "HNSW_SQ", "HNSW_PQ"):
        inner: dict[str, Any] = {"ef": hnsw_ef(config, limit, selectivity)}
    elif index_type in ("IVF_FLAT", "IVF_SQ8", "IVF_PQ", "IVF_RABITQ"):
        inner = {"nprobe": min(config.ivf_nprobe, config.ivf_nlist)}
    else:
        inner = {}
    return {"metric_type": METRIC, "params": inner}
