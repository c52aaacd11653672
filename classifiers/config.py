"""Typed settings of the classifiers: ``[probe]`` and ``[finetune]`` sections of the config file, then flags.

Defaults are the paper's protocol (Stein et al. 2021, Sections 3.3 and 4.2): training at 1:4000, validation at
1:10,000, lenses split 70/30, sources from the south with mag_z < 20, model selection by TP@N with N scaled from
1139 per 4.85 million validation objects; fine-tuning with SGD, lr 0.001 (backbone) / 0.01 (head), batch 512,
5 % lenses per batch.

    [probe]
    ratio = 4000
    survey = "south"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lensdb.classifiers.sampling import NEAR_LENS_ARCSEC, PAPER_RATIOS
from lensdb.classifiers.selection import C_GRID, FOLDS
from lensdb.core.config import Settings, load_section
from lensdb.core.errors import InvalidInput


@dataclass(frozen=True)
class SetsOptions:
    """How the training and validation sets are drawn (shared by the probe and fine-tuning).

    Attributes:
        ratio: non-lenses per lens of the training set of the stored model.
        ratios: the ratios a sweep trains (nested sets).
        val_ratio: non-lenses per lens in validation (the largest the data allow when they cannot).
        val_fraction: share of the known lenses held out for validation.
        seed: seeds the lens split and the non-lens draw.
        survey: source survey (``south``/``north``; ``None`` = both).
        mag_z_max: sources with mag_z below this, AB mag (``None`` = no cut).
        label_sets: lens lists to train on (empty = every imported list).
        use_grades: graded lenses as positives, graded false positives as hard negatives.
        near_radius_arcsec: sources this close to a graded lens are never non-lenses.
        top_n: N of TP@N (``None`` = 1139 scaled by the validation size).
    """

    ratio: int = 4000
    ratios: tuple[int, ...] = PAPER_RATIOS
    val_ratio: int = 10_000
    val_fraction: float = 0.3
    seed: int = 0
    survey: str | None = "south"
    mag_z_max: float | None = 20.0
    label_sets: tuple[str, ...] = ()
    use_grades: bool = True
    near_radius_arcsec: float = NEAR_LENS_ARCSEC
    top_n: int | None = None

    def __post_init__(self) -> None:
        if self.survey not in (None, "south", "north"):
            raise InvalidInput(f"survey must be south, north or None (both); got {self.survey!r}")
        if self.ratio < 1 or self.val_ratio < 1 or any(r < 1 for r in self.ratios):
            raise InvalidInput("ratios are positive numbers of non-lenses per lens")
        if not 0.0 < self.val_fraction < 1.0:
            raise InvalidInput(f"val_fraction must lie in (0, 1); got {self.val_fraction}")
        if self.top_n is not None and self.top_n < 1:
            raise InvalidInput(f"top_n must be at least 1; got {self.top_n}")

    def pool_kwargs(self) -> dict:
        return {"label_sets": tuple(self.label_sets), "use_grades": self.use_grades, "survey": self.survey,
                "mag_z_max": self.mag_z_max, "near_radius_arcsec": self.near_radius_arcsec}

    def set_kwargs(self, sweep: bool = False) -> dict:
        ratios = tuple(sorted(set(self.ratios) | {self.ratio})) if sweep else (self.ratio,)
        return {"ratios": ratios, "val_ratio": self.val_ratio, "val_fraction": self.val_fraction, "seed": self.seed}


@dataclass(frozen=True)
class ProbeConfig(SetsOptions):
    """The linear probe (see :mod:`lensdb.classifiers.probe`).

    Attributes:
        encoder_version: whose vectors to train on (required: from here or ``--encoder-version``).
        protocol: ``validated`` (class-balanced logistic regression, the penalty chosen by cross-validated average
            precision over ``c_grid``, refitted on every known lens: :mod:`lensdb.classifiers.selection`) or
            ``paper`` (the paper's protocol: 70/30 lens split, LBFGS epochs kept by TP@N, meant for validation
            sets of millions; a ratio sweep always uses it).
        c_grid: inverse penalties tried by ``validated`` (scikit-learn's ``C``; ``l2 = 1 / (C n)``).
        cv_folds: folds of its cross-validation.
        epochs: LBFGS steps, each followed by a validation TP@N.
        max_iter: LBFGS iterations per epoch.
        history_size: LBFGS curvature pairs kept.
        l2: L2 penalty on the weights in ``mean BCE + l2/2 |w|^2`` (0 = the paper's plain BCE).
        patience: stop after this many epochs without a better TP@N (``None`` = run all epochs).
        feature_dtype: ``auto`` (float32 when it fits ``memory_gb``, else float16), ``float32`` or ``float16``.
        memory_gb: memory budget of the training features, GiB; past it they are streamed from a file.
        block_rows: rows per compute block (``None``: cache-sized, 512 rows of 2048-d).
        threads: torch CPU threads (``None`` = torch's default).
    """

    encoder_version: str | None = None
    protocol: Literal["validated", "paper"] = "validated"
    c_grid: tuple[float, ...] = C_GRID
    cv_folds: int = FOLDS
    epochs: int = 50
    max_iter: int = 5
    history_size: int = 10
    l2: float = 0.0
    patience: int | None = 8
    feature_dtype: Literal["auto", "float32", "float16"] = "auto"
    memory_gb: float = 8.0
    block_rows: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.epochs < 1 or self.max_iter < 1 or (self.block_rows is not None and self.block_rows < 1)
                or self.memory_gb <= 0 or self.l2 < 0):
            raise InvalidInput("[probe] epochs, max_iter, block_rows and memory_gb must be positive, l2 >= 0")
        if self.protocol not in ("validated", "paper"):
            raise InvalidInput(f"[probe] protocol must be validated or paper; got {self.protocol!r}")
        if not self.c_grid or any(not float(c) > 0 for c in self.c_grid) or self.cv_folds < 2:
            raise InvalidInput("[probe] c_grid needs positive values and cv_folds >= 2")

    @classmethod
    def from_settings(cls, settings: Settings | None, **overrides) -> ProbeConfig:
        return load_section(cls, settings, "probe", **overrides)


@dataclass(frozen=True)
class FinetuneConfig(SetsOptions):
    """Fine-tuning the encoder with a linear head (see :mod:`lensdb.classifiers.finetune`).

    Attributes:
        checkpoint: the MoCo checkpoint to start from (``None``: ``<data-dir>/encoder/checkpoint.pt``).
        positive_fraction: expected share of lenses per batch; lenses are drawn that much more often.
        epochs: passes over the non-lenses (each seen once per epoch).
        batch_size: images per step.
        lr_backbone, lr_head: SGD learning rates of the encoder and of the head.
        momentum, weight_decay: SGD settings.
        augment: apply the training augmentations (the paper does).
        device: ``cpu``, ``cuda`` or ``cuda:N`` (``None``: a GPU when present).
        max_cache_gb: budget of the in-memory cutout cache, GiB.
        score_batch: images per forward pass when scoring the survey.
        max_steps: stop each epoch after this many steps (smoke runs; ``None`` = whole epochs).
        threads: torch CPU threads.
    """

    checkpoint: str | None = None
    positive_fraction: float = 0.05
    epochs: int = 40
    batch_size: int = 512
    lr_backbone: float = 0.001
    lr_head: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    augment: bool = True
    device: str | None = None
    max_cache_gb: float = 4.0
    score_batch: int = 256
    max_steps: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.positive_fraction < 1.0:
            raise InvalidInput(f"positive_fraction must lie in (0, 1); got {self.positive_fraction}")
        if self.epochs < 1 or self.batch_size < 2 or self.lr_backbone < 0 or self.lr_head <= 0:
            raise InvalidInput("[finetune] epochs >= 1, batch_size >= 2, lr_backbone >= 0, lr_head > 0")

    @classmethod
    def from_settings(cls, settings: Settings | None, **overrides) -> FinetuneConfig:
        return load_section(cls, settings, "finetune", **overrides)
