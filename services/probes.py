"""Classifier models: the ``models`` table, the stored rankings (``predictions``), and scoring objects on the fly
with a probe's stored linear head (see :mod:`lensdb.classifiers.registry`): ``sigmoid(w . x + b)`` of each object's
stored unit vector ``x``, the score :mod:`lensdb.classifiers.scoring` writes."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sqlalchemy import and_, exists, func, not_, select

from lensdb.catalog.models import MODEL_KINDS, Label, LabelSet, Model, Prediction, Source
from lensdb.core.errors import Conflict, InvalidInput
from lensdb.services import paging, validate
from lensdb.services.backends import Backends
from lensdb.services.catalogue import ID_CHUNK
from lensdb.services.errors import as_domain
from lensdb.services.types import (
    Candidate,
    CandidateFilter,
    CandidatePage,
    ModelSummary,
    ObjectSummary,
    Scores,
    optional_mag,
)
from lensdb.vectordb.filters import SearchFilter

CLASSIFIER_KINDS = ("probe", "finetune")


def _summary(row, n_predictions: int) -> ModelSummary:
    params = dict(row.params or {})
    head = params.pop("head", None)
    if isinstance(head, dict):  # keep what describes the head, not its 2048 weights
        params["head"] = {k: v for k, v in head.items() if k != "weights"}
    return ModelSummary(id=row.id, name=row.name, kind=row.kind, version=row.version,
                        encoder_version=row.encoder_version, metrics=dict(row.metrics or {}), params=params,
                        training_set=dict(row.training_set or {}), created_at=row.created_at,
                        n_predictions=n_predictions, has_head=isinstance(head, dict))


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
        m = Model.__table__.c
        try:
            with self.backends.engine.connect() as conn:
                counts = {int(i): int(n) for i, n in conn.execute(
                    select(Prediction.model_id, func.count()).group_by(Prediction.model_id))}
                rows = conn.execute(select(Model.__table__).where(m.kind.in_(kinds)).order_by(m.id)).all()
        except Exception as exc:
            raise as_domain(exc) from exc
        return [_summary(r, int(counts.get(r.id, 0))) for r in rows]

    def _model(self, ref: str, kinds=CLASSIFIER_KINDS):
        from lensdb.classifiers.registry import get_model

        validate.name("model", ref)
        try:
            return get_model(self.backends.engine, ref, kinds)
        except Exception as exc:
            raise as_domain(exc) from exc

    def top_candidates(self, model_ref: str, flt: CandidateFilter | None = None, page_size: int = 0,
                       page_token: str = "") -> CandidatePage:
        """A page of the model's stored ranking that passes ``flt``, best (rank 1) first."""
        cfg = self.backends.config
        flt = flt or CandidateFilter()
        size = validate.page_size(page_size, cfg.page_size, cfg.max_page_size)
        self._check_filter(flt)
        model = self._model(model_ref)
        scope = paging.scope_digest("candidates", model.id, flt)
        after = paging.decode(page_token, scope)
        p, s = Prediction.__table__.c, Source.__table__.c
        where = [p.model_id == model.id]
        if after is not None:
            where.append(p.rank > after)
        if flt.min_score is not None:
            where.append(p.score >= flt.min_score)
        if flt.surveys is not None:
            where.append(s.survey.in_(flt.surveys))
        if flt.source_types is not None:
            where.append(s.source_type.in_(flt.source_types))
        for r in flt.mag_ranges:
            col = s[f"mag_{r.band}"]
            where += ([col >= r.low] if r.low is not None else []) + ([col < r.high] if r.high is not None else [])
        if flt.exclude_labelled:
            labelled = select(Label.id).where(Label.object_id == p.object_id)
            if flt.label_sets:
                labelled = labelled.join(LabelSet, LabelSet.id == Label.label_set_id).where(
                    LabelSet.name.in_(flt.label_sets))
            where.append(not_(exists(labelled)))
        query = (select(p.rank, p.score, s.object_id, s.ra, s.dec, s.survey, s.mag_g, s.mag_r, s.mag_z,
                        s.source_type)
                 .join(Source, Source.object_id == p.object_id).where(and_(*where)).order_by(p.rank).limit(size + 1))
        try:
            with self.backends.engine.connect() as conn:
                rows = conn.execute(query).all()
            more = len(rows) > size
            rows = rows[:size]
            labels = self._label_classes([int(r.object_id) for r in rows])
        except Exception as exc:
            raise as_domain(exc) from exc
        candidates = [
            Candidate(rank=int(r.rank), score=float(r.score),
                      object=ObjectSummary(int(r.object_id), float(r.ra), float(r.dec), r.survey,
                                           optional_mag(r.mag_g), optional_mag(r.mag_r), optional_mag(r.mag_z),
                                           r.source_type),
                      label_classes=tuple(sorted(labels.get(int(r.object_id), ({}, None))[0])),
                      grade=labels.get(int(r.object_id), ({}, None))[1])
            for r in rows
        ]
        token = paging.encode(scope, candidates[-1].rank) if more and candidates else ""
        return CandidatePage(model=model.name, candidates=candidates, next_page_token=token)

    @staticmethod
    def _check_filter(flt: CandidateFilter) -> None:
        # SearchFilter validates surveys, source types and magnitude ranges against the same closed sets.
        SearchFilter(surveys=flt.surveys, source_types=flt.source_types, mag_ranges=flt.mag_ranges)
        for name in flt.label_sets:
            validate.name("label_sets", name)
        if flt.min_score is not None:
            validate.real("min_score", flt.min_score, 0.0, 1.0)

    def _label_classes(self, ids: list[int]) -> dict[int, tuple[set[str], str | None]]:
        classes: dict[int, set[str]] = defaultdict(set)
        grades: dict[int, str] = {}
        with self.backends.engine.connect() as conn:
            for start in range(0, len(ids), ID_CHUNK):
                query = select(Label.object_id, Label.label_class, Label.grade).where(
                    Label.object_id.in_(ids[start:start + ID_CHUNK])).order_by(Label.id)
                for oid, cls, grade in conn.execute(query):
                    classes[int(oid)].add(cls)
                    if cls == "lens" and grade:
                        grades[int(oid)] = grade  # the latest lens grade stands
        return {i: (classes[i], grades.get(i)) for i in classes}

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
