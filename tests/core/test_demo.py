"""`lensdb demo --quick` from an empty data folder: every artefact of the stages built so far, and a resuming re-run."""

import sqlite3

from lensdb.cli import main


def test_demo_quick_then_resume(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "demo", "--quick"]) == 0
    out = capsys.readouterr().out
    shards = sorted((data / "survey").glob("*.h5"))
    assert len(shards) == 3 and (data / "survey" / "truth.csv").is_file()
    assert "600 sources in 3 shards" in out
    db = sqlite3.connect(data / "lensdb.sqlite")
    n_sources = db.execute("SELECT count(*) FROM sources").fetchone()[0]
    n_known = len((data / "known_lenses.tsv").read_text().splitlines()) - 1
    lens_labels = db.execute("SELECT count(*) FROM labels WHERE class = 'lens'").fetchone()[0]
    db.close()
    assert n_sources == 600 and n_known > 0 and lens_labels == n_known
    mtimes = {p: p.stat().st_mtime_ns for p in shards}

    assert main(["--data-dir", str(data), "demo", "--quick"]) == 0
    again = capsys.readouterr().out
    assert "0 shard(s) ingested (0 rows), 3 skipped" in again
    assert {p: p.stat().st_mtime_ns for p in shards} == mtimes, "a re-run must not rewrite finished shards"
    db = sqlite3.connect(data / "lensdb.sqlite")
    assert db.execute("SELECT count(*) FROM sources").fetchone()[0] == 600
    assert db.execute("SELECT count(*) FROM labels WHERE class = 'lens'").fetchone()[0] == lens_labels
    db.close()
