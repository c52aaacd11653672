"""``lensdb finetune`` as a function: sets, cutouts, training, the frozen-probe baseline, the model row, scoring.

The training and validation sets are the probe's (:func:`lensdb.classifiers.sampling.build_sets` with the same options),
so the fine-tuned network and a probe on the frozen encoder's vectors are compared on the same validation set.
Scoring runs every catalogued image through the network (the probe's inner-product shortcut does not apply to a
changed encoder) and writes predictions like the probe's.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sqlalchemy import Engine

from lensdb.catalog import queries
from lensdb.classifiers.config import FinetuneConfig
from lensdb.classifiers.features import FeatureSource, check_version, load_matrix
from lensdb.classifiers.finetune import (
    LensClassifier,
    cache_side,
    clone_backbone,
    fit,
    iter_survey,
    load_cutouts,
)
from lensdb.classifiers.metrics import top_n_report
from lensdb.classifiers.plots import plot_scores
from lensdb.classifiers.probe import LbfgsOptions, fit_probe
from lensdb.classifiers.registry import StoredModel, file_sha256, save_model, update_metrics
from lensdb.classifiers.sampling import TrainingSets, build_sets, load_pools
from lensdb.classifiers.scoring import Ranked, ScoreReport, default_score_n, export_tsv, write_predictions
from lensdb.core.errors import Conflict, InvalidInput
from lensdb.core.filters import ObjectFilter

log = logging.getLogger(__name__)
FORMAT = "lensdb.finetune"


@dataclass
class FinetuneRun:
    """The outcome of :func:`run_finetune`: stored model, sets, metrics, the scoring report and files written."""

    model: StoredModel | None
    sets: TrainingSets
    metrics: dict
    score: ScoreReport | None = None
    files: list[Path] = field(default_factory=list)


def _device(config: FinetuneConfig) -> torch.device:
    return torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def run_finetune(engine: Engine, config: FinetuneConfig, *, checkpoint: str | Path, out_dir: str | Path,
                 name: str | None = None, baseline: FeatureSource | None = None, score: bool = True,
                 flt: ObjectFilter | None = None, n: int | None = None, export: bool = True,
                 progress: bool = False, job_id: int | None = None) -> FinetuneRun:
    """Fine-tune the encoder of ``checkpoint`` with a linear head, store it, and (optionally) score the survey.

    Args:
        baseline: vectors of the checkpoint's encoder version; when given, a probe is trained on the same sets
            and its TP@N is reported next to the fine-tuned one (``metrics["frozen_probe"]``).
        score: rank every catalogued image (in ``flt``) and write predictions; ``n`` top ones are exported.
    """
    from lensdb.encoder.backbones import build_backbone
    from lensdb.encoder.checkpoint import backbone_state, load_checkpoint, load_state
    from lensdb.encoder.transforms import inference_pipeline, training_pipeline

    device = _device(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    out_dir = Path(out_dir)
    ckpt = load_checkpoint(checkpoint)
    enc = ckpt.config
    if baseline is not None:
        check_version(baseline, ckpt.version)
    backbone = build_backbone(enc)
    load_state(backbone, backbone_state(ckpt.model), f"checkpoint {checkpoint}")
    start = clone_backbone(backbone)
    sets = build_sets(load_pools(engine, **config.pool_kwargs()), **config.set_kwargs())
    tr_ids, tr_y = sets.train(config.ratio)
    va_ids, va_y = sets.validation()
    cutout = queries.smallest_cutout(engine)
    if cutout is None or cutout < enc.min_cutout:
        raise InvalidInput(f"fine-tuning needs cutouts of at least {enc.min_cutout} px; the catalogue's shards have "
                           f"{cutout}")
    side = cache_side(cutout, enc.crop, enc.augment.jitter, enc.augment.margin)
    share = len(tr_ids) / (len(tr_ids) + len(va_ids))
    log.info("reading %d training and %d validation cutouts (%d px)", len(tr_ids), len(va_ids), side)
    train = load_cutouts(engine, tr_ids, side, config.max_cache_gb * share)
    val = load_cutouts(engine, va_ids, side, config.max_cache_gb * (1 - share))
    model = LensClassifier(backbone, enc.embed_dim).to(device)
    train_pipe = training_pipeline(enc) if config.augment else inference_pipeline(enc.crop)
    result = fit(model, train, tr_y, val, va_y, config, train_pipeline=train_pipe,
                 eval_pipeline=inference_pipeline(enc.crop), device=device, progress=progress)
    del train
    drift = _relative_change(start, model.backbone)
    rep = top_n_report(result.val_logits, va_y, result.top_n)
    metrics = {"top_n": result.top_n, "val_tp": rep.tp, "val_precision": rep.precision, "val_recall": rep.recall,
               "n_val": int(len(va_ids)), "val_ratio": round(sets.val_ratio, 3), "best_epoch": result.best_epoch,
               "epochs_run": len(result.history), "history": result.history, "backbone_relative_change": drift,
               "device": str(device), "seconds": round(sum(h["seconds"] for h in result.history), 1)}
    curves = {"fine-tuned": (_sigmoid(result.val_logits), va_y)}
    if baseline is not None:
        metrics["frozen_probe"], probe_logits = _frozen_probe(baseline, tr_ids, tr_y, va_ids, va_y, result.top_n)
        curves["frozen probe"] = (_sigmoid(probe_logits), va_y)
        log.info("TP@%d: fine-tuned %d, frozen probe %d", result.top_n, rep.tp, metrics["frozen_probe"]["val_tp"])
    params = {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()},
              "checkpoint": str(checkpoint), "encoder_preset": enc.preset, "crop": enc.crop}
    path = _save_artefact(out_dir, result.state, enc.to_dict(), ckpt.version)
    stored = save_model(engine, kind="finetune", name=name, encoder_version=ckpt.version, params=params,
                        metrics=metrics, training_set=sets.describe(config.ratio), artefact_path=path, job_id=job_id)
    files = [plot_scores(curves, out_dir / f"{stored.name}_scores.png", top_n=result.top_n)]
    report = out_dir / f"{stored.name}.json"
    report.write_text(json.dumps({"model": stored.name, "metrics": metrics, "params": params,
                                  "training_set": stored.training_set}, indent=2, default=str))
    files.insert(0, report)
    update_metrics(engine, stored.id, figures=[str(f) for f in files])
    run = FinetuneRun(stored, sets, metrics, None, files)
    if score:
        run.score = score_finetuned(engine, stored, model=model, config=config, flt=flt, n=n,
                                    out_dir=out_dir if export else None, progress=progress)
    return run


def _relative_change(before: torch.nn.Module, after: torch.nn.Module) -> float:
    """|theta - theta_0| / |theta_0| over the backbone's parameters (the paper: only marginal changes)."""
    num = den = 0.0
    for (_, p0), (_, p1) in zip(before.named_parameters(), after.named_parameters(), strict=True):
        num += float(((p1.detach().cpu() - p0) ** 2).sum())
        den += float((p0**2).sum())
    return (num / den) ** 0.5 if den else 0.0


