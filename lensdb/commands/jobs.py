"""``lensdb jobs``: what ran, how it ended, and the jobs whose process died without saying so."""

from __future__ import annotations

import argparse

from lensdb.core.config import Settings

HELP = """\
List the newest jobs (every command that writes to the catalogue records one: ingest, embed, probe training,
scoring, fine-tuning, label imports) with their host, process id, start, end and message.

A job whose process was killed cannot record its end and would stay 'running'. Before listing, the running jobs of
this host whose process is gone are marked 'failed' (every new job does the same when it starts). Jobs of another
host cannot be checked from here: once that host is known to be gone, mark one by hand with 'lensdb jobs fail ID'."""


def register(sub) -> None:
    p = sub.add_parser("jobs", help="list jobs; mark those whose process died", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--limit", type=int, default=30, help="how many of the newest jobs (default 30)")
    p.set_defaults(func=run_list)
    actions = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    f = actions.add_parser("fail", help="mark a running job of another host failed",
                           description="Mark a running job failed, for a job whose host is gone (a lost node).")
    f.add_argument("job_id", type=int, metavar="ID")
    f.add_argument("--reason", default="marked failed by hand: its host is gone", help="the message recorded")
    f.set_defaults(func=run_fail)


def _engine(settings: Settings):
    from lensdb.catalog.db import make_engine, require_current

    engine = make_engine(settings.database_url)
    require_current(engine)
    return engine


def run_list(args, settings: Settings) -> int:
    from lensdb.catalog.jobs import mark_stale, recent_jobs

    engine = _engine(settings)
    try:
        marked = mark_stale(engine)
        rows = recent_jobs(engine, max(1, args.limit))
    finally:
        engine.dispose()
    print("id\tkind\tstatus\thost\tpid\tstarted\tfinished\tmessage")
    for r in rows:
        finished = f"{r.finished_at:%Y-%m-%d %H:%M:%S}" if r.finished_at else ""
        message = (r.message or "").replace("\n", " ")[:160]
        print(f"{r.id}\t{r.kind}\t{r.status}\t{r.host or ''}\t{r.pid or ''}\t{r.started_at:%Y-%m-%d %H:%M:%S}\t"
              f"{finished}\t{message}")
    if marked:
        print(f"marked failed (process gone): {', '.join(map(str, marked))}")
    return 0


def run_fail(args, settings: Settings) -> int:
    from lensdb.catalog.jobs import mark_failed

    engine = _engine(settings)
    try:
        mark_failed(engine, args.job_id, args.reason)
    finally:
        engine.dispose()
    print(f"job {args.job_id} marked failed")
    return 0
