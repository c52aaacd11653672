"""The demo's report: ``<data>/report/index.html`` with the figures, the numbers and the SQL to go further."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from lensdb.report import Figure, Link, Section, Table, write_report


def write(demo, sim, ing, known, enc, emb, learned, sim_res, probe, api, grading=None) -> Path:
    """Write the report folder of a finished demo run; returns its index.html."""
    s, plan = demo.settings, demo.plan
    gallery = _gallery(demo)
    seconds = demo.state.seconds()
    hidden = probe["hidden_lenses"]
    summary = [
        ("survey", f"{sim['objects']:,} simulated objects, {sim['classes'].get('lens', 0)} lenses "
                   f"(base rate {sim_res['base_rate']:.4f})"),
        ("known lenses", f"{known['lens_labels']} imported as labels; {hidden} simulated lenses left to find"),
        ("encoder", f"{enc['version']} ({enc['steps']} MoCo v2 steps on {enc['objects']:,} objects)"),
        ("vector store", f"{emb['vectors']:,} vectors in {emb['collection']} ({emb['index']}) at {s.milvus_uri}"),
        ("best probe", f"{probe['model']}: {probe['new_lenses']} of the {hidden} hidden lenses in its top "
                       f"{probe['n']}"),
        ("catalogue", s.database_url),
        ("wall time", f"{sum(seconds.values()):.0f} s ({', '.join(f'{k} {v:.0f}' for k, v in seconds.items())})"),
    ]
    sections = [
        Section("The simulated survey", (
            "A survey like DESI Legacy Surveys DR9, north and south, simulated with a truth table: ordinary galaxies, "
            "strong lenses (SIE + shear deflectors with lensed blue sources: arcs, rings, doubles, quads) and the "
            "look-alikes lens searches confuse with them (ring galaxies, spirals, blue companions, mergers).\n\n"
            f"{known['lens_labels']} of the lenses were imported as the known lenses (the paper's 1,615); the other "
            f"{hidden} are what the hunt should find. Each row below shows objects of one class, from the survey."),
            figures=[Figure(gallery, "Survey objects by class (rows), g, r, z in the Legacy Survey viewer stretch",
                            wide=True)]
            if gallery else (),
            tables=[Table(["class", "objects"], sorted(sim["classes"].items(), key=lambda kv: -kv[1]),
                          "Objects per class")]),
        Section("Self-supervised encoder", (
            f"MoCo v2 trained without labels on the paper's sample (south, mag_z < 20, uniform in mag_z): "
            f"{enc['objects']:,} objects, {enc['steps']} steps. InfoNCE loss {enc['first_loss']} at the start, "
            f"{enc['last_loss']} at the end. Every cutout was then embedded into the vector store "
            f"({emb['summary']})."),
            figures=[Figure(Path(enc["loss_curve"]), "Training loss")]),
        Section("Did the encoder learn?", (
            f"For every simulated lens, its {learned['k']} nearest neighbours (cosine, vectors centred on the survey "
            "mean): the fraction that are lenses, for the trained encoder, the same network untrained, and PCA of the "
            "stretched pixels. Each is whitened without labels, as the stored vectors are (the trained encoder by the "
            "whitening its training fitted). The dashed line is the base rate (random neighbours)."),
            figures=[Figure(Path(learned["figure"]), "Lens fraction among nearest neighbours of lenses")],
            tables=[Table(["representation", "lens fraction", "± s.e.", "× base rate"],
                          [(n, f"{r['mean_fraction']:.3f}", f"{r['stderr']:.3f}", f"{r['enrichment']:.1f}")
                           for n, r in learned["methods"].items()])]),
        Section(f"Similarity search: the top {plan.top_k} of three known lenses", (
            "As in the paper's Fig. 3: a bright arc, a small double and a faint arc as queries against the whole "
            "survey. Each grid shows the query and its 31 most similar objects; L marks a simulated lens."),
            figures=[Figure(Path(r["grid"]), f"{name}: object {r['object_id']}, theta_E {r['theta_e_arcsec']}\", "
                            f"arc S/N {r['arc_snr']}; lens fraction {r['lens_fraction']:.3f} in the top {r['k']}",
                            wide=True)
                     for name, r in sim_res["queries"].items()],
            tables=[Table(["query", "object_id", "theta_E (\")", "arc S/N", f"lenses in top {plan.top_k}",
                           "lens fraction", "× base rate", "look-alikes"],
                          [(name, r["object_id"], r["theta_e_arcsec"], r["arc_snr"], r["lenses_in_top"],
                            f"{r['lens_fraction']:.3f}", f"{r['enrichment']:.1f}",
                            ", ".join(f"{c} {n}" for c, n in r["lookalikes_in_top"].items()) or "none")
                           for name, r in sim_res["queries"].items()])]),
        *([_beyond_one_section(plan, sim_res)] if sim_res.get("few_shot") or sim_res.get("unusual") else []),
        _probe_section(probe),
        Section("The gRPC API", (
            f"A LensDB server was started on 127.0.0.1:{api['port']} over this data folder and queried by the Python "
            "client; `lensdb serve` runs the same server for other users, `lensdb query` is its command line."),
            tables=[Table(["call", "ms", "answer"], [(c["call"], c["ms"], c["answer"]) for c in api["calls"]])]),
        *([_grading_section(demo, grading)] if grading else []),
        Section("Query the results yourself", (
            f"The catalogue is a SQLite file: sqlite3 {s.path('lensdb.sqlite')}. Predictions of the best probe "
            f"are in predictions (model_id {probe['model_id']}); the ranked candidates are also in {probe['tsv']}."),
            code=_sql(probe)),
    ]
    return write_report(demo.report_dir, "LensDB demo: a lens hunt on a simulated survey", sections, summary,
                        subtitle=f"plan {plan.name}; data folder {s.data_dir.resolve()}")


def _beyond_one_section(plan, sim_res: dict) -> Section:
    """Few-shot queries from several known lenses, and the anomaly ranking (``hunt.few_shot_and_unusual``)."""
    rows = [(f"few-shot, {r['examples']} known lenses, {m}", r["k"], f"{r['lenses_in_top']} lenses",
             f"{r['lens_fraction']:.3f}", f"{r['enrichment']:.1f}") for m, r in sim_res.get("few_shot", {}).items()]
    rows += [(f"most unusual ({m})", r["k"], f"{r['rare_in_top']} rare objects (random: {r['random_expected']})",
              ", ".join(f"{c} {n}" for c, n in sorted(r["by_class"].items())) or "none",
              f"{r['rare_in_top'] / max(r['random_expected'], 1e-9):.1f}")
             for m, r in sim_res.get("unusual", {}).items()]
    return Section(f"Beyond one object: several examples, and the unusual (top {plan.top_k})", (
        "A few-shot query turns several examples into one query (their centroid, or a probe fitted on the fly "
        "against random objects); the anomaly ranking lists the objects whose vectors lie far from the rest "
        "(distance to the 10th neighbour, or an isolation forest): rare objects nobody has an example of."),
        tables=[Table(["query", "k", "found", "fraction / by class", "× random"], rows)])


def _probe_section(probe: dict) -> Section:
    figures = [Figure(Path(p), _caption(p)) for p in probe["figures"]]
    if probe["grid"]:
        figures.append(Figure(Path(probe["grid"]), "Top candidates not among the known lenses, by rank, with the "
                                                   "truth class (the hunter would grade these by eye)", wide=True))
    rows = [(f"1:{r['ratio']}", r["n_neg"], r["val_tp"], f"{r['val_precision']:.3f}", r["best_epoch"])
            for r in probe["sweep"]]
    return Section("Linear probes and new candidates", (
        "Logistic-regression probes on the frozen vectors, trained at several lens : non-lens ratios with the "
        f"paper's protocol; the best by TP@{probe['top_n_metric']} on the validation set was kept "
        f"(1:{probe['best_ratio']}) and scored every object. Of its top {probe['n']}, {probe['candidates']} are "
        f"not known lenses; {probe['new_lenses']} of those are simulated lenses the probe found "
        f"(precision {probe['precision']:.2f}; {probe['hidden_lenses']} were hidden)."),
        figures=figures,
        tables=[Table(["ratio", "non-lenses", f"TP@{probe['top_n_metric']}", "precision", "best epoch"], rows,
                      "Validation results per training ratio (Fig. 4)"),
                Table(["truth class", "candidates"], list(probe["candidate_classes"].items()),
                      f"What the {probe['candidates']} new candidates really are"),
                *_top_candidates(probe)])


def _top_candidates(probe: dict, n: int = 10) -> list[Table]:
    """The first ``n`` rows of the probe's candidate TSV, each with its Legacy Survey viewer link."""
    import csv

    path = Path(probe.get("tsv") or "")
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = [r for _, r in zip(range(n), csv.DictReader(f, delimiter="\t"), strict=False)]
    return [Table(["rank", "object_id", "score", "ra", "dec", "mag_z", "sky"],
                  [(r["rank"], r["object_id"], r["score"], f"{float(r['ra']):.5f}", f"{float(r['dec']):.5f}",
                    r["mag_z"], Link("Legacy Survey viewer", r["viewer"]) if r.get("viewer") else "")
                   for r in rows],
                  f"The top {len(rows)} candidates ({path.name}; the viewer shows the real sky at each position)")]


