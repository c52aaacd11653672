"""Typed, frozen configuration of the self-supervised encoder: augmentations, model, optimiser, sample.

Two presets:

- ``resnet50``: the paper's set-up as the authors' released code runs it (ANCHOR_FACTS.md): MoCo v2 over a
  ResNet50, MLP head 2048-2048-128, queue 65,536, temperature 0.2, key momentum 0.996, SGD lr 0.24 (for 8 GPUs
  x 256 images, scaled linearly to other batches) / momentum 0.9 / weight decay 1e-4 with cosine decay, 256
  images per GPU, 96-pixel crops.
- ``small``: the same recipe scaled for a 2-core CPU: a ResNet18 layout at a quarter of the width (16) on 48-pixel
  crops (12.6", native pixel scale, so the augmentation constants, all in pixels, stay valid; Einstein radii up to
  ~3" fit with room), its last stage widened to the 2048-d representation; batch 128, queue 1,024 (a few thousand
  training objects: a longer queue would hold stale keys of the query's own galaxy), momentum 0.99, temperature
  0.1, lr 0.12 per 256 images, 36 epochs (about 10 minutes on 2 cores for the ~4,500-object sample of a
  20,000-object survey). Measured on that survey (``bench/bench_enrichment.py``, lens fraction among the 100
  nearest neighbours of each lens, base rate 0.015): 64-px crops at lr 0.03 for 12 epochs gave 0.044; 48 px,
  0.049; lr 0.12, 0.052; 36 epochs, 0.097, against 0.033 for the untrained network and 0.096-0.103 for pixel PCA.
  Eight runs of this recipe (seeds, CPU and GPU) gave 0.079-0.128, mean 0.103 (``bench/results/enrichment_seeds.json``);
  temperature 0.05 or 0.2 gave 0.047 and 0.046 (seed 0), and 72 epochs 0.099, all-south training (no flattening in
  mag_z) 0.059 and 0.084 (GPU, seeds 0 and 7): each worse or no better. The backbone's output is dimensionally
  collapsed (effective rank ~3), so training ends by fitting a whitening (``whiten_sample``,
  ``whiten_shrinkage``; :mod:`lensdb.encoder.whitening`): over five seeds the stored (whitened) vectors give 0.124 +-
  0.015
  against 0.103 for pixel PCA (5 of 5 runs) and 0.113 for whitened pixel PCA (4 of 5 runs)
  (``bench/results/enrichment_white_seeds.json``).

The small preset embeds each object as the mean over its 8 orientations (``orientations = 8``,
:mod:`lensdb.encoder.orientation`), whitened on such vectors. Measured on a 12,000-object survey (285 lenses, base
rate 0.024) with encoders trained to a 300 s budget on a loaded 2-core machine (``bench/results/enrichment_crop*.json``):
top-100 lens fraction 0.130 against 0.084 (crop 48) and 0.126 against 0.092 (crop 64), and a cross-validated probe's
TP@100 60 against 28 and 62 against 41; pixel PCA given the same averaging gains too (0.17-0.18, from 0.15). It costs
8 forward passes per object at embed time (and in the whitening fit).

Settings resolve as: preset < ``[encoder]`` (and ``[encoder.augment]``) section of the config file < flags; see
:func:`resolve_config`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from lensdb.core.config import ConfigError, Settings, load_section

#: Every preset's downstream representation is this wide, because the vector store is (DESIGN.md, "Vectors").
EMBED_DIM = 2048
#: Allowed ``orientations``: 1 (no averaging) or 8 (rotations by 90 degrees x flips; :mod:`lensdb.encoder.orientation`).
ORIENTATION_CHOICES = (1, 8)


@dataclass(frozen=True)
class AugmentConfig:
    """Constants of the training augmentations, defaults from the paper (Section 3.1, Appendix B, Table 2).

    Lognormals use the scipy.stats.lognorm parameterisation, ``x = loc + scale * exp(shape * N(0, 1))``; the
    per-band tuples are ordered g, r, z.

    Attributes:
        ebv_lognorm: (shape, loc, scale) of the random E(B-V), magnitudes.
        extinction_coeff: A_band / E(B-V) for g, r, z.
        flip_p: probability of each of the two axis flips.
        rotate: rotate by an angle drawn from U(0, 2 pi).
        scale_range: (low, high) of the uniform zoom factor (1.1 = galaxy 10 % larger).
        conserve_flux: rescale keeps the total flux (divides by zoom^2) rather than the surface brightness.
        psf_shape, psf_loc, psf_scale: lognormal fit of the PSF Gaussian sigma per band, pixels.
        noise_shape, noise_loc, noise_scale: lognormal fit of the per-pixel noise sigma per band, nanomaggies.
        jitter: largest shift of the crop centre along each axis, pixels (integers drawn from
            U{-jitter..jitter}).
        margin: pixels kept around the jittered crop when the warp output is cut down, so the blur sees real
            data.
        skip: names of transforms to leave out (ablations): redden, fliprotate, rescale, psfblur, jitter,
            noise.
    """

    ebv_lognorm: tuple[float, ...] = (0.67306, 0.001146, 0.03338)
    extinction_coeff: tuple[float, ...] = (3.214, 2.165, 1.211)
    flip_p: float = 0.5
    rotate: bool = True
    scale_range: tuple[float, ...] = (0.9, 1.1)
    conserve_flux: bool = True
    psf_shape: tuple[float, ...] = (0.2109966, 0.3008485, 0.3471172)
    psf_loc: tuple[float, ...] = (1.0807153, 1.2394326, 1.1928363)
    psf_scale: tuple[float, ...] = (1.3153171, 0.9164757, 0.8233702)
    noise_shape: tuple[float, ...] = (0.2264926, 0.2431146, 0.1334844)
    noise_loc: tuple[float, ...] = (-0.0006735, -0.0023663, -0.0143416)
    noise_scale: tuple[float, ...] = (0.0037602, 0.0067417, 0.0260779)
    jitter: int = 7
    margin: int = 8
    skip: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("extinction_coeff", "psf_shape", "psf_loc", "psf_scale", "noise_shape", "noise_loc",
                     "noise_scale"):
            if len(getattr(self, name)) != 3:
                raise ConfigError(
                    f"[encoder.augment] {name}: need 3 values (g, r, z), got {getattr(self, name)}"
                )
        if len(self.ebv_lognorm) != 3:
            raise ConfigError("[encoder.augment] ebv_lognorm: need (shape, loc, scale)")
        lo, hi = self.scale_range if len(self.scale_range) == 2 else (0.0, -1.0)
        if not 0 < lo <= hi:
            raise ConfigError(
                f"[encoder.augment] scale_range: need (low, high) with 0 < low <= high, got "
                f"{self.scale_range}"
            )
        unknown = set(self.skip) - set(SKIPPABLE)
        if unknown:
            raise ConfigError(
                f"[encoder.augment] skip: unknown {sorted(unknown)}; known: {', '.join(SKIPPABLE)}"
            )
        if self.jitter < 0 or self.margin < 0:
            raise ConfigError("[encoder.augment] jitter and margin must be >= 0 pixels")


SKIPPABLE = ("redden", "fliprotate", "rescale", "psfblur", "jitter", "noise")


@dataclass(frozen=True)
class EncoderConfig:
    """Everything that defines one self-supervised training run (stored in every checkpoint).

    Attributes:
        preset: the preset these values started from (``resnet50`` or ``small``); names the encoder version.
        backbone: ``resnet50`` (torchvision, 2048-d pooled) or ``resnet18_narrow`` (see
            :mod:`lensdb.encoder.backbones`).
        width: channels of the first stage of ``resnet18_narrow`` (64 is a standard ResNet18); ignored for
            resnet50.
        crop: network input size, pixels (centre crop at inference, jittered crop in training).
        head_hidden, head_dim: MLP projection head sizes (2048-d representation -> hidden -> head_dim).
        queue_size: negatives kept in the MoCo queue.
        temperature: InfoNCE temperature.
        momentum: key-encoder exponential moving average factor per step.
        bn_splits: with one process, the key batch is shuffled and run as this many BatchNorm groups, which
            stands in for shuffle-BN across GPUs (a query and its key never share batch statistics); under DDP
            the keys are shuffled across processes instead and this is ignored.
        lr, lr_batch: peak SGD learning rate for a global batch of ``lr_batch`` images; a run uses
            ``lr * batch_size * processes / lr_batch`` (the linear scaling rule), warms up linearly over
            ``warmup_steps`` and decays to 0 on a per-step cosine. The paper's 0.24 is for 8 GPUs x 256.
        sgd_momentum, weight_decay: SGD settings.
        batch_size: images per process (per GPU) per step.
        epochs: passes over the training selection.
        precision: ``bf16`` autocast on CUDA (ignored on CPU) or ``fp32``.
        survey, mag_z_max, mag_bin_width, max_objects: the training selection (south, mag_z < 20, uniform in
            mag_z in bins of this width, at most this many objects; None = as many as uniformity allows, see
            :func:`lensdb.encoder.data.select_training_sample`).
        seed: seeds the initial weights, the selection, the data order and every augmentation draw.
        num_workers: DataLoader processes reading shards (0 = in the training process).
        checkpoint_every: steps between checkpoints (also written at each epoch end).
        log_every: steps between log lines.
        whiten_sample: when training completes, fit the representation's whitening (:mod:`lensdb.encoder.whitening`) on
            the vectors of this many objects drawn at random from all rows of the training shards, and keep it in
            the checkpoint; 0 = no whitening (vectors are the backbone's output as is).
        whiten_shrinkage: the whitening's shrinkage, a fraction of the mean eigenvalue added to each one.
        orientations: 1, or 8 to average each object's vector over its 8 orientations (rotations by 90 degrees x
            flips) at embed time (:mod:`lensdb.encoder.orientation`); an inference setting, part of the encoder
            version, and the whitening is fitted on the vectors it gives.
        time_budget_s: train for this many seconds of wall-clock time rather than ``epochs`` (None = by epochs):
            the learning rate follows the elapsed fraction of the budget, the run stops when the budget is spent and
            a resumed run gets what is left of it (:mod:`lensdb.encoder.train`).
        augment: the augmentation constants.
    """

    preset: str = "resnet50"
    backbone: Literal["resnet50", "resnet18_narrow"] = "resnet50"
    width: int = 64
    crop: int = 96
    head_hidden: int = 2048
    head_dim: int = 128
    queue_size: int = 65536
    temperature: float = 0.2
    momentum: float = 0.996
    bn_splits: int = 8
    lr: float = 0.24
    lr_batch: int = 2048
    sgd_momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 0
    batch_size: int = 256
    epochs: int = 100
    precision: Literal["fp32", "bf16"] = "bf16"
    survey: str = "south"
    mag_z_max: float = 20.0
    mag_bin_width: float = 0.1
    max_objects: int | None = None
    seed: int = 0
    num_workers: int = 4
    checkpoint_every: int = 500
    log_every: int = 10
    whiten_sample: int = 20000
    whiten_shrinkage: float = 0.1
    orientations: int = 1
    time_budget_s: float | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        positive = (
            "width",
            "crop",
            "head_hidden",
            "head_dim",
            "queue_size",
            "bn_splits",
            "lr_batch",
            "batch_size",
            "epochs",
            "checkpoint_every",
            "log_every",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"[encoder] {name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"[encoder] momentum must lie in [0, 1), got {self.momentum}")
        if self.temperature <= 0 or self.lr <= 0:
            raise ConfigError("[encoder] temperature and lr must be > 0")
        if self.whiten_sample < 0 or self.whiten_shrinkage <= 0:
            raise ConfigError("[encoder] whiten_sample must be >= 0 (0 = no whitening) and whiten_shrinkage > 0")
        if self.max_objects is not None and self.max_objects <= 0:
            raise ConfigError("[encoder] max_objects must be > 0 when given")
        if self.orientations not in ORIENTATION_CHOICES:
            raise ConfigError(f"[encoder] orientations must be 1 (no averaging) or 8 (rotations by 90 degrees x "
                              f"flips), got {self.orientations!r}")
        if self.time_budget_s is not None and not 0 < self.time_budget_s < float("inf"):
            raise ConfigError(f"[encoder] time_budget_s must be a positive number of seconds (or unset to train by "
                              f"epochs), got {self.time_budget_s!r}")

    @property
    def embed_dim(self) -> int:
        """Width of the downstream representation (always :data:`EMBED_DIM`)."""
        return EMBED_DIM

    @property
    def min_cutout(self) -> int:
        """Smallest square cutout the training pipeline accepts, pixels (crop plus jitter on both sides)."""
        return self.crop + 2 * self.augment.jitter

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples as lists) for checkpoints and JSON."""
        out = dataclasses.asdict(self)
        out["augment"] = {k: list(v) if isinstance(v, tuple) else v for k, v in out["augment"].items()}
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EncoderConfig:
        """Inverse of :meth:`to_dict`, type-checked like the config file (ConfigError on a bad key)."""
        values = dict(values)
        augment = load_section(
            AugmentConfig, None, "encoder.augment", **dict(values.pop("augment", {}) or {})
        )
        return load_section(cls, None, "encoder", augment=augment, **values)


