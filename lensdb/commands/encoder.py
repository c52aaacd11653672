"""``lensdb encoder``: train the self-supervised encoder and inspect its checkpoints."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger("lensdb.encoder")

TRAIN_HELP = """\
Train a MoCo v2 encoder on HDF5 survey shards (self-supervised, no labels).

Reads:  SHARDS: images (N,3,S,S) nanomaggies g,r,z with ebv, release/brickid/objid, mag_z or flux,
        survey or release. The training sample is the paper's: south, mag_z < 20, uniform in mag_z.
Writes: OUT/checkpoint.pt (weights, optimiser, config, training selection, encoder version),
        OUT/config.json, OUT/train_log.jsonl, OUT/loss_curve.png. Prints the encoder version
        (<preset>_<hash>) at the end.

Presets: resnet50 = the paper's (ResNet50, queue 65536, T 0.2, momentum 0.996, SGD lr 0.24 for
8 GPUs x 256, batch 256 per GPU, crop 96); small = a narrow ResNet18 on 48-px crops for CPUs. Flags override
the preset and the [encoder] section of the config file.
Several GPUs: torchrun --nproc_per_node N -m lensdb.cli encoder train ... (batch is per GPU).
Interrupted runs resume with --resume (same OUT).
--time-budget SECONDS trains to a wall-clock budget instead of a number of epochs (the same duration on
any machine; a faster one does more steps); the [encoder] key is time_budget_s.
When training completes, the representation's whitening is fitted on 20,000 random objects of SHARDS and
kept in the checkpoint (see lensdb encoder whiten --help); --whiten-sample 0 leaves it out.
"""

WHITEN_HELP = """\
Fit (or re-fit) the whitening of an encoder's 2048-d representation and write it into the checkpoint.

Contrastive training leaves the representation dimensionally collapsed (on the simulated survey three
directions hold 84 % of the variance), so cosine similarity sees little beyond brightness, size and colour.
Whitening with shrinkage rescales every direction by 1 / sqrt(eigenvalue + s * mean eigenvalue); it is
fitted without labels on a random sample of SHARDS and applied by lensdb embed to every vector.

Reads:  CKPT and SHARDS (HDF5 images). Writes: CKPT, atomically, with the whitening; prints the new encoder
        version. A whitened encoder is a new version: lensdb embed writes it to its own collection.