def _grading_section(demo, grading: dict) -> Section:
    data = demo.settings.data_dir.resolve()
    return Section("Grade the candidates in a browser", (
        f"The probe's ranking, with the known lenses left out, waits as grading queue #{grading['queue']} "
        f"({grading['n_items']} objects, {grading['calibration_items']} of them blind calibration items: known "
        "lenses and non-lenses that measure each grader). Start the inspection page over this data folder, then "
        "open the link: grade with the keyboard (A clear lens, B probable, N not a lens, S skip, U undo, Enter "
        "for one object with each band, stretches and zoom). Several people can grade; the statistics page shows "
        "their consensus, agreement and calibration, and retrains the probe on the grades (an active-learning "
        "round)."),
        links=[(f"grading queue #{grading['queue']} at {grading['url']} (after the command below)", grading["url"])],
        code=[("Start the inspection page (Ctrl-C stops it)", f".venv/bin/lensdb --data-dir {data} web")])


def _caption(path: str) -> str:
    if path.endswith("_ratios.png"):
        return "TP@N against the training ratio (the paper's Fig. 4)"
    if path.endswith("_scores.png"):
        return "Probe scores of validation lenses and non-lenses (the paper's Fig. 5)"
    return Path(path).stem


def _sql(probe: dict) -> list[tuple[str, str]]:
    m = probe["model_id"]
    return [
        ("The probe's top 20 with positions and magnitudes",
         f"SELECT p.rank, p.score, s.object_id, s.ra, s.dec, s.mag_r, s.survey\nFROM predictions p\n"
         f"JOIN sources s ON s.object_id = p.object_id\nWHERE p.model_id = {m}\nORDER BY p.rank\nLIMIT 20;"),
        ("Candidates that carry no label yet (what to grade next)",
         f"SELECT p.rank, p.object_id, p.score\nFROM predictions p\nWHERE p.model_id = {m}\n"
         f"  AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.object_id = p.object_id)\nORDER BY p.rank\nLIMIT 50;"),
        ("Label sets and their counts",
         "SELECT s.name, l.class, count(*)\nFROM labels l JOIN label_sets s ON s.id = l.label_set_id\n"
         "GROUP BY s.name, l.class;"),
        ("Models in the catalogue",
         "SELECT id, name, kind, encoder_version, created_at\nFROM models\nORDER BY id;"),
    ]


def _gallery(demo) -> Path | None:
    """A grid of survey objects, 8 per class, from the shards (None when the survey has no such objects)."""
    from lensdb.catalog.db import make_engine
    from lensdb.classifiers.sheets import write_sheets
    truth = demo.truth
    order = ("lens", "galaxy", "ring", "spiral", "companion", "merger")
    ids, titles = [], []
    for cls in order:
        picked = [i for i, r in truth.rows.items() if r["class"] == cls][:8]
        ids += picked + [picked[-1]] * (8 - len(picked)) if picked else []
        titles += [cls] * (8 if picked else 0)
    if not ids:
        return None
    folder = demo.work / "gallery"
    shutil.rmtree(folder, ignore_errors=True)
    engine = make_engine(demo.settings.database_url)
    try:
        return write_sheets(engine, np.array(ids, np.int64), folder, prefix="classes", rows=len(order), cols=8,
                            crop=64, titles=titles)[0]
    finally:
        engine.dispose()
