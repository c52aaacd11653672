"""``lensdb grading queue|stats|round``: grading campaigns from the command line (the inspection page does the same
from a browser; ``lensdb grade`` records grades from a file)."""

from __future__ import annotations

import argparse
import getpass
import json

from lensdb.core.config import Settings

HELP = """\
Grading campaigns. A grading set ('grades' or 'grades-<campaign>') holds one grade per grader per object; its
consensus (mean of A = 3, B = 2, not = 0; A at 2.5 or more, B at 1.5 or more, [grading] consensus_a/_b) becomes
the set's labels, which probe training reads. Views grade_consensus and grader_calibration can be joined in SQL.

  lensdb grading queue --kind probe --model NAME      a probe's ranking, known lenses and inspected objects left out
  lensdb grading queue --kind similar --seeds ID ...  neighbours of one or several objects
  lensdb grading queue --kind labels --source-set S   the objects of a label set
  lensdb grading queue --kind random                  a random control sample
  lensdb grading queue --kind similar --seeds A B C --negatives D --method probe
                                                      a few-shot query: like A, B, C, not like D
  lensdb grading queue --kind unusual                 the most unusual objects (anomaly ranking)
  lensdb grading stats                                consensus, graders, calibration, agreement, rounds (JSON)
  lensdb grading round                                retrain on the grades, rescore, open the next queue
  lensdb grading graders [--revoke NAME]              graders, their page sessions and grades; end a grader's sessions

A round is one unit: it checks its request first, then trains and ranks without writing, and commits the model,
its predictions, the next queue, the supersession of the open queues and the round's row in one transaction (or
nothing, if it fails or is killed). It is recorded as a job ('lensdb jobs'); its steps are printed as it goes and
shown on the statistics page. One round per grading set runs at a time: a second one is refused, naming the job.

Each queue mixes in a share of blind calibration items ([grading] calibration_share, default 5 %): known lenses
and known non-lenses, whose grades measure each grader's hit and false-alarm rates."""


def register(sub) -> None:
    p = sub.add_parser("grading", help="grading queues, consensus statistics and active-learning rounds",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="grading_command", metavar="ACTION", required=True)
    q = actions.add_parser("queue", help="make a queue to inspect")
    q.add_argument("--kind", required=True, choices=("probe", "similar", "labels", "random", "unusual"))
    q.add_argument("--model", help="probe whose stored ranking to inspect (kind probe)")
    q.add_argument("--seeds", type=int, nargs="+", default=(), metavar="ID", help="object ids (kind similar)")
    q.add_argument("--negatives", type=int, nargs="+", default=(), metavar="ID",
                   help="kind similar: objects whose like to avoid (a few-shot query of the seeds)")
    q.add_argument("--method", choices=("centroid", "probe", "knn", "iforest"),
                   help="kind similar: a few-shot query by the centroid of the examples or a query probe; kind "
                        "unusual: the anomaly score, knn (distance to the 10th neighbour, default) or iforest")
    q.add_argument("--source-set", help="label set to inspect (kind labels)")
    q.add_argument("--size", type=int, help="objects in the queue (default [grading] queue_size)")
    q.add_argument("--calibration-share", type=float, help="share of blind calibration items (default 0.05)")
    q.add_argument("--label-set", help="grading set (default [grading] label_set, 'grades')")
    q.add_argument("--seed", type=int, default=0, help="seeds the random sample and the calibration places")
    q.add_argument("--author", help="who makes the queue (default: the login name)")
    q.set_defaults(func=run_queue)
    s = actions.add_parser("stats", help="consensus, graders, calibration and agreement of a grading set (JSON)")
    s.add_argument("--label-set", help="grading set (default 'grades')")
    s.set_defaults(func=run_stats)
    r = actions.add_parser("round", help="one active-learning round: retrain, rescore, next queue")
    r.add_argument("--label-set", help="grading set (default 'grades')")
    r.add_argument("--size", type=int, help="objects in the next queue")
    r.add_argument("--encoder-version", metavar="V", help="vectors to train and rank on (default: the only one)")
    r.add_argument("--author", help="who runs the round (default: the login name)")
    r.set_defaults(func=run_round)
    g = actions.add_parser("graders", help="graders with their inspection-page sessions and grades; --revoke ends "
                                           "a grader's sessions")
    g.add_argument("--revoke", metavar="NAME", help="revoke every session of this grader (they log in again)")
    g.set_defaults(func=run_graders)


def _services(settings: Settings):
    from lensdb.services import Services

    return Services.open(settings)


def run_queue(args, settings: Settings) -> int:
    with _services(settings) as services:
        info = services.grading.create_queue(args.kind, grader=args.author or getpass.getuser(),
                                             label_set=args.label_set, model=args.model, object_ids=args.seeds,
                                             source_set=args.source_set, size=args.size,
                                             calibration_share=args.calibration_share, seed=args.seed,
                                             negative_ids=args.negatives, method=args.method)
    print(f"queue {info.id} ({info.name}) in '{info.label_set}': {info.n_items} objects to inspect; open "
          f"/queue/{info.id} on the inspection page ('lensdb web')")
    return 0


def run_stats(args, settings: Settings) -> int:
    with _services(settings) as services:
        print(json.dumps(services.grading.stats(args.label_set), indent=2, default=str))
    return 0


def run_round(args, settings: Settings) -> int:
    import sys

    def show(p: dict) -> None:  # the same steps the statistics page shows
        print(f"round (job {p['job']}): step {p['step']} of {p['steps']}: {p['stage']}", file=sys.stderr, flush=True)

    with _services(settings) as services:
        out = services.grading.run_round(grader=args.author or getpass.getuser(), label_set=args.label_set,
                                         encoder_version=args.encoder_version, size=args.size, progress=show)
    print(json.dumps(out, indent=2, default=str))
    return 0


def run_graders(args, settings: Settings) -> int:
    with _services(settings) as services:
        if args.revoke:
            n = services.grading.revoke_grader(args.revoke)
            print(f"revoked {n} session(s) of grader {args.revoke!r}")
            return 0
        rows = services.grading.graders()
    print(f"{'grader':<24} {'sessions':>9} {'valid':>6} {'grades':>7}  last login            last seen")
    for r in rows:
        when = (lambda t: t.strftime("%Y-%m-%d %H:%M:%S") if t else "-")
        print(f"{r.grader[:24]:<24} {r.sessions:>9} {r.active_sessions:>6} {r.grades:>7}  {when(r.last_login):<21} "
              f"{when(r.last_used)}")
    if not rows:
        print("no graders yet: they appear when they log in to the inspection page or grade")
    return 0
