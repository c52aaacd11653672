"""Classifier models: the ``models`` table, the stored rankings (``predictions``), and scoring objects on the fly
with a probe's stored linear head (see :mod:`lensdb.classifiers.registry`): ``sigmoid(w . x + b)`` of each object's
stored unit vector ``x``, the score :mod:`lensdb.classifiers.scoring` writes."""

from __future__ import annotations

import numpy as np

from lensdb.catalog import queries
from lensdb.catalog.models import MODEL_KINDS
from lensdb.core.errors import Conflict, InvalidInput
from lensdb.core.filters import ObjectFilter
from lensdb.services import paging, validate
from lensdb.services.backends import Backends
from lensdb.services.errors import as_domain
from lensdb.services.types import Candidate, CandidatePage, ModelSummary, ObjectSummary, Scores, optional_mag

CLASSIFIER_KINDS = ("probe", "finetune")


def _summary(row) -> ModelSummary:
    params = dict(row.params or {})
    head = params.pop("head", None)
    if isinstance(head, dict):  # keep what describes the head, not its 2048 weights
        params["head"] = {k: v for k, v in head.items() if k != "weights"}
    return ModelSummary(id=row.id, name=row.name, kind=row.kind, version=row.version,
                        encoder_version=row.encoder_version, metrics=dict(row.metrics or {}), params=params,
                        training_set=dict(row.training_set or {}), created_at=row.created_at,
                        n_predictions=int(row.n_predictions), has_head=isinstance(head, dict))


class ProbeService:
    """Models, their candidates, and on-the-fly scores."""

    def __init__(self, backends: Backends):
        self.backends = backends

    def list_models(self, kinds=()) -> list[ModelSummary]:
        """Models of ``kinds`` (default probe and finetune), oldest first, with their prediction counts."""
        kinds = tuple(kinds) or CLASSIFIER_KINDS
        bad = [k for k in kinds if k not in MODEL_KINDS]
        if bad:
            raise InvalidInput(f"model kind(s) {bad} unknown; use {', '.join(MODEL_KINDS)}")
        try:
            rows = queries.model_rows(self.backends.engine, kinds)
        except Exception as exc:
            raise as_domain(exc) from exc
        return [_summary(r) for r in rows]

    def _model(self, ref: str, kinds=CLASSIFIER_KINDS):
        from lensdb.classifiers.registry import get_model

        validate.name("model", ref)
        try:
            return get_model(self.backends.engine, ref, kinds)
        except Exception as exc:
            raise as_domain(exc) from exc

    def top_candidates(self, model_ref: str, flt: ObjectFilter | None = None, page_size: int = 0,
                       page_token: str = "", *, min_score: float | None = None) -> CandidatePage:
        """A page of the model's stored ranking that passes ``flt`` (and ``min_score``), best (rank 1) first."""
        cfg = self.backends.config
        flt = flt or ObjectFilter()
        size = validate.page_size(page_size, cfg.page_size, cfg.max_page_size)
        if min_score is not None:
            validate.real("min_score", min_score, 0.0, 1.0)
        if flt.window is not None or flt.drop_duplicates_px is not None:
            raise InvalidInput("candidates take no magnitude window and no duplicate rule (they have no query "
                               "object); use magnitude ranges")
        model = self._model(model_ref)
        scope = paging.scope_digest("candidates", model.id, flt, min_score)
        after = paging.decode(page_token, scope)
        try:
            rows = queries.candidate_page(self.backends.engine, model.id, flt, min_score=min_score,
                                          after_rank=after, limit=size + 1)
            more = len(rows) > size
            rows = rows[:size]
            labels = queries.labels_of(self.backends.engine, [int(r.object_id) for r in rows])
        except Exception as exc:
            raise as_domain(exc) from exc
        candidates = []
        for r in rows:
            mine = labels.get(int(r.object_id), [])
            lens_grades = [lb.grade for lb in mine if lb.label_class == "lens" and lb.grade]
            candidates.append(Candidate(
                rank=int(r.rank), score=float(r.score),
                object=ObjectSummary(int(r.object_id), float(r.ra), float(r.dec), r.survey, optional_mag(r.mag_g),
                                     optional_mag(r.mag_r), optional_mag(r.mag_z), r.source_type),
                label_classes=tuple(sorted({lb.label_class for lb in mine})),
                grade=lens_grades[-1] if lens_grades else None))  # the latest lens grade stands
        token = paging.encode(scope, candidates[-1].rank) if more and candidates else ""
        return CandidatePage(model=model.name, candidates=candidates, next_page_token=token)

    def score_objects(self, model_ref: str, ids) -> Scores:
        """Scores of ``ids`` under a probe, from their stored vectors (ids without a vector are ``missing``).

        Raises:
            NotFound: unknown model, or its encoder version has no vectors.
            Conflict: the model has no linear head (a fine-tuned network), or its dimension differs.
        """
        arr = validate.object_ids("object_ids", ids, self.backends.config.max_ids)
        model = self._model(model_ref)
        if not model.has_head:
            raise Conflict(f"model {model.name!r} ({model.kind}) has no stored linear head; only probes score "
                           "on the fly (use TopCandidates for a fine-tuned model's ranking)")
        w, b = model.weights, model.bias
        got = self.backends.read(model.encoder_version,
                                 lambda store: store.get(arr, fields=(), with_vectors=True))
        if got["vector"].shape[1:] != (w.size,):
            raise Conflict(f"model {model.name!r} has {w.size} weights but its vectors are "
                           f"{got['vector'].shape[1]}-d; it was trained on another encoder")
        logit_of = dict(zip(got["object_id"].tolist(), (got["vector"] @ w + np.float32(b)).tolist(), strict=True))
        order = [i for i in arr.tolist() if i in logit_of]
        return Scores(model=model.name, encoder_version=model.encoder_version or "",
                      object_ids=np.array(order, np.int64), logits=np.array([logit_of[i] for i in order]),
                      missing=[i for i in dict.fromkeys(arr.tolist()) if i not in logit_of])
