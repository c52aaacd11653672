"""Self-supervised training: one process, or one per GPU under torchrun (DDP).

Single process::

    lensdb encoder train shards/*.h5 --preset small

Several GPUs (each process reads RANK, WORLD_SIZE, LOCAL_RANK from torchrun)::

    torchrun --nproc_per_node 8 -m lensdb.cli encoder train shards/*.h5 --preset resnet50

Augmentations run batched on the training device, after the DataLoader (which only reads shards). Every random
draw (augmentations, key shuffles) comes from a generator seeded by (seed, rank, step) and the data order from
(seed, epoch), so a run resumed from a checkpoint continues exactly as an uninterrupted one would.

To a wall-clock budget (``time_budget_s``, ``lensdb encoder train --time-budget SECONDS``) rather than a number of
epochs: the run takes the same time on any machine and does the steps that time allows. The learning rate warms up
over ``warmup_steps`` as usual, then follows a cosine of the *elapsed share of the budget* (time spent since the run
began, setup included, summed over resumed parts: the checkpoint keeps it), so the schedule ends at 0 whatever the
speed of the machine or its load. A step is started only when the longest of the recent steps would still fit in
the budget. Such a run is not bit-reproducible (how many steps fit depends on the machine), an epoch-count run still is.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from lensdb.core.errors import Conflict, InvalidInput
from lensdb.encoder.checkpoint import Checkpoint, load_checkpoint, load_state, save_checkpoint
from lensdb.encoder.config import EncoderConfig
from lensdb.encoder.data import (
    EpochBatchSampler,
    ShardImages,
    TrainingSelection,
    collate_batch,
    select_training_sample,
)
from lensdb.encoder.distributed import DistContext
from lensdb.encoder.moco import MoCo
from lensdb.encoder.transforms import training_pipeline
from lensdb.encoder.whitening_fit import whiten_checkpoint

log = logging.getLogger("lensdb.encoder")

CHECKPOINT_NAME = "checkpoint.pt"
#: Config fields a resumed run may change; anything else would make it a different run.
RESUMABLE = frozenset({"epochs", "num_workers", "checkpoint_every", "log_every", "whiten_sample",
                       "whiten_shrinkage", "orientations", "time_budget_s"})


@dataclass
class TrainResult:
    """What a training run produced: checkpoint, version, progress, the (unwrapped) model, this process's rank."""

    checkpoint: Path
    version: str
    step: int
    complete: bool
    losses: list[float]
    model: MoCo
    rank: int = 0


def lr_at(config: EncoderConfig, step: int, total: int, world: int = 1) -> float:
    """Learning rate of step ``step`` (0-based) with ``world`` processes: the peak ``lr`` scaled to the global
    batch, reached by a linear warm-up, then a cosine decay to 0 at step ``total``."""
    peak = config.lr * config.batch_size * world / config.lr_batch
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    span = max(1, total - config.warmup_steps)
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(1.0, (step - config.warmup_steps) / span)))


def lr_at_time(config: EncoderConfig, step: int, spent: float, world: int = 1) -> float:
    """Learning rate of a run to a time budget: the linear warm-up over ``warmup_steps`` steps, then a cosine decay
    over ``spent``, the elapsed share of the budget (0..1)."""
    peak = config.lr * config.batch_size * world / config.lr_batch
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(1.0, max(0.0, spent))))


class BudgetClock:
    """Wall-clock time of a run to a budget: seconds spent in earlier (resumed) parts plus this one's, and whether
    one more step fits (the longest of the last 20 steps' durations, 0 before the first step)."""

    def __init__(self, budget: float | None, before: float = 0.0, started: float | None = None):
        self.budget, self.before = budget, float(before)
        self.started = time.perf_counter() if started is None else started
        self.durations: list[float] = []
        self.last = self.started

    def begin(self) -> None:
        """The steps start now (the setup before them is spent time, but not a step's duration)."""
        self.last = time.perf_counter()

    def elapsed(self) -> float:
        return self.before + time.perf_counter() - self.started

    def spent(self) -> float:
        """Elapsed share of the budget, 0..1 (0 without a budget)."""
        return min(1.0, self.elapsed() / self.budget) if self.budget else 0.0

    def stepped(self) -> None:
        now = time.perf_counter()
        self.durations = [*self.durations[-19:], now - self.last]
        self.last = now

    def room_for_a_step(self) -> bool:
        expected = max(self.durations) if self.durations else 0.0  # the slowest recent step (those that also
        return self.elapsed() + expected <= self.budget              # checkpoint take longer): ends early, not late


