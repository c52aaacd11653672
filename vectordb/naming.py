"""Names of collections and partitions: one collection per encoder version, one partition per (survey, r-mag bin).

Milvus names allow only letters, digits and underscores, start with a letter or underscore, and are at most 255
characters. An encoder version is free text chosen by whoever trained the model ("moco-v2/r50@2024-06"), so the
collection name keeps a readable slug of it plus a hash of the exact string: two versions that slug alike
("v1.0" and "v1_0") still get different collections. The exact version string is also recorded in the collection
itself and checked when it is opened (see :mod:`lensdb.vectordb.store`).
"""

from __future__ import annotations

import hashlib
import math
import re

from lensdb.core.errors import InvalidInput

#: Property key (and description prefix) under which a collection records its encoder version.
ENCODER_PROPERTY = "lensdb.encoder_version"
#: Property key under which a collection records its r-band partition edges (JSON list, AB mag).
EDGES_PROPERTY = "lensdb.mag_r_edges"
#: Property key under which a collection records the LensDB schema version.
SCHEMA_PROPERTY = "lensdb.schema_version"

_VERSION_RE = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces
_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


def check_encoder_version(version: str) -> str:
    """Return ``version`` if it is 1-128 printable ASCII characters without spaces; InvalidInput otherwise."""
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise InvalidInput(
            f"encoder version {version!r} is not allowed: use 1-128 printable ASCII characters without spaces, "
            "for example 'moco-v2-r50@2024-06'"
        )
    return version


def collection_name(encoder_version: str, prefix: str = "lensdb") -> str:
    """The collection holding the vectors of ``encoder_version``: ``<prefix>_<slug>_<8 hex of sha256>``."""
    check_encoder_version(encoder_version)
    if not _PREFIX_RE.match(prefix):
        raise InvalidInput(f"collection prefix {prefix!r}: use a letter then up to 31 letters, digits or '_'")
    slug = re.sub(r"[^A-Za-z0-9]+", "_", encoder_version).strip("_")[:64] or "v"
    digest = hashlib.sha256(encoder_version.encode()).hexdigest()[:8]
    return f"{prefix}_{slug}_{digest}"


def _edge_text(edge: float) -> str:
    """An edge as name-safe text: 18.5 -> '18p5', -1.25 -> 'm1p25'."""
    text = f"{edge:.3f}".rstrip("0").rstrip(".")
    return text.replace("-", "m").replace(".", "p")


def bin_names(edges: tuple[float, ...]) -> list[str]:
    """Names of the ``len(edges) + 1`` r-magnitude bins: ``lt16``, ``16_16p5``, ..., ``ge23``."""
    if any(not math.isfinite(e) for e in edges):
        raise InvalidInput(f"magnitude edges must be finite; got {list(edges)}")
    names = [f"lt{_edge_text(edges[0])}"]
    names += [f"{_edge_text(a)}_{_edge_text(b)}" for a, b in zip(edges, edges[1:], strict=False)]
    names.append(f"ge{_edge_text(edges[-1])}")
    if len(set(names)) != len(names):
        raise InvalidInput(f"magnitude edges {list(edges)} collide at 0.001 mag resolution; space them further")
    return names


def partition_name(survey: str, bin_label: str) -> str:
    """The partition of one survey and one r-magnitude bin, e.g. ``south_magr_18p5_19``."""
    return f"{survey}_magr_{bin_label}"


_SAFE_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


def folder_name(encoder_version: str) -> str:
    """A folder name for per-version outputs: the version itself when it is file-name safe, else slug + hash."""
    check_encoder_version(encoder_version)
    if _SAFE_FOLDER.match(encoder_version):
        return encoder_version
    return collection_name(encoder_version, "v")[2:]