"""


def register(sub) -> None:
    """Add ``encoder train`` and ``encoder info`` to the lensdb parser."""
    enc = sub.add_parser("encoder", help="train the self-supervised encoder, inspect checkpoints",
                         description="Self-supervised encoder (MoCo v2) commands.")
    cmds = enc.add_subparsers(dest="encoder_command", metavar="ACTION", required=True)

    p = cmds.add_parser("train", help="train (or resume) a MoCo v2 encoder on shards", description=TRAIN_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shards", nargs="*", metavar="SHARDS", help="HDF5 shard files (optional with --resume)")
    p.add_argument("--preset", choices=("small", "resnet50"),
                   help="starting configuration (default resnet50, or [encoder] preset in the config file)")
    p.add_argument("--epochs", type=int, help="passes over the training sample (resnet50: 100, small: 36)")
    p.add_argument("--batch-size", type=int, help="images per process per step (resnet50: 256, small: 128)")
    p.add_argument("--lr", type=float, help="peak SGD learning rate for a global batch of lr_batch images, "
                   "scaled linearly to the actual one (resnet50: 0.24 per 2048, small: 0.12 per 256)")
    p.add_argument("--queue-size", type=int, help="MoCo negatives (resnet50: 65536, small: 1024)")
    p.add_argument("--max-objects", type=int, help="cap on the training sample (default: median-bin quota)")
    p.add_argument("--workers", type=int, dest="num_workers", help="DataLoader reader processes")
    p.add_argument("--seed", type=int, help="seed of weights, sample, order and augmentations (default 0)")
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder (default <data-dir>/encoder)")
    p.add_argument("--resume", nargs="?", const=True, metavar="CKPT",
                   help="continue from CKPT (default OUT/checkpoint.pt); config and sample come from it; "
                   "put any SHARDS before this flag")
    p.add_argument("--max-steps", type=int, help="stop after this many steps in total (smoke tests)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: this process's GPU if any, else cpu)")
    p.add_argument("--threads", type=int, help="CPU threads per process (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--whiten-sample", type=int,
                   help="objects the final whitening is fitted on (default 20000; 0 = no whitening)")
    p.add_argument("--time-budget", type=float, dest="time_budget_s", metavar="SECONDS",
                   help="train for this many seconds of wall-clock time instead of --epochs: the learning rate "
                        "follows the elapsed share of the budget and the run stops when it is spent (a resumed run "
                        "gets what is left); the whitening fit comes after")
    p.add_argument("--orientations", type=int, choices=(1, 8),
                   help="vectors averaged over 8 orientations (rotations by 90 degrees x flips) at embed time, or 1")
    p.set_defaults(func=run_train)

    w = cmds.add_parser("whiten", help="fit the representation's whitening into a checkpoint",
                        description=WHITEN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    w.add_argument("checkpoint", type=Path, metavar="CKPT")
    w.add_argument("shards", nargs="+", metavar="SHARDS", help="HDF5 shards to draw the sample from")
    w.add_argument("--sample", type=int, default=20000, help="objects drawn at random (default 20000)")
    w.add_argument("--shrinkage", type=float, default=0.1,
                   help="added to each eigenvalue, as a fraction of their mean (default 0.1)")
    w.add_argument("--seed", type=int, default=0, help="seed of the random sample (default 0)")
    w.add_argument("--device", help="cpu, cuda or cuda:N (default: a GPU if there is one)")
    w.add_argument("--orientations", type=int, choices=(1, 8),
                   help="store this orientation averaging in the checkpoint (8: each vector the mean over the "
                        "rotations by 90 degrees x flips; 1: none) and fit the whitening on such vectors "
                        "(default: the checkpoint's)")
    w.set_defaults(func=run_whiten)

    i = cmds.add_parser("info", help="print a checkpoint's version, config, progress and training sample",
                        description="Print an encoder checkpoint's version, progress, config and training "
                        "sample as JSON. Reads CKPT; writes nothing.")
    i.add_argument("checkpoint", type=Path, metavar="CKPT")
    i.set_defaults(func=run_info)


@contextlib.contextmanager
def recorded_job(settings, kind: str, params: dict):
    """Record the command as a job of the catalogue (``lensdb jobs``; a killed run is marked failed there), from
    the first process only under torchrun. A catalogue without its schema, or out of reach (a training node that
    cannot see the database), records none, with a warning: training needs only the shards."""
    from lensdb.catalog.db import SchemaOutOfDate, make_engine, require_current
    from lensdb.catalog.jobs import job_scope
    from lensdb.core.errors import first_line

    if int(os.environ.get("RANK", "0")) != 0:
        yield None
        return
    engine = make_engine(settings.database_url)
    try:
        try:
            require_current(engine)
            usable = True
        except SchemaOutOfDate as exc:
            log.warning("no job recorded for this %s: %s", kind, exc)
            usable = False
        except Exception as exc:  # unreachable
            log.warning("no job recorded for this %s: the catalogue does not answer (%s)", kind, first_line(exc))
            usable = False
        if not usable:
            yield None
            return
        with job_scope(engine, kind, params) as job_id:
            yield job_id
    finally:
        engine.dispose()


def run_train(args: argparse.Namespace, settings) -> int:
    from lensdb.encoder.config import resolve_config
    from lensdb.encoder.train import CHECKPOINT_NAME, train

    out = args.out or settings.path("encoder")
    flags = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
             "queue_size": args.queue_size, "max_objects": args.max_objects,
             "num_workers": args.num_workers, "seed": args.seed, "whiten_sample": args.whiten_sample,
             "time_budget_s": args.time_budget_s, "orientations": args.orientations}
    resume = None
    if args.resume:
        resume = out / CHECKPOINT_NAME if args.resume is True else Path(args.resume)
        config = None
    else:
        if not args.shards:
            from lensdb.core.errors import InvalidInput

            raise InvalidInput("give at least one shard (or --resume to continue a run)")
        config = resolve_config(settings, args.preset, **flags)
    params = {"shards": [str(p) for p in args.shards], "out": str(out), "preset": args.preset,
              "resume": str(resume) if resume else None, "max_steps": args.max_steps, "device": args.device,
              **flags}
    with recorded_job(settings, "encoder-train", params):
        result = train(config, args.shards, out, resume=resume, max_steps=args.max_steps, device=args.device,
                       progress=not args.no_progress, threads=args.threads, overrides=flags)
    if result.rank == 0 and result.checkpoint.exists():
        state = "complete" if result.complete else f"stopped at step {result.step}"
        print(f"encoder {result.version}: {state}; checkpoint {result.checkpoint}")
    return 0


def run_whiten(args: argparse.Namespace, settings) -> int:
    import torch

    from lensdb.encoder.whitening_fit import whiten_checkpoint
    from lensdb.ingest.reader import find_shards

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    version = whiten_checkpoint(args.checkpoint, find_shards(args.shards, must_exist=True), args.sample, args.shrinkage,
                                device=device, seed=args.seed, orientations=args.orientations)
    print(f"encoder {version}: whitening fitted on {args.sample:,} objects at most; checkpoint {args.checkpoint}")
    return 0


def run_info(args: argparse.Namespace, settings) -> int:
    from lensdb.encoder.checkpoint import load_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    sel = ckpt.selection
    info = {
        "version": ckpt.version,
        "step": ckpt.step,
        "complete": ckpt.complete,
        "last_loss": ckpt.losses[-1] if ckpt.losses else None,
        "config": ckpt.config.to_dict(),
        "selection": {"digest": sel["digest"], "criteria": sel["criteria"],
                      "shards": [s["path"] for s in sel["shards"]]},
        "meta": ckpt.meta,
        "whitened": ckpt.whitening is not None,
    }
    print(json.dumps(info, indent=2))
    return 0