def step_generator(seed: int, rank: int, step: int, device: torch.device) -> torch.Generator:
    """The generator of every random draw of one (rank, step), independent of all other pairs."""
    state = np.random.SeedSequence([seed, rank, step]).generate_state(2, np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state) & ((1 << 63) - 1))


def train(config: EncoderConfig, shards: list[str | Path], out_dir: str | Path, *,
          resume: str | Path | None = None, max_steps: int | None = None, device: str | None = None,
          progress: bool = True, threads: int | None = None, overrides: dict | None = None) -> TrainResult:
    """Train (or resume training) a MoCo v2 encoder; writes ``out_dir/checkpoint.pt``, a loss-curve PNG and
    logs.

    Args:
        config: the run's configuration (ignored on resume, where the checkpoint's is used).
        shards: HDF5 shards to select the training sample from (on resume: may be empty, the recorded ones are
            used).
        out_dir: folder for ``checkpoint.pt``, ``config.json``, ``train_log.jsonl`` and ``loss_curve.png``.
        resume: checkpoint to continue from.
        max_steps: stop after this many optimiser steps in total (checkpointing first), for tests and smoke
            runs.
        device: ``cpu``, ``cuda`` or ``cuda:N`` (default: this rank's GPU if there is one, else CPU).
        progress: show a tqdm bar (rank 0 only).
        threads: CPU threads per process (default: torch's choice, divided among the local processes under
            DDP).
        overrides: on resume, config fields the caller asked to change (only :data:`RESUMABLE` ones are
            allowed).

    Raises:
        Conflict: ``out_dir`` already holds a checkpoint and ``resume`` was not given; or a resume changes the
            run.
        InvalidInput: the selection is smaller than one global batch, or cutouts are too small for the crop.
    """
    out_dir = Path(out_dir)
    called = time.perf_counter()  # a budget counts the setup (reading the selection, the checkpoint) too
    ctx = DistContext.start(device, threads)
    try:
        return _train(ctx, config, shards, out_dir, resume, max_steps, progress, overrides or {}, called)
    finally:
        ctx.stop()


