"""The README's "A first session", at a smaller size: the simulated survey's own lens list matches every entry, and
the paper's real list (on the real sky) matches none and warns where the ingested footprint is."""

from __future__ import annotations

import csv
from pathlib import Path

from lensdb.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
TRAINING = Path(__file__).resolve().parents[2] / "catalog" / "data" / "training_lenses.tsv"


def test_first_session_ends_with_real_matches(tmp_path, capsys):
    session = README.read_text().split("## A first session", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert "lensdb labels import lensdb-data/survey/lenses.csv" in session and "source .venv/bin/activate" in session
    g = ["--data-dir", str(tmp_path / "lensdb-data")]
    survey = tmp_path / "lensdb-data" / "survey"
    assert main([*g, "simulate", "--n-objects", "300", "--lens-rate", "0.05", "--no-progress"]) == 0
    assert main([*g, "db", "upgrade"]) == 0
    assert main([*g, "ingest", str(survey), "--no-progress"]) == 0
    with open(survey / "lenses.csv", newline="") as f:
        listed = list(csv.DictReader(f))
    with open(survey / "truth.csv", newline="") as f:
        lenses = [r for r in csv.DictReader(f) if r["class"] == "lens"]
    assert len(listed) == len(lenses) > 0
    capsys.readouterr()
    assert main([*g, "labels", "import", str(survey / "lenses.csv")]) == 0
    out = capsys.readouterr()
    assert f"{len(lenses)} entries, {len(lenses)} matched" in out.out and "warning" not in out.err
    assert main([*g, "labels", "import", str(TRAINING)]) == 0
    out = capsys.readouterr()
    assert "0 matched" in out.out
    assert "warning: only 0 of 1615 entries" in out.err and "south:" in out.err and "outside the ingested" in out.err
