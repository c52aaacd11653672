"""``lensdb probe train|score|list``, ``lensdb finetune`` and ``lensdb grade``: the classifier commands."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
from pathlib import Path

log = logging.getLogger("lensdb.classifiers")

SETS_HELP = """\
Sets (Stein et al. 2021, Sec. 3.3.1): known lenses (lens labels of the imported lists) split 70/30 into
training/validation by --seed; non-lenses drawn at random from the sources (default: south, mag_z < 20),
never a labelled or near_lens source (within 25.2 arcsec of a lens). Training sets at the ratios are
nested; validation is at 1:10,000 or the largest ratio the data allow (the output says which). Graded
lenses join training, graded false positives are hard negatives (--no-grades to ignore grades)."""

TRAIN_HELP = f"""\
Train a linear probe (logistic regression, BCE, full-batch LBFGS) on the stored unit vectors of one
encoder version, and store it in the database.

{SETS_HELP}

Model selection: the epoch with the most lenses in the top N of validation (N = 1139 scaled by the
validation size, or --top-n). Features are float32 in memory when they fit --memory-gb, else float16,
else streamed from a float16 file.
Reads:  labels and sources (database), vectors (Milvus collection of --encoder-version).
Writes: a 'probe' model row (weights, bias, hyper-parameters, metrics, training-set definition,
        encoder version); OUT/<model>.json (metrics, TP@N, precision@N, recall curve);
        OUT/<model>_scores.png (Fig. 5: sorted scores, inspection effort vs lenses found);
        with --sweep-ratios one probe per ratio and OUT/<model>_ratios.png (Fig. 4).
OUT defaults to <data-dir>/classifiers."""

SCORE_HELP = """\
Rank the survey (or the part passing the filters) by a stored model and record the ranking.

