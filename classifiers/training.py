"""``probe train`` as a function: sets from the labels, features from the vectors, LBFGS, metrics, figures, model.

One call reads the labels (:mod:`lensdb.classifiers.sampling`), fetches the vectors of the largest training set and of
the validation set once (the nested sets are prefixes of the largest), trains one probe per ratio (one with
``sweep=False``), stores the probe of the configured ratio in ``models``, and writes a JSON report, the
Fig. 5-style scores figure and, for a sweep, the Fig. 4-style ratio figure.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lensdb.classifiers.config import ProbeConfig
from lensdb.classifiers.features import FeatureSource, check_version, load_matrix, present
from lensdb.classifiers.metrics import default_top_n, recall_curve, top_n_report
from lensdb.classifiers.plots import plot_ratio_sweep, plot_scores
from lensdb.classifiers.probe import LbfgsOptions, ProbeFit, fit_probe, predict_logits
from lensdb.classifiers.registry import StoredModel, save_model, update_metrics
from lensdb.classifiers.sampling import TrainingSets, build_sets, load_pools, set_digest
from lensdb.classifiers.selection import balanced_weights, fit_selected
from lensdb.core.errors import InvalidInput

log = logging.getLogger(__name__)


@dataclass
class ProbeRun:
    """The outcome of :func:`train_probe`.

    Attributes:
        model: the stored model (None when ``save=False``).
        sets: the training and validation sets.
        fit: the probe of the configured ratio.
        metrics: what was stored as the model's metrics.
        sweep: one row per ratio trained (ratio, n_neg, val_tp, val_precision, train_precision, ...).
        files: report JSON and figures written.
    """

    model: StoredModel | None
    sets: TrainingSets | ValidatedSets
    fit: ProbeFit
    metrics: dict
    sweep: list[dict] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    selection: object = None


def train_probe(engine, source: FeatureSource, config: ProbeConfig, *, out_dir: str | Path, sweep: bool = False,
                name: str | None = None, save: bool = True, job_id: int | None = None,
                progress: bool = False, certainty: dict[int, float] | None = None, plots: bool = True) -> ProbeRun:
    """Train (and store) a linear probe on the vectors of ``source``.

    ``config.protocol``: ``validated`` (the default: :mod:`lensdb.classifiers.selection`, class-balanced, the
    penalty chosen by cross-validated AP, refitted on every known lens) or ``paper`` (the paper's imbalance
    protocol: a 70/30 lens split, LBFGS epochs kept by TP@N; a ratio sweep always uses it).
    ``certainty``: object id -> weight in (0, 1] of graded rows (how sure the graders are); others weigh 1.

    ``plots``: draw the score histogram (and the ratio sweep) as PNG files beside the JSON report (an
    active-learning round, which nobody looks at them in, leaves them out).

    Raises:
        InvalidInput: no lenses labelled, too few sources, bad settings.
        Conflict: ``config.encoder_version`` is not the source's, or the model name is taken.
    """
    check_version(source, config.encoder_version)
    if config.threads:
        torch.set_num_threads(config.threads)
    out_dir = Path(out_dir)
    # The sets are drawn from the catalogue and only their vectors are read, by id (no pass over every stored id):
    # when some drawn object has no vector (a survey not wholly embedded), they are drawn again among those that do.
    pools = load_pools(engine, **config.pool_kwargs())
    if config.protocol == "validated" and not sweep:
        return _train_validated(engine, source, config, pools, out_dir=out_dir, name=name, save=save,
                                job_id=job_id, certainty=certainty or {},
                                redraw=lambda: load_pools(engine, **config.pool_kwargs(), available=source.ids()))
    sets = build_sets(pools, **config.set_kwargs(sweep))
    largest = max((*(sets.distinct_ratios() if sweep else ()), config.ratio), key=sets.n_neg)
    drawn = np.concatenate([sets.validation()[0], sets.train(largest)[0]])
    if not present(source, drawn).all():
        pools = load_pools(engine, **config.pool_kwargs(), available=source.ids())
        sets = build_sets(pools, **config.set_kwargs(sweep))
    val_ids, val_y = sets.validation()
    top_n = config.top_n or default_top_n(len(val_ids))
    wanted = sets.distinct_ratios() if sweep else (config.ratio,)
    by_size = {sets.n_neg(r): r for r in reversed(wanted)}  # the smallest ratio naming each distinct set
    main_size = sets.n_neg(config.ratio)
    by_size.setdefault(main_size, config.ratio)
    tr_ids, tr_y = sets.train(max(by_size.values(), key=sets.n_neg))
    n_rows = len(tr_ids) + len(val_ids)
    budget = {"memory_gb": config.memory_gb, "dtype": config.feature_dtype, "folder": out_dir / "tmp"}
    log.info("fetching %d vectors (%d training, %d validation)", n_rows, len(tr_ids), len(val_ids))
    bar = _bar(progress, n_rows, "fetch vectors")
    x_val = load_matrix(source, val_ids, **{**budget, "memory_gb": config.memory_gb * len(val_ids) / n_rows},
                        progress=bar.update if bar else None)
    x_all = load_matrix(source, tr_ids, **{**budget, "memory_gb": config.memory_gb * len(tr_ids) / n_rows},
                        progress=bar.update if bar else None)
    if bar:
        bar.close()
    opts = LbfgsOptions(epochs=config.epochs, max_iter=config.max_iter, history_size=config.history_size,
                        l2=config.l2, block_rows=config.block_rows, threads=config.threads,
                        patience=config.patience)
    rows, main_fit = [], None
    try:
        for size, ratio in sorted(by_size.items()):
            n_train = len(sets.train_pos) + len(sets.hard_negatives) + size
            x, y = x_all.head(n_train), tr_y[:n_train]
            log.info("ratio 1:%d: %d lenses, %d non-lenses, features %s", ratio, int(y.sum()), n_train - int(y.sum()),
                     x.dtype + (" on disk" if x.path else " in memory"))
            ebar = _bar(progress, config.epochs, f"LBFGS 1:{ratio}")
            fit = fit_probe(x, y, x_val, val_y, top_n, opts, on_epoch=(lambda e, b=ebar: _tick(b, e)))
            if ebar:
                ebar.close()
            n_pos = int(y.sum())
            train_rep = top_n_report(predict_logits(x, fit.weights, fit.bias), y, n_pos)
            val_rep = top_n_report(fit.val_logits, val_y, top_n)
            rows.append({"ratio": ratio, "ratio_achieved": round(size / len(sets.train_pos), 3), "n_neg": size,
                         "val_tp": val_rep.tp, "val_precision": val_rep.precision, "val_recall": val_rep.recall,
                         "train_precision": train_rep.precision, "best_epoch": fit.best_epoch,
                         "epochs_run": len(fit.history), "seconds": round(fit.seconds, 3)})
            log.info("ratio 1:%d: TP@%d = %d (precision %.3f), best epoch %d of %d, %.1f s", ratio, top_n,
                     val_rep.tp, val_rep.precision, fit.best_epoch, len(fit.history), fit.seconds)
            if size == main_size:
                main_fit = fit
    finally:
        x_all.close()
        x_val.close()
    assert main_fit is not None
    val_rep = top_n_report(main_fit.val_logits, val_y, top_n)
    curve = recall_curve(main_fit.val_logits, val_y)
    epochs = main_fit.history
    metrics = {
        "top_n": top_n, "val_tp": val_rep.tp, "val_precision": val_rep.precision, "val_recall": val_rep.recall,
        "n_val": int(len(val_ids)), "val_ratio": round(sets.val_ratio, 3), "best_epoch": main_fit.best_epoch,
        "epochs_run": len(epochs), "seconds": round(main_fit.seconds, 3),
        "seconds_per_epoch": round(main_fit.seconds / max(1, len(epochs)), 3), "history": epochs,
        "recall_curve": curve.as_dict(), "sweep": rows if sweep else [],
    }
    params = {**_jsonable(dataclasses.asdict(config)), "objective": "mean BCE + l2/2 |w|^2, LBFGS strong Wolfe",
              "features": "unit vectors (L2-normalised encoder output)"}
    definition = sets.describe(config.ratio)
    model = None
    if save:
        model = save_model(engine, kind="probe", name=name, encoder_version=source.encoder_version, params=params,
                           metrics=metrics, training_set=definition, weights=main_fit.weights, bias=main_fit.bias,
                           job_id=job_id)
    stem = model.name if model else (name or "probe")
    files = [plot_scores({stem: (1 / (1 + np.exp(-np.clip(main_fit.val_logits.astype(np.float64), -700, 700))), val_y)},
                         out_dir / f"{stem}_scores.png", top_n=top_n)] if plots else []
    if sweep and plots:
        files.append(plot_ratio_sweep(rows, out_dir / f"{stem}_ratios.png", top_n=top_n, val_ratio=sets.val_ratio))
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / f"{stem}.json"
    report.write_text(json.dumps({"model": stem, "encoder_version": source.encoder_version, "metrics": metrics,
                                  "training_set": definition, "params": params,
                                  "figures": [str(f) for f in files]}, indent=2, default=str))
    files.insert(0, report)
    if model:
        update_metrics(engine, model.id, figures=[str(f) for f in files])
    return ProbeRun(model, sets, main_fit, metrics, rows, files)


@dataclass(frozen=True)
class ValidatedSets:
    """The rows of a validated probe: every known and graded lens, the hard negatives and random non-lenses.

    ``val_pos`` are the known lenses, each held out once by the cross-validation (they also train the final fit).
    """

    seed: int
    ids: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    known: np.ndarray
    graded: np.ndarray
    hard_negatives: np.ndarray
    random_negatives: np.ndarray
    ratio_requested: int
    selection: dict = field(default_factory=dict)

    @property
    def val_pos(self) -> np.ndarray:
        return self.known

    @property
    def eval_mask(self) -> np.ndarray:
        """Rows the cross-validation holds out and scores: known lenses and random non-lenses."""
        return np.isin(self.ids, self.known) | np.isin(self.ids, self.random_negatives)

    def describe(self, ratio: int | None = None) -> dict:
        n_pos = len(self.known) + len(self.graded)
        return {"protocol": "validated", "seed": self.seed, "ratio_requested": self.ratio_requested,
                "ratio_achieved": round(len(self.random_negatives) / max(1, n_pos), 3),
                "n_train_pos": int(n_pos), "n_known": int(len(self.known)), "n_graded_pos": int(len(self.graded)),
                "n_hard_negatives": int(len(self.hard_negatives)), "n_train_neg": int(len(self.random_negatives)),
                "graded_weight_mean": round(float(self.weights[np.isin(self.ids, self.graded)].mean()), 4)
                if len(self.graded) else None,  # class balance x certainty
                "graded_certainty_mean": round(float((self.weights / balanced_weights(self.labels))[
                    np.isin(self.ids, self.graded)].mean()), 4) if len(self.graded) else None,
                "train_sha256": set_digest(self.ids, self.labels), "selection": self.selection}

    def summary(self) -> str:
        return (f"{len(self.known)} known + {len(self.graded)} graded lenses, {len(self.hard_negatives)} hard "
                f"negatives, {len(self.random_negatives)} random non-lenses; the penalty chosen by "
                f"cross-validation on the known lenses, then refitted on all")


def build_validated_sets(pools, ratio: int, seed: int, certainty: dict[int, float]) -> ValidatedSets:
    """Every known and graded lens, the hard negatives, and ``ratio`` random non-lenses per lens (capped)."""
    known, graded = pools.known_lenses, np.setdiff1d(pools.graded_lenses, pools.known_lenses)
    hard = np.setdiff1d(pools.hard_negatives, np.union1d(known, graded))
    pos = np.concatenate([known, graded])
    eligible = np.setdiff1d(pools.candidates, np.concatenate([pos, hard]))
    n_neg = int(min(int(ratio) * len(pos), eligible.size))
    if n_neg < 2:
        raise InvalidInput(f"only {eligible.size} sources are eligible as non-lenses; need at least 2 "
                           "(check the source filter and that the survey is ingested)")
    neg = np.sort(eligible[np.random.default_rng([seed, 1]).permutation(eligible.size)[:n_neg]])
    ids = np.concatenate([pos, hard, neg])
    labels = np.concatenate([np.ones(len(pos), np.uint8), np.zeros(len(hard) + len(neg), np.uint8)])
    weights = balanced_weights(labels)
    if certainty:
        sure = np.array([float(certainty.get(int(o), 1.0)) for o in ids], np.float32)
        if not ((sure >= 0) & (sure <= 1)).all():
            raise InvalidInput("grade certainties must lie in [0, 1]")
        weights = weights * np.where(np.isin(ids, known) | np.isin(ids, neg), 1.0, sure).astype(np.float32)
    return ValidatedSets(seed, ids, labels, weights, known, graded, hard, neg, int(ratio), pools.selection)


def _train_validated(engine, source: FeatureSource, config: ProbeConfig, pools, *, out_dir: Path, name, save,
                     job_id, certainty: dict[int, float], redraw=None) -> ProbeRun:
    sets = build_validated_sets(pools, config.ratio, config.seed, certainty)
    if redraw is not None and not present(source, sets.ids).all():  # some drawn object has no vector
        sets = build_validated_sets(redraw(), config.ratio, config.seed, certainty)
    log.info("validated probe: %s", sets.summary())
    x = load_matrix(source, sets.ids, memory_gb=config.memory_gb, dtype=config.feature_dtype, folder=out_dir / "tmp")
    try:
        w, b, sel = fit_selected(x, sets.labels, sets.weights, sets.eval_mask, c_grid=config.c_grid,
                                 folds=config.cv_folds, seed=config.seed, threads=config.threads)
    finally:
        x.close()
    oof_y = sets.labels[sel.eval_index]
    top_n = int(oof_y.sum())  # R-precision: as many images as held-out lenses
    rep = top_n_report(sel.oof_logits, oof_y, top_n)
    metrics = {"protocol": "validated", "top_n": top_n, "val_tp": rep.tp, "val_precision": rep.precision,
               "val_recall": rep.recall, "n_val": int(len(oof_y)), "cv_ap": round(sel.best_ap, 5),
               "selection": sel.as_dict(), "recall_curve": recall_curve(sel.oof_logits, oof_y).as_dict(),
               "best_epoch": 0, "epochs_run": 0, "seconds": round(sel.seconds, 3), "history": [], "sweep": []}
    params = {**_jsonable(dataclasses.asdict(config)),
              "objective": "class-balanced mean BCE + l2/2 |w|^2, l2 = 1/(C n), C by cross-validated AP, "
                           "refitted on all rows; LBFGS strong Wolfe",
              "features": "unit vectors (L2-normalised encoder output)"}
    definition = sets.describe()
    model = None
    if save:
        model = save_model(engine, kind="probe", name=name, encoder_version=source.encoder_version, params=params,
                           metrics=metrics, training_set=definition, weights=w, bias=b, job_id=job_id)
    stem = model.name if model else (name or "probe")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [plot_scores({stem: (1 / (1 + np.exp(-sel.oof_logits.astype(np.float64))), oof_y)},
                         out_dir / f"{stem}_scores.png", top_n=top_n)]
    report = out_dir / f"{stem}.json"
    report.write_text(json.dumps({"model": stem, "encoder_version": source.encoder_version, "metrics": metrics,
                                  "training_set": definition, "params": params,
                                  "figures": [str(f) for f in files]}, indent=2, default=str))
    files.insert(0, report)
    if model:
        update_metrics(engine, model.id, figures=[str(f) for f in files])
    fit = ProbeFit(w, b, 0, top_n, [], sel.oof_logits)
    return ProbeRun(model, sets, fit, metrics, [], files, selection=sel)


def _jsonable(d: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="it", leave=False)


def _tick(bar, entry: dict) -> None:
    log.debug("epoch %d: loss %.6g, val TP %d", entry["epoch"], entry["loss"], entry["val_tp"])
    if bar is not None:
        bar.set_postfix(loss=f"{entry['loss']:.4g}", tp=entry["val_tp"])
        bar.update(1)