def _train(ctx: DistContext, config: EncoderConfig, shards: list, out_dir: Path, resume, max_steps, progress,
           overrides, called: float) -> TrainResult:
    ckpt_path = out_dir / CHECKPOINT_NAME
    if resume is not None:
        ckpt = load_checkpoint(resume)
        config = _resumed_config(ckpt.config, overrides)
        selection = TrainingSelection.from_state(ckpt.selection)
        selection = _check_shards(selection, shards)
        selection.verify()
    else:
        if ckpt_path.exists():
            raise Conflict(f"{ckpt_path} exists; pass --resume to continue that run or choose another --out")
        ckpt = None
        selection = select_training_sample(shards, config.survey, config.mag_z_max, config.mag_bin_width,
                                           config.max_objects, config.seed)
    dataset = ShardImages(selection)
    if dataset.size < config.min_cutout:
        raise InvalidInput(f"cutouts of {dataset.size} px are too small for crop {config.crop} with jitter "
                           f"{config.augment.jitter}: need {config.min_cutout} px")
    per_epoch = EpochBatchSampler(len(dataset), config.batch_size, config.seed, 0, world=ctx.world).steps()
    if per_epoch == 0:
        raise InvalidInput(
            f"the training selection has {len(dataset)} objects, fewer than one global batch of "
            f"{config.batch_size * ctx.world}; lower --batch-size or add shards"
        )
    budget = config.time_budget_s
    clock = BudgetClock(budget, ckpt.elapsed_s if ckpt is not None else 0.0, called)
    total = None if budget else per_epoch * config.epochs  # steps; None: as many as the budget allows
    if ctx.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        length = (f"for {budget:g} s of wall-clock time ({clock.before:.0f} s spent before)" if budget
                  else f"{per_epoch} steps/epoch x {config.epochs} epochs")
        log.info("training on %d objects (%s), %s, world %d, device %s", len(dataset), selection.criteria, length,
                 ctx.world, ctx.device)

    torch.manual_seed(config.seed)  # same initial weights and queue on every rank
    model = MoCo.from_config(config)
    optimizer = torch.optim.SGD(
        model.query_parameters(), lr=config.lr, momentum=config.sgd_momentum, weight_decay=config.weight_decay
    )
    step, losses = 0, []
    if ckpt is not None:
        load_state(model, ckpt.model, f"checkpoint {resume}")
        if ckpt.optimizer is None:
            raise InvalidInput(f"checkpoint {resume} holds no optimiser state (a weights-only export)")
        optimizer.load_state_dict(ckpt.optimizer)
        step, losses = ckpt.step, list(ckpt.losses)
    model.to(ctx.device)
    _move_optimizer(optimizer, ctx.device)
    if ctx.device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    net = ctx.wrap(model)
    pipeline = training_pipeline(config)
    limit = total if total is not None else math.inf
    stop_at = min(limit, max_steps) if max_steps else limit
    run = _Run(ctx, config, selection, model, optimizer, out_dir, losses, total, clock)
    run.version = ckpt.version if ckpt is not None else ""

    def budget_left() -> bool:
        """Whether one more step fits in the budget; under DDP every process stops when any one would."""
        if budget is None:
            return True
        stop = torch.tensor(0.0 if clock.room_for_a_step() else 1.0, device=ctx.device)
        return ctx.mean(stop) == 0.0

    from tqdm.auto import tqdm  # imported here: the CLI's --help should not pay for it

    bar = tqdm(
        total=None if math.isinf(stop_at) else stop_at, initial=step, disable=not progress or ctx.rank != 0,
        unit="step", dynamic_ncols=True
    )
    amp = ctx.device.type == "cuda" and config.precision == "bf16"
    started, seen = time.perf_counter(), 0
    complete = ckpt.complete if ckpt is not None and ckpt.step == step and budget is None else False
    # A complete run to a budget resumed with the same budget has spent it (a longer budget continues it).
    spent_before = ckpt is not None and ckpt.complete and budget is not None and ckpt.config.time_budget_s == budget
    go_on = not spent_before and budget_left()
    clock.begin()
    try:
        while step < stop_at and go_on:
            epoch, start = divmod(step, per_epoch)
            sampler = EpochBatchSampler(
                len(dataset), config.batch_size, config.seed, epoch, ctx.rank, ctx.world, start
            )
            loader = DataLoader(
                dataset,
                batch_sampler=sampler,
                collate_fn=collate_batch,
                num_workers=config.num_workers,
                pin_memory=ctx.device.type == "cuda",
            )
            for images, ebv in loader:
                lr = (lr_at(config, step, total, ctx.world) if budget is None
                      else lr_at_time(config, step, clock.spent(), ctx.world))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                gen = step_generator(config.seed, ctx.rank, step, ctx.device)
                images, ebv = images.to(ctx.device, non_blocking=True), ebv.to(ctx.device, non_blocking=True)
                with torch.no_grad():
                    views = [pipeline(images, ebv=ebv, generator=gen) for _ in range(2)]
                if ctx.device.type == "cuda":
                    views = [v.contiguous(memory_format=torch.channels_last) for v in views]
                with torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=amp):
                    out = net(views[0], views[1], generator=gen)
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                optimizer.step()
                step += 1
                seen += images.shape[0] * ctx.world
                losses.append(ctx.mean(out.loss.detach()))
                clock.stepped()
                go_on = budget_left()
                last = step >= stop_at or not go_on
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}", epoch=epoch, refresh=False)
                if step % config.log_every == 0 or last:
                    run.log_line(step, out.logits, seen / (time.perf_counter() - started))
                if step % config.checkpoint_every == 0 or step % per_epoch == 0 or last:
                    complete = step == total if budget is None else not go_on
                    run.save(step, complete=complete)
                    if not last and not budget_left():  # the checkpoint took the time of the next step
                        go_on, last, complete = False, True, True
                        run.save(step, complete=True)
                if last:
                    break
    except KeyboardInterrupt:
        if ctx.world == 1 and step > (ckpt.step if ckpt else 0):
            run.save(step, complete=False)
            log.warning("interrupted: progress saved at step %d in %s", step, ckpt_path)
        raise
    finally:
        bar.close()
    ctx.barrier()
    if budget is not None and not go_on and not complete:  # resumed with the budget already spent
        complete = True
        if ckpt is None or not ckpt.complete:
            run.save(step, complete=True)
    elif budget is None:
        complete = step == total
    # A run that trained now wrote a checkpoint without a whitening; a resumed complete one may have it already.
    needs_whitening = ckpt is None or ckpt.whitening is None or ckpt.step < step
    if complete and config.whiten_sample > 0 and needs_whitening:
        if ctx.rank == 0:
            run.version = whiten_checkpoint(ckpt_path, [s.path for s in selection.shards], config.whiten_sample,
                                            config.whiten_shrinkage, device=ctx.device, seed=config.seed)
        ctx.barrier()
    return TrainResult(ckpt_path, run.version, step, complete, losses, model, ctx.rank)


