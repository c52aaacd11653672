"""``lensdb.v1.Probes``: models, their candidates, on-the-fly scores."""

from __future__ import annotations

from lensdb.api_grpc import errors
from lensdb.api_grpc.gen.lensdb.v1 import probes_pb2, probes_pb2_grpc
from lensdb.api_grpc.servicers import convert
from lensdb.core.filters import ObjectFilter
from lensdb.services import Services
from lensdb.services.types import ModelSummary


def model_pb(m: ModelSummary) -> probes_pb2.ModelInfo:
    return probes_pb2.ModelInfo(
        id=m.id, name=m.name, kind=m.kind, version=m.version, encoder_version=m.encoder_version or "",
        metrics=convert.struct(m.metrics), params=convert.struct(m.params),
        training_set=convert.struct(m.training_set), created_at=convert.timestamp(m.created_at),
        n_predictions=m.n_predictions, has_head=m.has_head,
    )


def candidate_filter(pb: probes_pb2.CandidateFilter) -> tuple[ObjectFilter, float | None]:
    """(the typed filter, the lowest score) of a request's candidate filter."""
    return ObjectFilter(
        surveys=tuple(pb.surveys) or None, mag_ranges=convert.mag_ranges(pb.mag_ranges),
        source_types=tuple(pb.source_types) or None, exclude_labelled=pb.exclude_labelled,
        label_sets=tuple(pb.label_sets),
    ), convert.opt(pb, "min_score")


class ProbesServicer(probes_pb2_grpc.ProbesServicer):
    """Classifier models (see :class:`lensdb.services.probes.ProbeService`)."""

    def __init__(self, services: Services):
        self.services = services

    @errors.unary
    def ListModels(self, request, context):
        return probes_pb2.ListModelsResponse(models=[model_pb(m) for m in
                                                     self.services.probes.list_models(request.kinds)])

    @errors.unary
    def TopCandidates(self, request, context):
        flt, min_score = candidate_filter(request.filter)
        page = self.services.probes.top_candidates(request.model, flt, request.page_size, request.page_token,
                                                   min_score=min_score)
        out = probes_pb2.TopCandidatesResponse(model=page.model, next_page_token=page.next_page_token)
        for c in page.candidates:
            item = out.candidates.add(rank=c.rank, score=c.score, label_classes=c.label_classes, grade=c.grade or "")
            convert.fill_summary(item.object, c.object)
        return out

    @errors.unary
    def ScoreObjects(self, request, context):
        res = self.services.probes.score_objects(request.model, request.object_ids)
        scores = [probes_pb2.ObjectScore(object_id=i, score=s, logit=lg)
                  for i, s, lg in zip(res.object_ids.tolist(), res.scores.tolist(), res.logits.tolist(), strict=True)]
        return probes_pb2.ScoreObjectsResponse(model=res.model, encoder_version=res.encoder_version, scores=scores,
                                               missing=res.missing)
