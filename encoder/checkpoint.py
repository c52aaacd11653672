"""Encoder checkpoints: weights, optimiser, progress, the config, the training selection and a version hash.

A checkpoint is one ``torch.save`` file of plain dicts, lists and tensors (it loads with
``weights_only=True``, so
opening one never runs pickled code). It is written atomically (temporary file, fsync, rename), so a crash
mid-write leaves the previous checkpoint intact.

The encoder version (``<preset>_<12 hex>``) hashes the inference-relevant config and the query backbone's
weights (and, when the checkpoint holds one, its whitening: :mod:`lensdb.encoder.whitening`): the exact function from
images to vectors. The vector store keeps one collection per version, and loading re-computes the hash, which
catches a checkpoint whose tensors were damaged after it was written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pickle
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lensdb.core.config import ConfigError
from lensdb.core.errors import Conflict, InvalidInput, NotFound
from lensdb.encoder.config import EMBED_DIM, EncoderConfig
from lensdb.encoder.whitening import Whitening

FORMAT = "lensdb.encoder.checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "version", "config", "selection", "model", "progress", "meta")
BACKBONE_PREFIX = "encoder_q."


class CorruptCheckpoint(InvalidInput):
    """A file that should be an encoder checkpoint cannot be read, lacks keys, or fails its hash."""


@dataclass
class Checkpoint:
    """The contents of an encoder checkpoint.

    Attributes:
        config: the training configuration.
        selection: :meth:`lensdb.encoder.data.TrainingSelection.to_state` of the training sample.
        model: the MoCo state dict (query and key encoders, heads, queue, queue pointer).
        optimizer: the SGD state dict, or None for a weights-only export.
        step: optimiser steps done (all epochs).
        losses: per-step training loss (mean over processes).
        complete: True once training reached its last step.
        meta: provenance: created (UTC ISO time), command line, lensdb / torch versions, world size, selection
            digest.
        version: the encoder version string (filled in by :func:`save_checkpoint`).
        whitening: :meth:`lensdb.encoder.whitening.Whitening.to_state` of the fitted whitening, or None (vectors are the
            backbone's output as is).
        elapsed_s: wall-clock seconds the training has run (all resumed parts): what a run to a time budget has spent.
    """

    config: EncoderConfig
    selection: dict[str, Any]
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None = None
    step: int = 0
    losses: list[float] = field(default_factory=list)
    complete: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    whitening: dict[str, Any] | None = None
    elapsed_s: float = 0.0


def backbone_state(model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The query backbone's tensors (the representation), keys without the ``encoder_q.`` prefix."""
    return {k[len(BACKBONE_PREFIX):]: v for k, v in model_state.items() if k.startswith(BACKBONE_PREFIX)}


def encoder_version(config: EncoderConfig, model_state: dict[str, torch.Tensor],
                    whitening: dict[str, Any] | None = None) -> str:
    """``<preset>_<12 hex>``: sha256 over the inference config (backbone, width, crop and, when not 1, the
    orientations averaged), the backbone tensors in key order and, when given, the whitening's tensors (a checkpoint
    without one hashes as before whitening existed)."""
    h = hashlib.sha256()
    inference = {"backbone": config.backbone, "width": config.width, "crop": config.crop}
    if config.orientations != 1:  # a plain encoder hashes as before orientation averaging existed
        inference["orientations"] = config.orientations
    h.update(json.dumps(inference, sort_keys=True).encode())
    tensors = sorted(backbone_state(model_state).items())
    if whitening is not None:
        tensors += [(f"whitening.{k}", whitening[k]) for k in ("mean", "matrix")]
    for name, t in tensors:
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return f"{config.preset}_{h.hexdigest()[:12]}"


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> str:
    """Write ``ckpt`` to ``path`` atomically; fills in and returns its version string."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt.version = encoder_version(ckpt.config, ckpt.model, ckpt.whitening)
    meta = {"created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "torch": str(torch.__version__),
            "command": " ".join(sys.argv), **ckpt.meta}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": ckpt.version,
        "config": ckpt.config.to_dict(),
        "selection": ckpt.selection,
        "model": {k: v.detach().to("cpu") for k, v in ckpt.model.items()},
        "optimizer": ckpt.optimizer,
        "progress": {"step": ckpt.step, "losses": torch.tensor(ckpt.losses, dtype=torch.float32),
                     "complete": ckpt.complete, "elapsed_s": float(ckpt.elapsed_s)},
        "meta": meta,
    }
    if ckpt.whitening is not None:
        payload["whitening"] = {k: v.detach().to("cpu") if isinstance(v, torch.Tensor) else v
                                for k, v in ckpt.whitening.items()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return ckpt.version


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read and validate an encoder checkpoint.

    Raises:
        NotFound: no such file.
        CorruptCheckpoint: unreadable (truncated, not a torch file), not a LensDB encoder checkpoint, missing
            keys, a bad config, or tensors that no longer match the recorded version hash.
        Conflict: written by a newer LensDB (a higher format version).
    """
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise CorruptCheckpoint(f"{path} is not a readable encoder checkpoint: {_reason(exc)}; restore it or "
                                "re-run training") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CorruptCheckpoint(f"{path} is not a LensDB encoder checkpoint (no format marker {FORMAT!r})")
    if not isinstance(payload.get("format_version"), int) or payload["format_version"] > FORMAT_VERSION:
        raise Conflict(
            f"{path} has checkpoint format {payload.get('format_version')}; this LensDB reads up to "
            f"{FORMAT_VERSION}: upgrade LensDB"
        )
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise CorruptCheckpoint(f"{path} lacks key(s) {', '.join(missing)}; it is damaged or not from LensDB")
    try:
        config = EncoderConfig.from_dict(payload["config"])
    except (ConfigError, TypeError) as exc:
        raise CorruptCheckpoint(f"{path} holds an invalid encoder config: {exc}") from exc
    model = payload["model"]
    if not isinstance(model, dict) or not backbone_state(model):
        raise CorruptCheckpoint(f"{path} holds no encoder weights")
    whitening = payload.get("whitening")
    if whitening is not None:
        try:
            Whitening.from_state(whitening, EMBED_DIM)
        except InvalidInput as exc:
            raise CorruptCheckpoint(f"{path} holds a damaged whitening: {exc}; re-fit it with "
                                    f"lensdb encoder whiten") from exc
    version = encoder_version(config, model, whitening)
    if version != payload["version"]:
        raise CorruptCheckpoint(
            f"{path}: weights do not match the recorded version {payload['version']} "
            f"(hash {version}); the file is damaged"
        )
    progress = payload["progress"]
    return Checkpoint(
        config=config,
        selection=payload["selection"],
        model=model,
        optimizer=payload["optimizer"],
        step=int(progress["step"]),
        losses=progress["losses"].tolist(),
        complete=bool(progress["complete"]),
        meta=dict(payload["meta"]),
        version=version,
        whitening=whitening,
        elapsed_s=float(progress.get("elapsed_s", 0.0)),
    )


def _reason(exc: BaseException) -> str:
    """What is wrong with a file torch.load refused, in LensDB's words: PyTorch's own text advises loading with
    ``weights_only=False`` or allow-listing classes, which would run code from the file; LensDB never does either."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("WeightsUnpickler error:"):
            found = re.search(r"GLOBAL ([\w.]+)", ln)
            what = f" ({found.group(1)})" if found else ""
            return (f"it holds Python objects{what} besides tensors and plain values, which LensDB does not load "
                    "because loading them would run code from the file: a checkpoint from another program, or "
                    "tampered with")
    first = lines[0] if lines else type(exc).__name__
    return "truncated or corrupt: " + first.split(". ")[0][:300]  # the cause, without the advice that follows


def load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """``module.load_state_dict(state)``; missing, unexpected or mis-shaped tensors -> CorruptCheckpoint."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        raise CorruptCheckpoint(
            f"{what} does not fit the model its config describes: "
            f"{' '.join(x.strip() for x in first[:3])[:400]}"
        ) from exc
