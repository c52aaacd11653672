"""Rank the survey by a linear probe and store the ranking: predictions in bulk, a TSV and PNG sheets of the top N.

Two ways to rank, with the same result on an exact index:

- **search**: the probe's logit ``w . x + b`` orders the unit vectors ``x`` exactly as the inner product with
  ``w`` does, so the top N is one inner-product search whose query is the weight vector (DESIGN.md, "Vectors").
- **full pass**: stream every vector once, score it, keep the top N (or every score, for a survey-wide table).

Scores written to ``predictions`` are probabilities ``sigmoid(w . x + b)``; rank 1 is the most lens-like. Ties
are broken by object id, so both paths agree. Re-scoring a model replaces its earlier predictions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from lensdb.catalog import queries
from lensdb.catalog.registry import replace_predictions
from lensdb.classifiers.features import FeatureSource, check_query
from lensdb.core.errors import Conflict, InvalidInput
from lensdb.core.exports import viewer_url
from lensdb.core.filters import MagRange, ObjectFilter

log = logging.getLogger(__name__)
#: Catalogue columns written next to each candidate in the TSV.
TSV_COLUMNS = ("survey", "ra", "dec", "mag_g", "mag_r", "mag_z", "source_type")


def score_filter(surveys=None, mag_z_min=None, mag_z_max=None, mag_r_min=None, mag_r_max=None) -> ObjectFilter:
    """The part of the survey to rank, from the command line's flags (magnitudes AB; ``None`` = no bound)."""
    ranges = tuple(MagRange(band, lo, hi) for band, lo, hi in
                   (("z", mag_z_min, mag_z_max), ("r", mag_r_min, mag_r_max)) if lo is not None or hi is not None)
    return ObjectFilter(surveys=tuple(surveys) if surveys else None, mag_ranges=ranges)


def allowed_ids(engine: Engine, flt: ObjectFilter | None) -> np.ndarray | None:
    """Sorted ids of the sources passing ``flt``; None when there is no filter."""
    if flt is None or flt.empty:
        return None
    return queries.ids_matching(engine, flt)


@dataclass
class Ranked:
    """Objects ranked by a probe, best first: ids (n,) int64, logits (n,) float32; ``scanned`` objects looked at."""

    ids: np.ndarray
    logits: np.ndarray
    mode: str
    scanned: int = 0
    seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.ids.size)

    @property
    def scores(self) -> np.ndarray:
        """(n,) float64 probabilities."""
        return 1.0 / (1.0 + np.exp(-self.logits.astype(np.float64)))

    @property
    def ranks(self) -> np.ndarray:
        return np.arange(1, len(self) + 1, dtype=np.int64)


