"""Creating a LensDB collection and checking an existing one: encoder version, dimension, fields, layout.

The collection records its encoder version and its magnitude edges as properties (and the version in its
description, for engines that drop properties). Opening it for another version is a :class:`Conflict`: the vectors
of two encoders never share a collection.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from pymilvus import MilvusClient, MilvusException

from lensdb.core.errors import Conflict, InvalidInput, LensDBError
from lensdb.vectordb import naming, schema
from lensdb.vectordb.config import MIN_SERVER_VERSION, QUANTISED_INDEXES, VectorDBConfig
from lensdb.vectordb.connection import is_lite_file, milvus_call
from lensdb.vectordb.partitions import MagBins, all_partitions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectionInfo:
    """What an existing collection holds: its name, encoder version, vector dimension, bins and index type."""

    name: str
    encoder_version: str
    dim: int
    bins: MagBins
    index_type: str | None


def create(client: MilvusClient, name: str, version: str, dim: int, config: VectorDBConfig) -> None:
    """Create the collection (schema and properties; partitions and index follow in :func:`ensure_layout`)."""
    props = {
        naming.ENCODER_PROPERTY: version,
        naming.EDGES_PROPERTY: json.dumps(list(config.mag_r_edges)),
        naming.SCHEMA_PROPERTY: schema.SCHEMA_VERSION,
    }
    sch = schema.build_schema(dim, f"LensDB vectors; {naming.ENCODER_PROPERTY}={version}")
    try:
        client.create_collection(name, schema=sch, properties=props, consistency_level=config.consistency_level)
        log.info("created collection %s for encoder version %r (dim %d)", name, version, dim)
    except MilvusException as exc:
        if not client.has_collection(name):  # another process may have created it first: that is fine
            raise LensDBError(f"Milvus create_collection {name} failed: {exc.message}") from exc


def describe(client: MilvusClient, name: str, version: str, dim: int | None, config: VectorDBConfig) -> CollectionInfo:
    """Check that collection ``name`` is LensDB's, for ``version`` (and ``dim`` when given); describe it.

    Raises:
        Conflict: another encoder version, another dimension, or missing LensDB fields.
    """
    desc = milvus_call("describe_collection", client.describe_collection, name)
    props = desc.get("properties") or {}
    stored = props.get(naming.ENCODER_PROPERTY)
    if stored is None:  # engines that drop properties keep the description
        text = desc.get("description") or ""
        key = f"{naming.ENCODER_PROPERTY}="
        stored = text.split(key, 1)[1] if key in text else None
    if stored != version:
        raise Conflict(
            f"collection {name} holds vectors of encoder version {stored!r}, not {version!r}; "
            "vectors of two encoders never share a collection"
        )
    fields = {f["name"]: f for f in desc["fields"]}
    missing = {schema.PRIMARY, schema.VECTOR, *schema.METADATA_FIELDS} - set(fields)
    if missing:
        raise Conflict(f"collection {name} is not a LensDB collection (missing {sorted(missing)})")
    stored_dim = int(fields[schema.VECTOR]["params"]["dim"])
    if dim is not None and dim != stored_dim:
        raise Conflict(f"collection {name} stores {stored_dim}-d vectors, not {dim}-d")
    edges = config.mag_r_edges
    if naming.EDGES_PROPERTY in props:  # the collection's own edges win over the config's
        edges = tuple(json.loads(props[naming.EDGES_PROPERTY]))
        if edges != tuple(config.mag_r_edges):
            log.info("collection %s keeps its magnitude edges %s (config: %s)", name, edges, config.mag_r_edges)
    index_type = None
    if schema.VECTOR in (milvus_call("list_indexes", client.list_indexes, name) or []):
        index_type = milvus_call("describe_index", client.describe_index, name, schema.VECTOR).get("index_type")
    return CollectionInfo(name, version, stored_dim, MagBins(edges), index_type)


def ensure_layout(client: MilvusClient, info: CollectionInfo, config: VectorDBConfig, uri: str = "") -> str:
    """Create whatever is missing (every partition, then the vector index); return the index type."""
    existing = set(milvus_call("list_partitions", client.list_partitions, info.name))
    for part in all_partitions(info.bins):
        if part not in existing:
            milvus_call("create_partition", client.create_partition, info.name, part)
    if info.index_type is not None:
        return info.index_type
    check_index_supported(client, config.index_type, uri)
    milvus_call("create_index", client.create_index, info.name, schema.index_params(client, config, info.dim))
    return config.index_type


def server_version(client: MilvusClient) -> tuple[str, tuple[int, ...] | None]:
    """The server's version text and numbers (``v2.3.5`` -> (2, 3, 5)); numbers ``None`` when the text has none."""
    text = str(milvus_call("get_server_version", client.get_server_version) or "").strip()
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    return text, (tuple(int(g or 0) for g in match.groups()) if match else None)


def check_index_supported(client: MilvusClient, index_type: str, uri: str = "") -> None:
    """Refuse (InvalidInput, naming the server's version) an index type the server cannot build, rather than let
    the engine replace it by another one: the 2.6-only types on an older server, and every quantised type on
    Milvus Lite (which keeps plain float vectors only)."""
    if index_type not in QUANTISED_INDEXES:
        return
    where = f" at {uri}" if uri else ""
    text, have = server_version(client)
    if text.startswith("milvus_lite") or is_lite_file(uri):
        raise InvalidInput(f"index type {index_type} is not built by Milvus Lite{where}; compact vectors need a "
                           "Milvus server (standalone or cluster), or use HNSW, IVF_FLAT or FLAT here")
    need = MIN_SERVER_VERSION.get(index_type)
    if need is None:
        return
    if have is None or have < need:
        shown = text or "of an unknown version"
        raise InvalidInput(f"index type {index_type} needs Milvus {'.'.join(map(str, need))} or newer; the server"
                           f"{where} is {shown}; upgrade it, or choose IVF_SQ8 or IVF_PQ (built by 2.3 and later)")


def rebuild_index(client: MilvusClient, name: str, config: VectorDBConfig, dim: int | None = None,
                  uri: str = "") -> None:
    """Replace the vector index by ``config.index_type`` (the collection must be released)."""
    check_index_supported(client, config.index_type, uri)
    milvus_call("drop_index", client.drop_index, name, schema.VECTOR)
    milvus_call("create_index", client.create_index, name, schema.index_params(client, config, dim))
