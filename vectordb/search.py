"""Filtered cosine kNN over one encoder version's collection, with paging past the engine's topk limit.

Paging: Milvus answers at most 16,384 hits per request (topk) and refuses ``offset + limit`` beyond that too. A
deeper search asks again with the same filter plus ``object_id not in [ids already returned]``: every page is an
ordinary top-L filtered search, so it is correct on any index and any deployment (Lite, standalone, cluster),
and it needs neither range search (whose cost on HNSW is unbounded for a loose radius) nor engine-side iterators.
The exclusion list costs about 20 bytes per returned id in the request, far below the 64 MB message limit for
any ``k`` this module accepts (``config.max_k``).

Filters that an expression cannot state exactly (the spherical cone, excluded ids beyond ``max_expr_ids``, the
96-pixel duplicate rule) are applied to each page on the client side; pages continue until ``k`` hits survive.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from lensdb.core import sky
from lensdb.core.errors import InvalidInput, NotFound
from lensdb.core.filters import ObjectFilter, object_ids
from lensdb.vectordb import filters as flt_mod
from lensdb.vectordb import schema
from lensdb.vectordb.config import QUANTISED_INDEXES
from lensdb.vectordb.connection import milvus_call
from lensdb.vectordb.partitions import partitions_for

if TYPE_CHECKING:  # the store calls this module; this module only needs the store's type
    from lensdb.vectordb.store import VectorStore

log = logging.getLogger(__name__)
DEFAULT_FIELDS = ("ra", "dec", "mag_r")


class LabelSource(Protocol):
    """Anything that can list labelled object ids (the catalogue's label store implements it)."""

    def labelled_ids(self, label_sets: Sequence[str] = ()) -> Iterable[int]:
        """Ids of objects carrying a label in ``label_sets`` (in any label set when empty)."""


@dataclass
class SearchResult:
    """Hits in decreasing cosine similarity.

    Attributes:
        ids: (n,) int64 object ids.
        similarity: (n,) float32 cosine similarity to the query.
        fields: requested metadata, one (n,) array per field.
        vectors: (n, dim) float32 unit vectors, only when asked for.
        partitions: partitions searched (``None`` = all).
        expression: the filter expression sent (without the paging exclusions).
        pages: requests made.
    """

    ids: np.ndarray
    similarity: np.ndarray
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    vectors: np.ndarray | None = None
    partitions: list[str] | None = None
    expression: str = ""
    pages: int = 0

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def _query_vector(store: VectorStore, query) -> tuple[np.ndarray, dict | None]:
    """(unit query vector, stored row of the query object or None)."""
    if isinstance(query, numbers.Integral) and not isinstance(query, bool):
        row = store.get([int(query)], ("mag_r", "ra", "dec"), with_vectors=True)
        if row[schema.PRIMARY].size == 0:
            raise NotFound(f"object_id {int(query)} is not stored for encoder version {store.encoder_version!r}")
        return row[schema.VECTOR][0], {k: v[0] for k, v in row.items() if k != schema.VECTOR}
    if isinstance(query, str | bytes | bool) or query is None:
        raise InvalidInput(f"query must be an object id or a vector of {store.dim} floats; got {query!r:.60}")
    vec = np.asarray(query)
    if (
        vec.dtype.kind not in "fiu"
        or vec.ndim not in (1, 2)
        or vec.size != store.dim
        or (vec.ndim == 2 and vec.shape[0] != 1)
    ):
        raise InvalidInput(f"query vector must have {store.dim} numbers; got shape {vec.shape}, dtype {vec.dtype}")
    vec = vec.astype(np.float64).ravel()
    if not np.isfinite(vec).all():
        raise InvalidInput("query vector has NaN or inf values")
    norm = np.linalg.norm(vec)
    if norm == 0:
        raise InvalidInput("query vector is all zeros; cosine similarity is undefined")
    return (vec / norm).astype(np.float32), None


def _empty(fields: Sequence[str], with_vectors: bool, dim: int, **info) -> SearchResult:
    return SearchResult(
        np.zeros(0, np.int64),
        np.zeros(0, np.float32),
        {f: np.zeros(0, schema.METADATA_FIELDS[f]) for f in fields},
        np.zeros((0, dim), np.float32) if with_vectors else None,
        **info,
    )


def knn(
    store: VectorStore,
    query,
    k: int = 10,
    *,
    filters: ObjectFilter | None = None,
    output_fields: Sequence[str] = DEFAULT_FIELDS,
    with_vectors: bool = False,
    include_query: bool = False,
    labels: LabelSource | None = None,
) -> SearchResult:
    """The ``k`` objects most similar (cosine) to ``query`` that pass ``filters``.

    Args:
        store: an open store.
        query: an object id (its stored vector is the query) or a raw vector of ``store.dim`` floats (normalised
            here).
        k: hits wanted, 1..``config.max_k``; fewer come back when fewer objects pass the filter.
        filters: conditions on the hits (see :class:`lensdb.core.filters.ObjectFilter`).
        output_fields: metadata to return (any of :data:`lensdb.vectordb.schema.METADATA_FIELDS`).
        with_vectors: also return the hits' unit vectors.
        include_query: keep the query object itself among the hits (querying by id).
        labels: where labelled ids come from, needed by ``filters.exclude_labelled``.
    """
    cfg = store.config
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= cfg.max_k:
        raise InvalidInput(f"k must be an integer in [1, {cfg.max_k}]; got {k!r}")
    k = int(k)
    output_fields = tuple(output_fields)
    bad = [f for f in output_fields if not isinstance(f, str) or f not in schema.METADATA_FIELDS]
    if bad:
        raise InvalidInput(f"unknown output field(s) {bad}; known: {', '.join(schema.METADATA_FIELDS)}")
    filters = filters if filters is not None else ObjectFilter()
    if not isinstance(filters, ObjectFilter):
        raise InvalidInput(f"filters must be an ObjectFilter; got {type(filters).__name__}")
    qvec, qrow = _query_vector(store, query)

    centre = (
        filters.window.centre
        if filters.window and filters.window.centre is not None
        else (float(qrow["mag_r"]) if qrow else None)
    )
    low, high = filters.r_bounds(centre)
    parts = (
        partitions_for(store.bins, filters.surveys, low, high)
        if (filters.surveys is not None or low is not None or high is not None)
        else None
    )
    excluded = set(filters.exclude_ids)
    if filters.exclude_labelled:
        if labels is None:
            raise InvalidInput("exclude_labelled needs a label source (the catalogue); none was given")
        excluded.update(object_ids("labelled ids", labels.labelled_ids(filters.label_sets)))
    if qrow is not None and not include_query:
        excluded.add(int(qrow[schema.PRIMARY]))
    in_expr = sorted(excluded)[: cfg.max_expr_ids]
    client_excluded = excluded.difference(in_expr)
    base = flt_mod.expression(filters, centre)
    expr = flt_mod.expression(filters, centre, in_expr)
    info = {"partitions": parts, "expression": base}
    if low is not None and high is not None and low > high:
        return _empty(output_fields, with_vectors, store.dim, **info)

    selectivity = 1.0
    if base and store.index_type == "HNSW" and cfg.selectivity_ef:
        matching, selectivity = _selectivity(store, parts, base)
        if matching == 0:
            return _empty(output_fields, with_vectors, store.dim, **info)

    dedupe = None
    if filters.drop_duplicates_px is not None:
        dedupe = sky.DuplicateFilter(filters.drop_duplicates_px * sky.PIXEL_SCALE_ARCSEC / 3600.0)
        if qrow is not None:
            dedupe.add(qrow["ra"], qrow["dec"])
    post = dedupe is not None or filters.cone is not None or bool(client_excluded)
    engine_fields = list(dict.fromkeys(output_fields + (("ra", "dec") if (dedupe or filters.cone) else ())))
    if with_vectors:
        engine_fields.append(schema.VECTOR)

    kept: list[dict] = []
    seen: list[int] = []
    pages, fetched, cap = 0, 0, 10 * k + cfg.max_topk
    # A page must fit one gRPC message: with vectors, 16,384 hits of 2048 floats would be 134 MB.
    page_max = min(cfg.max_topk, cfg.max_message_bytes // (4 * store.dim + 512)) if with_vectors else cfg.max_topk
    while len(kept) < k and fetched < cap:
        need = k - len(kept)
        limit = min(page_max, 2 * need + 16 if post else need)
        page_expr = (
            expr if not seen else " and ".join(p for p in (expr, flt_mod.expression(ObjectFilter(), None, seen)) if p)
        )
        hits = _search_page(store, qvec, limit, page_expr, engine_fields, parts, selectivity)
        pages += 1
        fetched += len(hits)
        seen.extend(int(h[schema.PRIMARY]) for h in hits)
        exhausted = len(hits) < limit  # the engine has no more matches
        kept.extend(_post_filter(hits, filters, client_excluded, dedupe) if post and hits else hits)
        if exhausted:
            break
    if fetched >= cap:
        log.warning(
            "kNN stopped after %d fetched hits with %d of %d kept (post-filters drop most hits)",
            fetched,
            len(kept),
            k,
        )
    kept.sort(key=lambda h: (-h["distance"], h[schema.PRIMARY]))
    kept = kept[:k]
    result = SearchResult(
        ids=np.array([h[schema.PRIMARY] for h in kept], dtype=np.int64),
        similarity=np.array([h["distance"] for h in kept], dtype=np.float32),
        fields={f: np.array([h["entity"][f] for h in kept], dtype=schema.METADATA_FIELDS[f]) for f in output_fields},
        vectors=np.array([h["entity"][schema.VECTOR] for h in kept], dtype=np.float32).reshape(len(kept), store.dim)
        if with_vectors
        else None,
        pages=pages,
        **info,
    )
    return result


def _selectivity(store: VectorStore, parts: list[str] | None, expr: str) -> tuple[int, float]:
    """(rows matching ``expr`` in ``parts``, their fraction of the rows in ``parts``)."""
    matching = store.count(parts, expr)
    return matching, matching / max(1, store.rows_in(parts))


def _search_page(
    store: VectorStore,
    qvec: np.ndarray,
    limit: int,
    expr: str,
    fields: list[str],
    parts: list[str] | None,
    selectivity: float,
) -> list[dict]:
    """One engine request; on HNSW, one more with a wider beam when a filter starved the graph walk."""

    def ask(sel: float) -> list[dict]:
        params = schema.search_params(store.index_type, store.config, limit, sel)
        raw = milvus_call(
            "search",
            store.client.search,
            store.name,
            data=[qvec],
            limit=limit,
            filter=expr,
            output_fields=fields,
            partition_names=parts,
            search_params=params,
        )[0]
        return [_hit(h) for h in raw]

    quantised = store.index_type in QUANTISED_INDEXES
    asked = limit
    if quantised:  # approximate codes: a longer shortlist, ordered exactly below
        limit = min(store.config.max_topk, limit * store.config.rerank_factor)
    hits = ask(selectivity)
    if quantised:
        return _rerank(store, qvec, hits)[:asked]
    if len(hits) < limit and expr and store.index_type == "HNSW":
        # A filtered HNSW walk can run out of admissible nodes before it finds `limit` hits. When more rows
        # match than came back, widen ef by the inverse selectivity (up to ef_max) and ask once more.
        matching, sel = _selectivity(store, parts, expr)
        if matching > len(hits) and sel < selectivity:
            hits = ask(sel)
    return hits


def _rerank(store: VectorStore, qvec: np.ndarray, hits: list[dict]) -> list[dict]:
    """The hits ordered by the exact inner product of ``qvec`` with their stored float vectors (the codes of a
    quantised index only chose them); each hit's ``distance`` becomes that exact cosine."""
    if not hits:
        return hits
    ids = np.array([h[schema.PRIMARY] for h in hits], dtype=np.int64)
    got = store.get(ids, fields=(), with_vectors=True)
    row = {int(i): k for k, i in enumerate(got[schema.PRIMARY].tolist())}
    exact = got[schema.VECTOR] @ np.asarray(qvec, np.float32)
    for h in hits:
        k = row.get(h[schema.PRIMARY])
        if k is not None:  # a hit deleted since the search keeps its approximate score
            h["distance"] = float(exact[k])
    hits.sort(key=lambda h: (-h["distance"], h[schema.PRIMARY]))
    return hits


def _hit(raw) -> dict:
    """One engine hit as ``{object_id, distance, entity}``. The engines disagree on where the primary key is: a
    Milvus server (2.3 and 2.6) answers it as ``id`` beside the entity, Milvus Lite under the field's own name."""
    pk = raw.get(schema.PRIMARY) if schema.PRIMARY in raw else raw.get("id")
    if pk is None:
        pk = (raw.get("entity") or {})[schema.PRIMARY]
    return {schema.PRIMARY: int(pk), "distance": float(raw["distance"]), "entity": dict(raw.get("entity") or {})}


def _post_filter(
    hits: list[dict], filters: ObjectFilter, excluded: set[int], dedupe: sky.DuplicateFilter | None
) -> list[dict]:
    """The hits of one page that pass the client-side conditions, in the engine's order."""
    keep = np.array([h[schema.PRIMARY] not in excluded for h in hits], dtype=bool)
    if filters.cone is not None or dedupe is not None:
        ra = np.array([h["entity"]["ra"] for h in hits], dtype=np.float64)
        dec = np.array([h["entity"]["dec"] for h in hits], dtype=np.float64)
        if filters.cone is not None:
            keep &= sky.in_cone(ra, dec, filters.cone.ra, filters.cone.dec, filters.cone.radius)
        if dedupe is not None:
            idx = np.flatnonzero(keep)
            keep[idx] = dedupe.keep(ra[idx], dec[idx])
    return [h for h, ok in zip(hits, keep, strict=True) if ok]