PRESETS: dict[str, EncoderConfig] = {
    "resnet50": EncoderConfig(),
    "small": EncoderConfig(
        preset="small",
        backbone="resnet18_narrow",
        width=16,
        crop=48,
        queue_size=1024,
        temperature=0.1,
        momentum=0.99,
        bn_splits=4,
        lr=0.12,
        lr_batch=256,
        batch_size=128,
        epochs=36,
        precision="fp32",
        num_workers=0,
        warmup_steps=20,
        checkpoint_every=100,
        orientations=8,
    ),
}


def resolve_config(
    settings: Settings | None = None, preset: str | None = None, **flags: Any
) -> EncoderConfig:
    """The encoder configuration: preset < the config file's ``[encoder]`` section < flags.

    Args:
        settings: LensDB settings whose ``sections`` may hold ``[encoder]`` and ``[encoder.augment]``.
        preset: preset name; else the section's ``preset``; else ``resnet50``.
        **flags: :class:`EncoderConfig` fields (``None`` = not given); ``augment`` may be a dict of overrides.

    Raises:
        ConfigError: unknown preset or key, or a value of the wrong type.
    """
    section = dict(settings.sections.get("encoder", {})) if settings else {}
    augment_section = dict(section.pop("augment", {}) or {})
    augment_flags = dict(flags.pop("augment", None) or {})
    name = preset or flags.pop("preset", None) or section.get("preset") or "resnet50"
    section.pop("preset", None)
    flags.pop("preset", None)
    if name not in PRESETS:
        raise ConfigError(f"[encoder] preset {name!r} is not one of {', '.join(PRESETS)}")
    base = PRESETS[name].to_dict()
    augment_values = {**base.pop("augment"), **augment_section, **augment_flags}
    values = {**base, **section, **{k: v for k, v in flags.items() if v is not None}}
    values["augment"] = augment_values
    return EncoderConfig.from_dict(values)