def _order(ids: np.ndarray, logits: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    keep = np.lexsort((ids, -logits))[:n]
    return ids[keep], logits[keep]


def rank_full_pass(source: FeatureSource, weights, bias: float, *, n: int | None = None,
                   allowed: np.ndarray | None = None, block_rows: int = 16384,
                   progress: Callable[[int], None] | None = None) -> Ranked:
    """Score every vector (those in ``allowed`` when given); keep the best ``n`` (all when ``None``)."""
    w = check_query(weights, source.dim)
    t0 = time.perf_counter()
    kept_ids, kept = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    scanned = 0
    for ids, vec in source.blocks(block_rows):
        if progress:
            progress(len(ids))
        if allowed is not None:
            mask = np.isin(ids, allowed)
            ids, vec = ids[mask], vec[mask]
        scanned += len(ids)
        logits = (vec @ w + np.float32(bias)).astype(np.float32)
        kept_ids.append(ids)
        kept.append(logits)
        if n is not None and sum(len(k) for k in kept) > 4 * n + block_rows:
            top_ids, top = _order(np.concatenate(kept_ids), np.concatenate(kept), n)
            kept_ids, kept = [top_ids], [top]
    ids, logits = _order(np.concatenate(kept_ids), np.concatenate(kept), n)
    return Ranked(ids, logits, "full", scanned, time.perf_counter() - t0)


def rank_by_search(source: FeatureSource, weights, bias: float, n: int, *, flt: ObjectFilter | None = None,
                   allowed: np.ndarray | None = None) -> Ranked:
    """The top ``n`` by one inner-product search whose query is the weight vector."""
    w = check_query(weights, source.dim)
    t0 = time.perf_counter()
    ids, ip = source.search(w, n, filters=None if flt is None or flt.empty else flt, allowed=allowed)
    ids, logits = _order(np.asarray(ids, np.int64), (np.asarray(ip, np.float32) + np.float32(bias)), n)
    return Ranked(ids, logits, "search", len(ids), time.perf_counter() - t0)


def write_predictions(engine: Engine, model_id: int, ranked: Ranked, *, batch_rows: int = 200_000) -> int:
    """Replace the predictions of ``model_id`` by ``ranked`` (one transaction, COPY on PostgreSQL).

    Raises:
        Conflict: some ranked objects are not in the catalogue (predictions reference ``sources``).
    """
    scores, ranks = ranked.scores, ranked.ranks

    def batches():
        for s in range(0, len(ranked), batch_rows):
            yield {"object_id": ranked.ids[s:s + batch_rows], "score": scores[s:s + batch_rows],
                   "rank": ranks[s:s + batch_rows]}

    try:
        return replace_predictions(engine, model_id, batches())
    except IntegrityError as exc:
        raise Conflict("some scored objects are not in the catalogue's sources (their shards were embedded "
                       "but not ingested?); ingest them, or score a filtered part") from exc


def catalogue_rows(engine: Engine, ids: np.ndarray, columns=TSV_COLUMNS) -> dict[int, tuple]:
    """object_id -> values of ``columns`` from ``sources``."""
    return {i: tuple(r[1:]) for i, r in queries.sources(engine, ids, columns).items()}


def export_tsv(engine: Engine, ranked: Ranked, path: str | Path, n: int | None = None) -> Path:
    """Write the top ``n`` as TSV: rank, object_id, score, logit, catalogue columns, a Legacy Survey viewer link,
    and an empty ``grade`` column to fill in and hand to ``lensdb grade --file``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids, logits = ranked.ids[:n], ranked.logits[:n]
    cat = catalogue_rows(engine, ids)
    scores = ranked.scores[:n]
    with open(path, "w") as f:
        f.write("\t".join(("rank", "object_id", "score", "logit", *TSV_COLUMNS, "viewer", "grade")) + "\n")
        ra_at, dec_at = TSV_COLUMNS.index("ra"), TSV_COLUMNS.index("dec")
        for k, (oid, lg, sc) in enumerate(zip(ids.tolist(), logits.tolist(), scores.tolist(), strict=True)):
            values = cat.get(oid, ("",) * len(TSV_COLUMNS))
            cells = ["" if v is None else (f"{v:.7f}" if isinstance(v, float) else str(v)) for v in values]
            link = viewer_url(values[ra_at], values[dec_at]) if values[ra_at] not in ("", None) else ""
            f.write("\t".join((str(k + 1), str(oid), f"{sc:.6g}", f"{lg:.5f}", *cells, link, "")) + "\n")
    return path


@dataclass
class ScoreReport:
    """What a scoring run did (see :mod:`lensdb.commands.classifiers` for the command)."""

    model: str
    mode: str
    scanned: int
    written: int
    top_n: int
    seconds: float
    tsv: Path | None = None
    sheets: list[Path] = field(default_factory=list)

    @property
    def objects_per_s(self) -> float:
        return self.scanned / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict:
        return {"model": self.model, "mode": self.mode, "scanned": self.scanned, "written": self.written,
                "top_n": self.top_n, "seconds": round(self.seconds, 3),
                "objects_per_s": round(self.objects_per_s, 1)}


def check_n(n: int) -> int:
    if isinstance(n, bool) or int(n) < 1:
        raise InvalidInput(f"top N must be a positive integer; got {n!r}")
    return int(n)


def default_score_n(n_objects: int) -> int:
    """The paper's 10^4 inspected images per 42.5 million objects, scaled, at least one sheet (500)."""
    from lensdb.classifiers.metrics import PAPER_SEARCH_SIZE

    return int(min(max(1, n_objects), max(500, round(10_000 * n_objects / PAPER_SEARCH_SIZE))))


def score_probe(engine: Engine, source: FeatureSource, model, *, mode: str = "search", n: int | None = None,
                flt: ObjectFilter | None = None, write: str = "top", out_dir: str | Path | None = None,
                tsv: bool = True, sheets: bool = True, sheet_shape: tuple[int, int] = (5, 100),
                crop: int | None = 96, progress: Callable[[int], None] | None = None) -> ScoreReport:
    """Rank the survey (or the part passing ``flt``) by a stored probe and record the ranking.

    Args:
        engine: the catalogue.
        source: vectors of the model's encoder version.
        model: a :class:`lensdb.classifiers.registry.StoredModel` with a linear head.
        mode: ``search`` (one inner-product search) or ``full`` (stream every vector).
        n: how many top candidates to rank (default :func:`default_score_n` of the objects in scope).
        write: ``top`` (predictions for the top n) or ``all`` (every object in scope; implies a full pass).
        out_dir: where the TSV and PNG sheets go (nothing is exported when ``None``).
        sheet_shape: (rows, cols) of cutouts per PNG sheet.

    Raises:
        Conflict: the source holds another encoder version's vectors.
        InvalidInput: the probe's dimension differs from the vectors', or a bad mode.
    """
    from lensdb.classifiers.features import check_version
    from lensdb.classifiers.registry import update_metrics

    if mode not in ("search", "full") or write not in ("top", "all"):
        raise InvalidInput(f"mode must be search or full and write top or all; got {mode!r}, {write!r}")
    check_version(source, model.encoder_version)
    w, b = model.weights, model.bias
    check_query(w, source.dim)
    allowed = allowed_ids(engine, flt)
    in_scope = len(allowed) if allowed is not None else source.count()
    n = check_n(n) if n is not None else default_score_n(in_scope)
    if write == "all" or mode == "full":
        ranked = rank_full_pass(source, w, b, n=None if write == "all" else n, allowed=allowed, progress=progress)
        mode = "full"
    else:
        ranked = rank_by_search(source, w, b, n, flt=flt, allowed=allowed)
    t0 = time.perf_counter()
    written = write_predictions(engine, model.id, ranked)
    log.info("model %s: %d predictions written in %.1f s (%s pass over %d objects in %.1f s)", model.name,
             written, time.perf_counter() - t0, mode, ranked.scanned, ranked.seconds)
    report = ScoreReport(model.name, mode, ranked.scanned, written, min(n, len(ranked)), ranked.seconds)
    if out_dir is not None:
        out = Path(out_dir)
        top = Ranked(ranked.ids[:n], ranked.logits[:n], mode)
        if tsv:
            report.tsv = export_tsv(engine, top, out / f"{model.name}_top{n}.tsv")
        if sheets and len(top):
            from lensdb.classifiers.sheets import write_sheets

            report.sheets = write_sheets(engine, top.ids, out / f"{model.name}_sheets", prefix=model.name,
                                         rows=sheet_shape[0], cols=sheet_shape[1], crop=crop)
    update_metrics(engine, model.id, scoring={**report.as_dict(), "filter": flt.as_dict() if flt else {},
                                              "tsv": str(report.tsv) if report.tsv else None})
    return report