class _Run:
    """Checkpoints, logs and plots of one training run (written by rank 0 only)."""

    def __init__(
        self, ctx, config, selection, model, optimizer, out_dir: Path, losses: list[float], total: int | None,
        clock: BudgetClock,
    ):
        self.ctx, self.config, self.selection, self.model, self.optimizer = (
            ctx,
            config,
            selection,
            model,
            optimizer,
        )
        self.out_dir, self.losses, self.total, self.version, self.clock = out_dir, losses, total, "", clock

    def save(self, step: int, complete: bool) -> None:
        self.ctx.average_buffers(self.model)  # every rank, so that all of them keep identical models
        if self.ctx.rank != 0:
            return
        plot_losses(self.losses, self.out_dir / "loss_curve.png", self.total)  # first: the checkpoint records the time
        ckpt = Checkpoint(
            self.config,
            self.selection.to_state(),
            self.model.state_dict(),
            self.optimizer.state_dict(),
            step,
            self.losses,
            complete,
            meta={"world_size": self.ctx.world, "selection_digest": self.selection.digest},
            elapsed_s=self.clock.elapsed(),
        )
        self.version = save_checkpoint(self.out_dir / CHECKPOINT_NAME, ckpt)
        of = f"/{self.total}" if self.total is not None else f" ({self.clock.elapsed():.0f} s)"
        log.info("step %d%s: checkpoint %s (version %s)", step, of, self.out_dir / CHECKPOINT_NAME, self.version)

    def log_line(self, step: int, logits: torch.Tensor, images_per_s: float) -> None:
        if self.ctx.rank != 0:
            return
        top1 = float((logits.argmax(dim=1) == 0).float().mean())  # how often the positive key wins
        window = self.losses[-self.config.log_every :]
        line = {
            "step": step,
            "loss": sum(window) / len(window),
            "top1": top1,
            "images_per_s": round(images_per_s, 1),
            "elapsed_s": round(self.clock.elapsed(), 2),
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        with open(self.out_dir / "train_log.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
        log.debug("%s", line)


def plot_losses(losses: list[float], path: Path, total: int | None = None) -> None:
    """Per-step loss and its running mean against step, as a PNG (matplotlib Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if losses:
        y = np.asarray(losses)
        ax.plot(np.arange(1, y.size + 1), y, lw=0.5, alpha=0.4, label="per step")
        w = max(1, min(50, y.size // 10))
        smooth = np.convolve(y, np.ones(w) / w, mode="valid")
        ax.plot(np.arange(w, y.size + 1), smooth, lw=1.5, label=f"mean of {w}")
        ax.set_xlim(0, total or y.size)
        ax.legend()
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("InfoNCE loss")
    ax.set_title("MoCo v2 training loss")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _resumed_config(stored: EncoderConfig, overrides: dict) -> EncoderConfig:
    changed = {k: v for k, v in overrides.items() if v is not None and getattr(stored, k, v) != v}
    bad = sorted(set(changed) - RESUMABLE)
    if bad:
        raise Conflict(
            f"cannot change {', '.join(bad)} when resuming (the checkpoint has "
            f"{', '.join(f'{k}={getattr(stored, k)!r}' for k in bad)}); start a new run instead"
        )
    return EncoderConfig.from_dict({**stored.to_dict(), **changed})


def _check_shards(selection: TrainingSelection, shards: list) -> TrainingSelection:
    """The selection, its shards found where they are given: the same files (name and size) at another place (the
    data moved) are followed; other files are refused. Without shards, the recorded paths are used."""
    if not shards:
        return selection
    given: dict[tuple[str, int], str] = {}
    for item in shards:
        path = Path(item).resolve()
        given[(path.name, path.stat().st_size if path.is_file() else -1)] = str(path)
    recorded = [(Path(s.path).name, s.size_bytes) for s in selection.shards]
    if sorted(given) != sorted(recorded):
        raise Conflict(
            "the shards given differ from those the checkpoint was trained on (by file name and size); give the same "
            "shards, at their new place if the data moved, or none (the recorded paths are used)"
        )
    moved = tuple(dataclasses.replace(s, path=given[(Path(s.path).name, s.size_bytes)]) for s in selection.shards)
    return dataclasses.replace(selection, shards=moved)


def _move_optimizer(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    for state in optimizer.state.values():
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                state[k] = v.to(device)
