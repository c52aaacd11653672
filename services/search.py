"""Similarity search: resolve the query (an object, a sky position, a raw vector or an uploaded cutout) to what the
vector store searches with, then run the filtered kNN of :func:`lensdb.vectordb.search.knn`.

- object id: its stored vector (and its own magnitude centres a magnitude window);
- sky position: the nearest catalogue source within the match radius, then as an object id;
- raw vector: normalised by the search;
- cutout: embedded by the server's encoder, and searched in that encoder's collection.
"""

from __future__ import annotations

import logging

import numpy as np

from lensdb.core.errors import Conflict, InvalidInput, NotFound
from lensdb.services import validate
from lensdb.services.backends import Backends
from lensdb.services.deadline import Deadline
from lensdb.services.errors import as_domain
from lensdb.services.types import Hit, ObjectSummary, SimilarQuery, SimilarResult, SkyPosition, optional_mag

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

    def similar(self, query: SimilarQuery, deadline: Deadline | None = None) -> SimilarResult:
        """The ``query.k`` objects most similar to the query that pass its filters, best first.

        Raises:
            InvalidInput: a malformed query (k, vector, cutout, filters).
            NotFound: the query object, the source near the position, or the encoder version does not exist.
            Conflict: the cutout's encoder differs from the requested encoder version, or no encoder is loaded.
        """
        deadline = deadline or Deadline.none()
        given = [x is not None for x in (query.object_id, query.position, query.vector, query.cutout)]
        if sum(given) != 1:
            raise InvalidInput("give exactly one query: an object id, a sky position, a vector or a cutout")
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
