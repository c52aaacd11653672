"""Similarity search: resolve the query (an object, a sky position, a raw vector or an uploaded cutout) to what the
vector store searches with, then run the filtered kNN of :func:`lensdb.vectordb.search.knn`.

- object id: its stored vector (and its own magnitude centres a magnitude window);
- sky position: the nearest catalogue source within the match radius, then as an object id;
- raw vector: normalised by the search;
- cutout: embedded by the server's encoder, and searched in that encoder's collection;
- examples: several positives (and negatives to avoid) turned into one query vector
  (:mod:`lensdb.services.fewshot`); the examples are left out of the hits.

:meth:`SearchService.unusual` ranks objects by how unusual their vectors are (:mod:`lensdb.services.anomaly`).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from lensdb.core.errors import Conflict, InvalidInput, NotFound
from lensdb.services import validate
from lensdb.services.backends import Backends
from lensdb.services.deadline import Deadline
from lensdb.services.errors import as_domain
from lensdb.services.types import (
    Examples,
    Hit,
    ObjectSummary,
    SimilarQuery,
    SimilarResult,
    SkyPosition,
    UnusualHit,
    UnusualResult,
    optional_mag,
)

log = logging.getLogger(__name__)
#: Metadata returned with every hit.
HIT_FIELDS = ("ra", "dec", "survey", "mag_g", "mag_r", "mag_z", "source_type")
CUTOUT_DTYPES = ("float32", "float16")


class SearchService:
    """Filtered similarity search over the stored representations."""

    def __init__(self, backends: Backends):
        from lensdb.vectordb.config import VectorDBConfig

        self.backends = backends
        self.max_k = VectorDBConfig.from_settings(backends.settings).max_k
        self._anomaly_cache: dict = {}

    def similar(self, query: SimilarQuery, deadline: Deadline | None = None) -> SimilarResult:
        """The ``query.k`` objects most similar to the query that pass its filters, best first.

        Raises:
            InvalidInput: a malformed query (k, vector, cutout, filters).
            NotFound: the query object, the source near the position, or the encoder version does not exist.
            Conflict: the cutout's encoder differs from the requested encoder version, or no encoder is loaded.
        """
        deadline = deadline or Deadline.none()
        given = [x is not None for x in (query.object_id, query.position, query.vector, query.cutout, query.examples)]
        if sum(given) != 1:
            raise InvalidInput("give exactly one query: an object id, a sky position, a vector, a cutout or examples")
        version = query.encoder_version or None
        validate.count("k", query.k, 1, self.max_k)
        target, separation = None, None
        deadline.check("resolving the query")
        if query.object_id is not None:
            target = validate.count("object_id", query.object_id, 0, validate.INT64_MAX)
        elif query.position is not None:
            target, separation = self.nearest_source(query.position)
        elif query.vector is not None:
            target = self._vector(query.vector)
        elif query.examples is not None:
            target, leave_out = self._examples(query.examples, version, deadline)
            filters = query.filters
            query = dataclasses.replace(query, filters=dataclasses.replace(
                filters, exclude_ids=tuple(sorted(set(filters.exclude_ids) | set(leave_out)))))
        else:
            vec, version = self._embed(query.cutout, version, deadline)
            target = vec
        deadline.check("the similarity search")
        include = query.include_query if isinstance(target, int) else False

        def run(store):
            return store.knn(target, query.k, filters=query.filters, output_fields=HIT_FIELDS,
                             include_query=include, labels=self.backends.labels)

        try:
            result = self.backends.read(version, run)
        except Exception as exc:
            raise as_domain(exc) from exc
        hits = [
            Hit(rank=i + 1, similarity=float(result.similarity[i]), object=summary(result.ids[i], result.fields, i))
            for i in range(len(result))
        ]
        return SimilarResult(hits=hits, encoder_version=version or self.backends.default_version(),
                             query_object_id=target if isinstance(target, int) else None,
                             match_separation_arcsec=separation)

    #: Random stored objects the on-the-fly query probe takes as "not this" besides the negatives.
    BACKGROUND = 2000

    def _examples(self, examples: Examples, version: str | None, deadline: Deadline) -> tuple[np.ndarray, list[int]]:
        """(query vector, the example ids to leave out of the hits) of a few-shot query."""
        from lensdb.services import fewshot

        max_ids = self.backends.config.max_ids
        if examples.method not in fewshot.METHODS:
            raise InvalidInput(f"few-shot method {examples.method!r} is not one of {', '.join(fewshot.METHODS)}")
        pos, neg = fewshot.check_examples(examples.positive_ids, examples.negative_ids, max_ids)
        deadline.check("reading the examples' vectors")
        wanted = np.concatenate([pos, neg])
        background = np.zeros(0, np.int64)
        if examples.method == "probe":
            from lensdb.catalog import queries

            try:
                background = queries.random_ids(self.backends.engine, self.BACKGROUND, 0, exclude=wanted)
            except Exception as exc:
                raise as_domain(exc) from exc

        def read(store):
            got = store.get(np.concatenate([wanted, background]), fields=(), with_vectors=True)
            return got["object_id"], got["vector"], store.encoder_version

        try:
            ids, vectors, used = self.backends.read(version, read)
        except Exception as exc:
            raise as_domain(exc) from exc
        row = {int(o): i for i, o in enumerate(ids.tolist())}
        missing = [int(o) for o in wanted.tolist() if int(o) not in row]
        if missing:
            raise NotFound(f"{len(missing)} example object(s) have no stored vector for encoder version {used!r} "
                           f"(first: object_id {missing[0]}): unknown ids, or not embedded yet; check the ids")
        bg = [row[int(o)] for o in background.tolist() if int(o) in row]
        deadline.check("fitting the few-shot query")
        vec = fewshot.query_vector(vectors[[row[int(o)] for o in pos.tolist()]],
                                   vectors[[row[int(o)] for o in neg.tolist()]], vectors[bg], examples.method)
        return vec, wanted.tolist()

    def unusual(self, k: int, method: str = "knn", neighbours: int = 10, encoder_version: str | None = None,
                exclude_ids=(), deadline: Deadline | None = None) -> UnusualResult:
        """The ``k`` most unusual stored objects, most unusual first (see :mod:`lensdb.services.anomaly`), with
        their metadata. Scores are computed over every stored vector of the version once per (version, method,
        neighbours) and kept while the server runs (one such ranking at a time).

        Raises:
            InvalidInput: a bad k, method, neighbours or exclude_ids. NotFound: no vectors for the version.
        """
        from lensdb.services import anomaly

        deadline = deadline or Deadline.none()
        validate.count("k", k, 1, self.max_k)
        if method not in anomaly.METHODS:
            raise InvalidInput(f"anomaly method {method!r} is not one of {', '.join(anomaly.METHODS)}")
        validate.count("neighbours", neighbours, 1, 1000)
        exclude = validate.object_ids("exclude_ids", list(exclude_ids), 10**9, allow_empty=True)
        version = encoder_version or self.backends.default_version()
        key = (version, method, int(neighbours))
        cached = self._anomaly_cache.get(key)
        if cached is None:
            deadline.check("reading the vectors")
            ids, vectors = self._all_vectors(version)
            deadline.check("scoring the vectors")
            cached = (ids, anomaly.anomaly_scores(vectors, method, int(neighbours)))
            self._anomaly_cache = {key: cached}  # one ranking kept: the vectors of a survey are large
        ids, scores = cached
        order = np.lexsort((ids, -scores))
        order = order[~np.isin(ids[order], exclude)][:k]
        top = ids[order]

        def read(store):
            return store.get(top, fields=HIT_FIELDS)

        try:
            fields = self.backends.read(version, read)
        except Exception as exc:
            raise as_domain(exc) from exc
        at = {int(o): i for i, o in enumerate(fields["object_id"].tolist())}
        hits = [UnusualHit(rank=r + 1, score=float(scores[i]), object=summary(int(ids[i]), fields, at[int(ids[i])]))
                for r, i in enumerate(order) if int(ids[i]) in at]
        return UnusualResult(hits=hits, encoder_version=version, method=method)

    def _all_vectors(self, version: str) -> tuple[np.ndarray, np.ndarray]:
        def read(store):
            ids, blocks = [], []
            for batch in store.iter_vectors():
                ids.append(batch["object_id"])
                blocks.append(batch["vector"])
            return ids, blocks

        try:
            ids, blocks = self.backends.read(version, read)
        except Exception as exc:
            raise as_domain(exc) from exc
        if not ids:
            raise NotFound(f"no vectors are stored for encoder version {version!r}")
        return np.concatenate(ids), np.concatenate(blocks)

    def nearest_source(self, position: SkyPosition) -> tuple[int, float]:
        """(object id, separation arcsec) of the catalogue source nearest to ``position`` within its radius."""
        from lensdb.catalog.crossmatch import cone_search

        cfg = self.backends.config
        radius = position.match_radius_arcsec or cfg.position_radius_arcsec
        validate.real("match_radius_arcsec", radius, 0.0, cfg.max_position_radius_arcsec)
        if radius <= 0:
            raise InvalidInput("match_radius_arcsec must be > 0")
        ra = validate.real("ra", position.ra, 0.0, 360.0)
        dec = validate.real("dec", position.dec, -90.0, 90.0)
        try:
            matches = cone_search(self.backends.engine, ra, dec, radius)
        except Exception as exc:
            raise as_domain(exc) from exc
        if len(matches) == 0:
            raise NotFound(f"no catalogue source within {radius:g} arcsec of (ra={ra}, dec={dec}); "
                           "widen match_radius_arcsec or check the position")
        return int(matches.object_id[0]), float(matches.separation_arcsec[0])

    @staticmethod
    def _vector(values) -> np.ndarray:
        vec = np.asarray(values)
        if vec.ndim != 1 or vec.size == 0:
            raise InvalidInput("vector must be a non-empty list of numbers")
        return vec

    def _embed(self, cutout: np.ndarray, version: str | None, deadline: Deadline) -> tuple[np.ndarray, str]:
        """(representation, encoder version) of an uploaded cutout."""
        embedder = self.backends.embedder()
        if version and version != embedder.version:
            raise Conflict(f"this server embeds cutouts with encoder {embedder.version}, not {version}; "
                           "leave encoder_version empty for cutout queries")
        image = check_cutout(cutout, embedder.crop, self.backends.config.max_cutout_px)
        deadline.check("embedding the cutout")
        vec = embedder.embed(image[None]).numpy()[0]
        if not np.isfinite(vec).all() or not vec.any():
            raise InvalidInput("the cutout embeds to a zero or non-finite vector (is it blank?)")
        return vec, embedder.version


def check_cutout(image: np.ndarray, crop: int, max_px: int) -> np.ndarray:
    """A (3, S, S) float32 copy of ``image`` ((3, S, S) or (1, 3, S, S)) with ``crop <= S <= max_px``."""
    arr = np.asarray(image)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[0] != 3 or arr.shape[1] != arr.shape[2]:
        raise InvalidInput(f"cutout must be (3, S, S) g, r, z (or (1, 3, S, S)); got shape {tuple(np.shape(image))}")
    if not crop <= arr.shape[1] <= max_px:
        raise InvalidInput(f"cutout side must lie in [{crop}, {max_px}] pixels (the encoder crops {crop}); "
                           f"got {arr.shape[1]}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise InvalidInput("cutout has NaN or inf pixels")
    return arr


def summary(object_id, fields: dict, i: int) -> ObjectSummary:
    """The :class:`ObjectSummary` of row ``i`` of a search result's field arrays."""
    return ObjectSummary(
        object_id=int(object_id), ra=float(fields["ra"][i]), dec=float(fields["dec"][i]),
        survey=str(fields["survey"][i]), mag_g=optional_mag(fields["mag_g"][i]),
        mag_r=optional_mag(fields["mag_r"][i]), mag_z=optional_mag(fields["mag_z"][i]),
        source_type=str(fields["source_type"][i]),
    )