Probes: --mode search (default) finds the top N with one inner-product search whose query is the probe's
weight vector; --mode full streams every vector. Fine-tuned models run every catalogued image.
Reads:  the model (database), vectors (Milvus) or images (shards).
Writes: predictions (model, object, score = probability, rank 1 = best): the top N, or every object in
        scope with --write all; OUT/<model>_top<N>.tsv (rank, object_id, score, catalogue columns and an
        empty 'grade' column for 'lensdb grade --file'); OUT/<model>_sheets/*.png (5 x 100 cutouts per
        sheet in the Legacy Survey viewer stretch). N defaults to 10^4 per 42.5M objects (at least 500)."""

FINETUNE_HELP = f"""\
Fine-tune the encoder of a MoCo checkpoint with a linear head (Stein et al. 2021, Sec. 3.3.4): SGD, lr 0.001
backbone / 0.01 head, batch 512, lenses oversampled to ~5% of each batch, training augmentations on, the
epoch with the best validation TP@N kept. Then scores every catalogued image into predictions.

{SETS_HELP}

Reads:  the checkpoint, labels and sources (database), cutouts (shards); vectors of the checkpoint's
        encoder version when present, to train the frozen probe on the same sets for comparison.
Writes: OUT/finetune-<hash>.pt, a 'finetune' model row, OUT/<model>.json, OUT/<model>_scores.png,
        predictions, OUT/<model>_top<N>.tsv and PNG sheets. Runs on a GPU when present (--device)."""

GRADE_HELP = """\
Record visual grades of candidates: A (clear lens), B (probable lens) or not_lens (also N, no, x, fp).
Give OBJECT_ID=GRADE pairs, or --file with the TSV that 'lensdb probe score' wrote (fill its 'grade'
column; empty grades are skipped). Grades go to a grading set (default 'grades') under the author's name
(--author, default the login name), with the time and the model that surfaced the candidates: one grade per
grader per object, re-grading replaces only your own. The set's labels are the consensus of every grader
(mean of A = 3, B = 2, not = 0). The next 'lensdb probe train' uses them: consensus lenses as positives,
consensus non-lenses as hard negatives. The inspection page ('lensdb web') grades into the same store."""


def register(sub) -> None:
    """Add ``probe``, ``finetune`` and ``grade`` to the lensdb parser."""
    fmt = argparse.RawDescriptionHelpFormatter
    probe = sub.add_parser("probe", help="linear probe: train on stored vectors, score the survey",
                           description="Linear-probe lens classification on the stored representations.")
    cmds = probe.add_subparsers(dest="probe_command", metavar="ACTION", required=True)

    t = cmds.add_parser("train", help="train and store a linear probe", description=TRAIN_HELP, formatter_class=fmt)
    t.add_argument("--encoder-version", metavar="V", help="vectors to train on (required; or [probe] encoder_version)")
    _sets_args(t, ratio_default=4000)
    t.add_argument("--sweep-ratios", action="store_true", help="train at every ratio of --ratios, plot Fig. 4")
    t.add_argument("--protocol", choices=("validated", "paper"),
                   help="validated (default): class-balanced, the penalty chosen by cross-validated AP over --c-grid, "
                        "refitted on every known lens; paper: the paper's 70/30 split and LBFGS epochs kept by TP@N "
                        "(for validation sets of millions; a ratio sweep always uses it)")
    t.add_argument("--c-grid", help="comma-separated inverse penalties C of the validated protocol "
                                    "(default 0.01,0.1,1,10,100; l2 = 1 / (C n))")
    t.add_argument("--cv-folds", type=int, help="cross-validation folds of the validated protocol (default 3)")
    t.add_argument("--epochs", type=int, help="LBFGS epochs, each followed by a validation TP@N (default 50)")
    t.add_argument("--max-iter", type=int, help="LBFGS iterations per epoch (default 5)")
    t.add_argument("--l2", type=float, help="L2 penalty in mean BCE + l2/2 |w|^2 (default 0)")
    t.add_argument("--patience", type=int, help="stop after this many epochs without better TP@N (default 8)")
    t.add_argument("--feature-dtype", choices=("auto", "float32", "float16"), help="feature storage (default auto)")
    t.add_argument("--memory-gb", type=float, help="memory budget of the features, GiB (default 8)")
    t.add_argument("--threads", type=int, help="torch CPU threads")
    _common(t)
    t.set_defaults(func=run_train)

    s = cmds.add_parser("score", help="rank the survey by a model, write predictions and exports",
                        description=SCORE_HELP, formatter_class=fmt)
    s.add_argument("model", metavar="MODEL", help="model id or name")
    s.add_argument("--mode", choices=("search", "full"), default="search", help="probes: search (default) or full")
    s.add_argument("--top-n", type=int, help="candidates to rank and export")
    s.add_argument("--write", choices=("top", "all"), default="top", help="predictions for the top N or all")
    _filter_args(s)
    s.add_argument("--no-tsv", action="store_true", help="do not write the TSV")
    s.add_argument("--no-png", action="store_true", help="do not write PNG sheets")
    s.add_argument("--sheet", default="5x100", metavar="ROWSxCOLS", help="cutouts per sheet (default 5x100)")
    s.add_argument("--crop", type=int, default=96, help="centre crop of the shown cutouts, pixels (default 96)")
    _common(s, name=False)
    s.set_defaults(func=run_score)

    ls = cmds.add_parser("list", help="list stored classifier models",
                         description="List probe and fine-tuned models with their TP@N. Reads the database.")
    ls.set_defaults(func=run_list)

    f = sub.add_parser("finetune", help="fine-tune the encoder with a linear head, score the survey",
                       description=FINETUNE_HELP, formatter_class=fmt)
    f.add_argument("--checkpoint", metavar="CKPT", help="MoCo checkpoint (default <data-dir>/encoder/checkpoint.pt)")
    _sets_args(f, ratio_default=4000)
    f.add_argument("--positive-fraction", type=float, help="share of lenses per batch (default 0.05)")
    f.add_argument("--epochs", type=int, help="epochs (default 40)")
    f.add_argument("--batch-size", type=int, help="images per step (default 512)")
    f.add_argument("--lr-backbone", type=float, help="SGD lr of the encoder (default 0.001)")
    f.add_argument("--lr-head", type=float, help="SGD lr of the head (default 0.01)")
    f.add_argument("--no-augment", action="store_true", help="train without the augmentations")
    f.add_argument("--device", help="cpu, cuda or cuda:N (default: a GPU when present)")
    f.add_argument("--max-steps", type=int, help="steps per epoch at most (smoke runs)")
    f.add_argument("--max-cache-gb", type=float, help="memory for the training/validation cutouts (default 4)")
    f.add_argument("--threads", type=int, help="torch CPU threads")
    f.add_argument("--no-score", action="store_true", help="do not score the survey afterwards")
    f.add_argument("--no-compare", action="store_true", help="do not train the frozen-probe baseline")
    _filter_args(f)
    _common(f)
    f.set_defaults(func=run_finetune)

    g = sub.add_parser("grade", help="record A / B / not-a-lens grades of candidates", description=GRADE_HELP,
                       formatter_class=fmt)
    g.add_argument("pairs", nargs="*", metavar="OBJECT_ID=GRADE", help="grades, e.g. 9010123456=A")
    g.add_argument("--file", type=Path, help="TSV/CSV with object_id and grade columns")
    g.add_argument("--model", help="id or name of the model that surfaced the candidates")
    g.add_argument("--author", help="who graded (default: the login name)")
    g.add_argument("--label-set", default="grades", help="grading label set (default 'grades')")
    g.add_argument("--note", help="free text kept with each grade")
    g.set_defaults(func=run_grade)


def _sets_args(p, ratio_default: int) -> None:
    p.add_argument("--ratio", type=int, help=f"non-lenses per lens in training (default {ratio_default})")
    p.add_argument("--ratios", help="comma-separated ratios of a sweep (default 1,10,100,1000,4000,10000)")
    p.add_argument("--val-ratio", type=int, help="non-lenses per lens in validation (default 10000)")
    p.add_argument("--val-fraction", type=float, help="share of lenses for validation (default 0.3)")
    p.add_argument("--seed", type=int, help="seed of the split and the draws (default 0)")
    p.add_argument("--top-n", type=int, help="N of TP@N (default 1139 x validation size / 4.85M)")
    p.add_argument("--survey", choices=("south", "north", "any"), help="training sources (default south)")
    p.add_argument("--mag-z-max", help="training sources with mag_z below this, or 'none' (default 20)")
    p.add_argument("--label-set", action="append", dest="label_sets", metavar="NAME",
                   help="lens list to train on (repeatable; default all lists)")
    p.add_argument("--no-grades", action="store_true", help="ignore grades")


def _filter_args(p) -> None:
    p.add_argument("--score-survey", choices=("south", "north"), help="rank only this survey (default both)")
    for band in ("z", "r"):
        p.add_argument(f"--score-mag-{band}-min", type=float, metavar="MAG", help=f"rank only mag_{band} >= MAG")
        p.add_argument(f"--score-mag-{band}-max", type=float, metavar="MAG", help=f"rank only mag_{band} < MAG")


def _common(p, name: bool = True) -> None:
    if name:
        p.add_argument("--name", help="model name (default <kind>-<hash>)")
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder (default <data-dir>/classifiers)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _sets_overrides(args) -> tuple[dict, dict]:
    """(overrides for the config, changes applied after it is built): '--survey any' and '--mag-z-max none'
    mean no condition, which None (= flag not given) cannot say."""
    from lensdb.core.errors import InvalidInput

    ratios = None
    if args.ratios:
        try:
            ratios = tuple(int(r) for r in args.ratios.split(","))
        except ValueError:
            raise InvalidInput(f"--ratios must be comma-separated integers, got {args.ratios!r}") from None
    out = {"ratio": args.ratio, "ratios": ratios, "val_ratio": args.val_ratio, "val_fraction": args.val_fraction,
           "seed": args.seed, "top_n": args.top_n, "label_sets": tuple(args.label_sets) if args.label_sets else None,
           "use_grades": False if args.no_grades else None}
    after = {}
    if args.survey == "any":
        after["survey"] = None
    else:
        out["survey"] = args.survey
    if args.mag_z_max is not None:
        if args.mag_z_max.lower() == "none":
            after["mag_z_max"] = None
        else:
            try:
                out["mag_z_max"] = float(args.mag_z_max)
            except ValueError:
                raise InvalidInput(f"--mag-z-max must be a magnitude or 'none', got {args.mag_z_max!r}") from None
    return out, after


def _config(cls, settings, overrides: dict, after: dict):
    import dataclasses

    config = cls.from_settings(settings, **overrides)
    return dataclasses.replace(config, **after) if after else config


def _score_filter(args):
    from lensdb.classifiers.scoring import score_filter

    flt = score_filter(surveys=(args.score_survey,) if args.score_survey else None,
                       mag_z_min=args.score_mag_z_min, mag_z_max=args.score_mag_z_max,
                       mag_r_min=args.score_mag_r_min, mag_r_max=args.score_mag_r_max)
    return None if flt.empty else flt


def _engine(settings):
    from lensdb.catalog.db import make_engine, require_current

    engine = make_engine(settings.database_url)
    require_current(engine)
    return engine


def run_train(args, settings) -> int:
    from lensdb.catalog.jobs import job_scope
    from lensdb.classifiers.config import ProbeConfig
    from lensdb.classifiers.features import StoreFeatures
    from lensdb.classifiers.training import train_probe
    from lensdb.core.errors import InvalidInput

    sets, after = _sets_overrides(args)
    overrides = {**sets, "encoder_version": args.encoder_version, "epochs": args.epochs, "max_iter": args.max_iter,
                 "l2": args.l2, "patience": args.patience, "feature_dtype": args.feature_dtype,
                 "memory_gb": args.memory_gb, "threads": args.threads, "protocol": args.protocol,
                 "cv_folds": args.cv_folds}
    if args.c_grid:
        try:
            overrides["c_grid"] = tuple(float(c) for c in args.c_grid.split(","))
        except ValueError:
            raise InvalidInput(f"--c-grid takes comma-separated numbers, e.g. 0.1,1,10; got {args.c_grid!r}") from None
    config = _config(ProbeConfig, settings, overrides, after)
    if not config.encoder_version:
        raise InvalidInput("give --encoder-version (the version 'lensdb encoder train' printed) or set "
                           "[probe] encoder_version")
    engine = _engine(settings)
    out = args.out or settings.path("classifiers")
    source = StoreFeatures.open(settings, config.encoder_version)
    try:
        with job_scope(engine, "probe-train", _params(config, sweep=args.sweep_ratios)) as job_id:
            run = train_probe(engine, source, config, out_dir=out, sweep=args.sweep_ratios, name=args.name,
                              job_id=job_id, progress=not args.no_progress)
    finally:
        source.close()
    m = run.metrics
    print(f"probe {run.model.name} (id {run.model.id}): {run.sets.summary()}")
    if m.get("protocol") == "validated":
        sel = m["selection"]
        print(f"cross-validated ({sel['folds']} folds) AP by C: "
              + ", ".join(f"{c:g}: {a:.4f}" for c, a in zip(sel["c_grid"], sel["cv_ap"], strict=True))
              + f"; chose C = {sel['chosen_c']:g}, refitted on all rows; out-of-fold TP@{m['top_n']} = {m['val_tp']} "
              f"of {run.sets.val_pos.size} known lenses ({m['seconds']:.1f} s)")
    else:
        print(f"TP@{m['top_n']} = {m['val_tp']} of {run.sets.val_pos.size} validation lenses, precision "
              f"{m['val_precision']:.3f}, best epoch {m['best_epoch']} of {m['epochs_run']} "
              f"({m['seconds_per_epoch']:.2f} s/epoch)")
    for row in run.sweep:
        print(f"  ratio 1:{row['ratio']} (achieved 1:{row['ratio_achieved']:g}): TP {row['val_tp']}, "
              f"val precision {row['val_precision']:.3f}, train precision {row['train_precision']:.3f}")
    print("files: " + ", ".join(str(f) for f in run.files))
    engine.dispose()
    return 0


def _params(config, **extra) -> dict:
    import dataclasses

    return {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}, **extra}


def run_score(args, settings) -> int:
    from lensdb.catalog.jobs import job_scope
    from lensdb.classifiers.features import StoreFeatures
    from lensdb.classifiers.registry import get_model
    from lensdb.classifiers.scoring import score_probe
    from lensdb.core.errors import InvalidInput

    try:
        rows, cols = (int(v) for v in args.sheet.lower().split("x"))
    except ValueError:
        raise InvalidInput(f"--sheet must look like 5x100, got {args.sheet!r}") from None
    engine = _engine(settings)
    model = get_model(engine, args.model, ("probe", "finetune"))
    out = args.out or settings.path("classifiers")
    flt = _score_filter(args)
    with job_scope(engine, "score", {"model": model.name, "mode": args.mode, "top_n": args.top_n,
                                     "write": args.write}):
        if model.kind == "finetune":
            from lensdb.classifiers.finetune_job import score_finetuned

            report = score_finetuned(engine, model, flt=flt, n=args.top_n, out_dir=None if args.no_tsv else out,
                                     sheet_shape=(rows, cols), progress=not args.no_progress)
        else:
            source = StoreFeatures.open(settings, model.encoder_version)
            try:
                report = score_probe(engine, source, model, mode=args.mode, n=args.top_n, flt=flt, write=args.write,
                                     out_dir=out, tsv=not args.no_tsv, sheets=not args.no_png,
                                     sheet_shape=(rows, cols), crop=args.crop,
                                     progress=None)
            finally:
                source.close()
    print(json.dumps({**report.as_dict(), "tsv": str(report.tsv) if report.tsv else None,
                      "sheets": [str(p) for p in report.sheets]}, indent=2))
    engine.dispose()
    return 0


def run_list(args, settings) -> int:
    from lensdb.catalog import queries

    engine = _engine(settings)
    try:
        rows = queries.model_rows(engine, ("probe", "finetune"))
    finally:
        engine.dispose()
    print("id\tname\tkind\tencoder_version\tTP@N\tpredictions\tcreated")
    for r in rows:
        met = r.metrics or {}
        tp = f"{met.get('val_tp')}@{met.get('top_n')}" if "val_tp" in met else ""
        print(f"{r.id}\t{r.name}\t{r.kind}\t{r.encoder_version}\t{tp}\t{r.n_predictions}\t"
              f"{r.created_at:%Y-%m-%d %H:%M}")
    return 0


def run_finetune(args, settings) -> int:
    from lensdb.catalog.jobs import job_scope
    from lensdb.classifiers.config import FinetuneConfig
    from lensdb.classifiers.features import StoreFeatures
    from lensdb.classifiers.finetune_job import run_finetune as finetune
    from lensdb.core.errors import NotFound

    sets, after = _sets_overrides(args)
    overrides = {**sets, "positive_fraction": args.positive_fraction, "epochs": args.epochs,
                 "batch_size": args.batch_size, "lr_backbone": args.lr_backbone, "lr_head": args.lr_head,
                 "augment": False if args.no_augment else None, "device": args.device, "max_steps": args.max_steps,
                 "max_cache_gb": args.max_cache_gb, "threads": args.threads, "checkpoint": args.checkpoint}
    config = _config(FinetuneConfig, settings, overrides, after)
    checkpoint = Path(config.checkpoint) if config.checkpoint else settings.path("encoder", "checkpoint.pt")
    engine = _engine(settings)
    baseline = None
    if not args.no_compare:
        from lensdb.encoder.checkpoint import load_checkpoint

        try:
            baseline = StoreFeatures.open(settings, load_checkpoint(checkpoint).version)
        except NotFound as exc:
            log.warning("no frozen-probe comparison: %s", exc)
    out = args.out or settings.path("classifiers")
    try:
        with job_scope(engine, "finetune", _params(config)) as job_id:
            run = finetune(engine, config, checkpoint=checkpoint, out_dir=out, name=args.name, baseline=baseline,
                           score=not args.no_score, flt=_score_filter(args),
                           progress=not args.no_progress, job_id=job_id)
    finally:
        if baseline is not None:
            baseline.close()
    m = run.metrics
    line = f"fine-tuned {run.model.name}: TP@{m['top_n']} = {m['val_tp']} (precision {m['val_precision']:.3f})"
    if "frozen_probe" in m:
        line += f"; frozen probe on the same sets: TP {m['frozen_probe']['val_tp']}"
    print(line + f"; {run.sets.summary()}")
    if run.score:
        print(f"scored {run.score.scanned} images ({run.score.objects_per_s:.0f}/s); top {run.score.top_n} in "
              f"{run.score.tsv}")
    engine.dispose()
    return 0


def run_grade(args, settings) -> int:
    from lensdb.classifiers.grades import read_grade_file, record_grades
    from lensdb.core.errors import InvalidInput

    pairs = []
    for item in args.pairs:
        oid, sep, grade = item.partition("=")
        if not sep or not oid.strip().isdigit():
            raise InvalidInput(f"expected OBJECT_ID=GRADE, got {item!r}")
        pairs.append((int(oid), grade))
    if args.file:
        pairs += read_grade_file(args.file)
    if not pairs:
        raise InvalidInput("give OBJECT_ID=GRADE pairs or --file")
    engine = _engine(settings)
    report = record_grades(engine, pairs, author=args.author or getpass.getuser(), model=args.model,
                           label_set=args.label_set, note=args.note)
    print(report.summary())
    engine.dispose()
    return 0