def _frozen_probe(source: FeatureSource, tr_ids, tr_y, va_ids, va_y, top_n: int) -> tuple[dict, np.ndarray]:
    x, xv = load_matrix(source, tr_ids), load_matrix(source, va_ids)
    try:
        pf = fit_probe(x, tr_y, xv, va_y, top_n, LbfgsOptions(epochs=20, patience=5))
    finally:
        x.close()
        xv.close()
    rep = top_n_report(pf.val_logits, va_y, top_n)
    return {"val_tp": rep.tp, "val_precision": rep.precision, "best_epoch": pf.best_epoch}, pf.val_logits


def _save_artefact(out_dir: Path, state: dict, enc_config: dict, version: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".finetune-{os.getpid()}.tmp"
    torch.save({"format": FORMAT, "format_version": 1, "encoder_config": enc_config, "encoder_version": version,
                "state": state}, tmp)
    final = out_dir / f"finetune-{file_sha256(tmp)[:12]}.pt"
    os.replace(tmp, final)
    return final


def load_finetuned(model: StoredModel, device: torch.device) -> tuple[LensClassifier, object]:
    """The network of a stored ``finetune`` model and its encoder config; Conflict when the file changed."""
    from lensdb.encoder.backbones import build_backbone
    from lensdb.encoder.config import EncoderConfig

    if model.kind != "finetune" or not model.artefact_path or not Path(model.artefact_path).is_file():
        raise InvalidInput(f"model {model.name!r} has no fine-tuned network file ({model.artefact_path})")
    if file_sha256(model.artefact_path) != model.artefact_sha256:
        raise Conflict(f"{model.artefact_path} does not match the sha256 stored for model {model.name!r}")
    payload = torch.load(model.artefact_path, map_location="cpu", weights_only=True)
    enc = EncoderConfig.from_dict(payload["encoder_config"])
    net = LensClassifier(build_backbone(enc), enc.embed_dim)
    net.load_state_dict(payload["state"])
    return net.to(device).eval(), enc


@torch.no_grad()
def score_finetuned(engine: Engine, stored: StoredModel, *, model: LensClassifier | None = None,
                    config: FinetuneConfig | None = None, flt: ObjectFilter | None = None, n: int | None = None,
                    out_dir: str | Path | None = None, sheet_shape: tuple[int, int] = (5, 100),
                    progress: bool = False) -> ScoreReport:
    """Run every catalogued image (in ``flt``) through a fine-tuned model; write all predictions, export the top."""
    from lensdb.encoder.transforms import inference_pipeline

    config = config or FinetuneConfig()
    device = _device(config)
    enc = None
    if model is None:
        model, enc = load_finetuned(stored, device)
    crop = enc.crop if enc is not None else stored.params.get("crop", 96)
    pipeline = inference_pipeline(crop)
    model.eval()
    amp = device.type == "cuda"
    t0 = time.perf_counter()
    ids_parts, logit_parts = [], []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc="score images", unit="img", leave=False)
    for ids, images in iter_survey(engine, flt):
        for s in range(0, len(ids), config.score_batch):
            x = pipeline(torch.from_numpy(images[s:s + config.score_batch]).to(device))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logit_parts.append(model(x).float().cpu().numpy())
        ids_parts.append(ids)
        if bar:
            bar.update(len(ids))
    if bar:
        bar.close()
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.int64)
    logits = np.concatenate(logit_parts) if logit_parts else np.zeros(0, np.float32)
    order = np.lexsort((ids, -logits))
    ranked = Ranked(ids[order], logits[order], "images", len(ids), time.perf_counter() - t0)
    written = write_predictions(engine, stored.id, ranked)
    n = n or default_score_n(len(ids))
    report = ScoreReport(stored.name, "images", len(ids), written, min(n, len(ids)), ranked.seconds)
    if out_dir is not None and len(ids):
        from lensdb.classifiers.sheets import write_sheets

        top = Ranked(ranked.ids[:n], ranked.logits[:n], "images")
        report.tsv = export_tsv(engine, top, Path(out_dir) / f"{stored.name}_top{n}.tsv")
        report.sheets = write_sheets(engine, top.ids, Path(out_dir) / f"{stored.name}_sheets", prefix=stored.name,
                                     rows=sheet_shape[0], cols=sheet_shape[1], crop=crop)
    update_metrics(engine, stored.id, scoring={**report.as_dict(), "tsv": str(report.tsv) if report.tsv else None})
    log.info("model %s: %d images scored at %.0f images/s", stored.name, len(ids), report.objects_per_s)
    return report
