"""``lensdb demo``: the paper's lens hunt, end to end, on a simulated survey and the embedded defaults.

Everything goes into the data folder (Milvus Lite file + SQLite file, no server needed):

1. simulate a survey (north and south, lenses and look-alikes) with a truth table;
2. create the catalogue and ingest the shards;
3. import part of the simulated lenses as the "known" lenses (as the paper used 1,615);
4. train the encoder (MoCo v2, small preset) without labels;
5. embed the survey into the vector store;
6. check that the encoder learned: lens fraction among the neighbours of lenses, against a random network and
   pixel PCA;
7. similarity search from three known lenses (a bright arc, a small double, a faint arc);
8. linear probes across training ratios; the best by TP@N scores the survey; new candidates are listed;
9. the gRPC API: start a server, query it, stop it;
10. an HTML report (``<data>/report/index.html``) that opens in a browser without a server.

Every step records its result in ``<data>/demo/state.json`` and a re-run skips what is done; long steps resume
inside (encoder checkpoints, per-shard markers). ``--quick`` runs every step on tiny data, for CI.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from lensdb.core.config import Settings
from lensdb.core.errors import InvalidInput
from lensdb.demo.plan import FULL, QUICK, DemoPlan
from lensdb.demo.state import DemoState

STEPS = ("simulate", "ingest", "known", "encoder", "embed", "learned", "similarity", "probes", "api", "report")


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole lens hunt end to end on a simulated survey (embedded defaults, no server)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true",
                   help=f"tiny survey ({QUICK.n_objects} objects, short training) for CI: every step in a minute or "
                        f"two; the full demo simulates {FULL.n_objects:,} objects and takes about 10-15 minutes on "
                        "2 CPU cores")
    p.add_argument("--n-objects", type=int, help="override the number of simulated objects")
    p.set_defaults(func=run)


#: Fewest objects a demo runs on: enough lenses for the known list, the probes' training and validation sets.
MIN_OBJECTS = 300


def run(args: argparse.Namespace, settings: Settings) -> int:
    plan = QUICK if args.quick else FULL
    if args.n_objects is not None:
        if args.n_objects < MIN_OBJECTS:
            raise InvalidInput(f"--n-objects {args.n_objects}: a demo needs at least {MIN_OBJECTS} objects (enough "
                               f"lenses to train and validate probes); the quick demo uses {QUICK.n_objects}")
        plan = plan.with_objects(args.n_objects)
    demo = Demo(settings, plan)
    return demo.run()


class Demo:
    """One demo run over a data folder: the steps, their recorded results, and where things go."""

    def __init__(self, settings: Settings, plan: DemoPlan):
        self.settings, self.plan = settings, plan
        self.survey_dir = settings.path("survey")
        self.work = settings.path("demo")
        self.report_dir = settings.path("report")
        self.state = DemoState(self.work, plan.to_dict())

    def step(self, index: int, name: str, title: str, fn: Callable[[], dict]) -> dict:
        """Run step ``name`` unless the state records it as done; print what it did either way."""
        head = f"[{index}/{len(STEPS)}] {title}"
        if self.state.done(name):
            print(f"{head}: done earlier, skipped", flush=True)
            return self.state.result(name)
        print(head, flush=True)
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        self.state.record(name, result, seconds)
        print(f"      done in {seconds:.0f} s", flush=True)
        return result

    def run(self) -> int:
        from lensdb.demo import hunt, survey, vectors

        s, plan = self.settings, self.plan
        t0 = time.perf_counter()
        print(f"LensDB demo ({plan.name}): data folder {s.data_dir.resolve()}", flush=True)
        sim = self.step(1, "simulate", f"simulate {plan.n_objects:,} objects into {self.survey_dir}",
                        lambda: survey.simulate(plan, self.survey_dir))
        print(f"      classes: {_counts(sim['classes'])}; {sim['megabytes']:,.0f} MB of shards")
        ing = self.step(2, "ingest", f"catalogue {s.database_url}: ingest the shards",
                        lambda: survey.ingest(s, self.survey_dir))
        print(f"      {ing['summary']}")
        known = self.step(3, "known", "import the known lenses",
                          lambda: survey.import_known(s, plan, self.survey_dir))
        print(f"      {known['lens_labels']} lens labels from {known['listed']} listed "
              f"({sim['classes'].get('lens', 0) - known['lens_labels']} simulated lenses stay hidden)")
        enc = self.step(4, "encoder", "train the encoder (MoCo v2, small preset, no labels)",
                        lambda: vectors.train_encoder(s, plan, self.survey_dir))
        print(f"      encoder {enc['version']}: {enc['steps']} steps on {enc['objects']:,} objects, "
              f"loss {enc['first_loss']} -> {enc['last_loss']}")
        emb = self.step(5, "embed", f"embed the survey into {s.milvus_uri}",
                        lambda: vectors.embed(s, self.survey_dir, Path(enc["checkpoint"])))
        print(f"      {emb['summary']}")
        self.truth = truth = hunt.Truth(self.survey_dir)
        known_ids = hunt.known_ids(s)
        learned = self.step(6, "learned", "did the encoder learn? lens fraction among lens neighbours, 3 ways",
                            lambda: vectors.learned_check(s, plan, Path(enc["checkpoint"]), self.survey_dir,
                                                          self.work / "learned"))
        for name, row in learned["methods"].items():
            print(f"      {name:<22} top-{learned['k']} lens fraction {row['mean_fraction']:.3f} "
                  f"(x{row['enrichment']:.1f} the base rate)")
        sim_res = self.step(7, "similarity", f"similarity search from 3 known lenses (top {plan.top_k})",
                            lambda: hunt.similarity_search(s, plan, enc["version"], truth, known_ids,
                                                           self.work / "similarity"))
        for name, row in sim_res["queries"].items():
            print(f"      {name:<13} lens fraction {row['lens_fraction']:.3f} in the top {row['k']} "
                  f"(base rate {sim_res['base_rate']:.4f}, x{row['enrichment']:.1f})")
        probe = self.step(8, "probes", f"linear probes at ratios {', '.join(f'1:{r}' for r in plan.probe_ratios)}; "
                          "score the survey",
                          lambda: hunt.probes(s, plan, enc["version"], truth, known_ids, self.work / "probes"))
        print(f"      best ratio 1:{probe['best_ratio']}; top {probe['n']}: {probe['candidates']} candidates not "
              f"among the known lenses, {probe['new_lenses']} of them simulated lenses "
              f"(of {probe['hidden_lenses']} hidden)")
        api = self.step(9, "api", "gRPC API: start a server, query it, stop it",
                        lambda: _api(s, enc, sim_res, probe))
        for call in api["calls"]:
            print(f"      {call['call']:<36} {call['ms']:>8.1f} ms  {call['answer']}")
        from lensdb.demo.page import write

        grading = self.grading_queue(probe)
        index = write(self, sim, ing, known, enc, emb, learned, sim_res, probe, api, grading)
        self.state.record("report", {"index": str(index), "grading": grading}, 0.0)
        print(f"[{len(STEPS)}/{len(STEPS)}] report written")
        print(f"\nDone in {time.perf_counter() - t0:.0f} s. Open the report: {index.resolve().as_uri()}")
        print(f"Query the catalogue: sqlite3 {s.path('lensdb.sqlite')}")
        print(f"Grade the candidates: .venv/bin/lensdb --data-dir {s.data_dir.resolve()} web, then open "
              f"{grading['url']}")
        return 0

    def grading_queue(self, probe: dict) -> dict:
        """A grading queue of the best probe's ranking for the inspection page (made once per data folder)."""
        from lensdb.services import Services
        from lensdb.web.config import WebConfig

        port = WebConfig.from_settings(self.settings).port
        with Services.open(self.settings) as services:
            made = [q for q in services.grading.queues() if q.created_by == "demo" and q.kind == "probe"
                    and q.params.get("model") == probe["model"]]
            info = made[0] if made else services.grading.create_queue(
                "probe", grader="demo", model=probe["model"], size=min(1000, max(100, probe["n"])))
        return {"queue": info.id, "n_items": info.n_items,
                "calibration_items": int(info.params.get("calibration_items", 0)),
                "url": f"http://127.0.0.1:{port}/queue/{info.id}"}


def _api(settings: Settings, enc: dict, sim_res: dict, probe: dict) -> dict:
    from lensdb.demo.serve import round_trip

    query = sim_res["queries"]["bright arc"]["object_id"]
    return round_trip(settings, enc["version"], enc["checkpoint"], query, probe["model"])


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
