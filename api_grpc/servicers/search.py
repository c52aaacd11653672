"""``lensdb.v1.Search``: translate requests to :class:`SimilarQuery`, results to hits."""

from __future__ import annotations

import numpy as np

from lensdb.api_grpc import errors
from lensdb.api_grpc.gen.lensdb.v1 import search_pb2, search_pb2_grpc
from lensdb.api_grpc.servicers import convert
from lensdb.core.errors import InvalidInput
from lensdb.core.filters import Cone, MagWindow, ObjectFilter
from lensdb.services import Services
from lensdb.services.types import Examples, SimilarQuery, SimilarResult, SkyPosition


def search_filter(pb: search_pb2.SearchFilter, max_ids: int) -> ObjectFilter:
    """The typed filter (which validates every value) of a request's filter message."""
    if len(pb.exclude_ids) > max_ids:
        raise InvalidInput(f"exclude_ids: {len(pb.exclude_ids)} ids is more than the {max_ids} allowed")
    cone = None
    if pb.HasField("cone"):
        radius = pb.cone.radius_arcsec
        cone = Cone(pb.cone.ra, pb.cone.dec, radius / 3600.0 if np.isfinite(radius) else radius)
    label_set = convert.text(pb.label_set)
    return ObjectFilter(
        surveys=tuple(pb.surveys) or None,
        mag_ranges=convert.mag_ranges(pb.mag_ranges),
        window=MagWindow(pb.window.width, convert.opt(pb.window, "centre")) if pb.HasField("window") else None,
        cone=cone,
        source_types=tuple(pb.source_types) or None,
        exclude_ids=tuple(pb.exclude_ids),
        exclude_labelled=pb.exclude_labelled,
        label_sets=(label_set,) if label_set else (),
        drop_duplicates_px=convert.opt(pb, "drop_duplicates_px"),
    )


def similar_query(request: search_pb2.SimilarRequest, services: Services) -> SimilarQuery:
    cfg = services.backends.config
    which = request.WhichOneof("query")
    common = {"k": request.k, "filters": search_filter(request.filter, cfg.max_ids),
              "encoder_version": convert.text(request.encoder_version), "include_query": request.include_query}
    if which == "object_id":
        return SimilarQuery(object_id=request.object_id, **common)
    if which == "position":
        p = request.position
        return SimilarQuery(position=SkyPosition(p.ra, p.dec, p.match_radius_arcsec or None), **common)
    if which == "vector":
        return SimilarQuery(vector=np.array(request.vector.values, dtype=np.float32), **common)
    if which == "cutout":
        image = convert.array_from_pb(request.cutout, 3 * cfg.max_cutout_px**2)
        return SimilarQuery(cutout=image, **common)
    if which == "examples":
        ex = request.examples
        return SimilarQuery(examples=Examples(tuple(ex.positive_ids), tuple(ex.negative_ids),
                                              convert.text(ex.method) or "centroid"), **common)
    raise InvalidInput("give a query: object_id, position, vector, cutout or examples")


def query_info(result: SimilarResult) -> search_pb2.QueryInfo:
    return search_pb2.QueryInfo(object_id=result.query_object_id, encoder_version=result.encoder_version,
                                match_separation_arcsec=result.match_separation_arcsec)


def response(hits, query: search_pb2.QueryInfo | None = None) -> search_pb2.SimilarResponse:
    """A response message holding ``hits`` (and the query info, for the first message)."""
    out = search_pb2.SimilarResponse(query=query)
    add = out.hits.add
    for h in hits:
        convert.fill_summary(add(rank=h.rank, similarity=h.similarity).object, h.object)
    return out


class SearchServicer(search_pb2_grpc.SearchServicer):
    """Similarity search (see :class:`lensdb.services.search.SearchService`)."""

    def __init__(self, services: Services, stream_chunk: int = 512):
        self.services, self.stream_chunk = services, stream_chunk

    @errors.unary
    def Similar(self, request, context):
        result = self.services.search.similar(similar_query(request, self.services), convert.deadline_of(context))
        return response(result.hits, query_info(result))

    @errors.stream
    def SimilarStream(self, request, context):
        deadline = convert.deadline_of(context)
        result = self.services.search.similar(similar_query(request, self.services), deadline)
        chunk = self.stream_chunk
        yield response(result.hits[:chunk], query_info(result))
        for start in range(chunk, len(result.hits), chunk):
            deadline.check("sending the next hits")
            yield response(result.hits[start:start + chunk])

    @errors.unary
    def Unusual(self, request, context):
        max_ids = self.services.backends.config.max_ids
        if len(request.exclude_ids) > max_ids:
            raise InvalidInput(f"exclude_ids: {len(request.exclude_ids)} ids is more than the {max_ids} allowed")
        result = self.services.search.unusual(
            request.k, convert.text(request.method) or "knn", request.neighbours or 10,
            convert.text(request.encoder_version) or None, tuple(request.exclude_ids), convert.deadline_of(context))
        out = search_pb2.UnusualResponse(encoder_version=result.encoder_version, method=result.method)
        for h in result.hits:
            convert.fill_summary(out.hits.add(rank=h.rank, score=h.score).object, h.object)
        return out
