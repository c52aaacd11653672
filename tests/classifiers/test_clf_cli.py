"""The commands end to end on SQLite and a Milvus Lite file: probe train, probe score, probe list, grade."""

import csv

import numpy as np
import pytest
from clf_helpers import survey
from sqlalchemy import select

from lensdb.catalog.db import make_engine
from lensdb.catalog.models import Job, Label, Prediction
from lensdb.classifiers.features import write_store
from lensdb.cli import main
from lensdb.core.config import load_settings
from lensdb.vectordb.store import VectorStore


@pytest.fixture
def world(sqlite_engine, tmp_path):
    """A catalogue with 40 lenses among 2000 sources, their vectors stored for encoder version 'enc'."""
    ids, mask, vectors = survey(sqlite_engine, n=2000, n_lens=40)
    settings = load_settings(env={}, data_dir=str(tmp_path), milvus_uri=str(tmp_path / "milvus.db"),
                             database_url=str(sqlite_engine.url))
    with VectorStore.open(settings, "enc", dim=16, create=True) as store:
        write_store(store, sqlite_engine, ids, vectors)
    flags = ["--data-dir", str(tmp_path), "--database-url", str(sqlite_engine.url), "--milvus-uri",
             str(tmp_path / "milvus.db")]
    return ids, flags, tmp_path


def test_train_score_grade(world, capsys):
    ids, flags, tmp = world
    rc = main([*flags, "probe", "train", "--encoder-version", "enc", "--ratio", "10", "--val-ratio", "20",
               "--survey", "any", "--mag-z-max", "none", "--epochs", "3", "--sweep-ratios", "--ratios", "1,10",
               "--name", "p1", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "probe p1" in out and "validation at 1:20" in out and "ratio 1:1 " in out
    assert (tmp / "classifiers" / "p1_ratios.png").exists() and (tmp / "classifiers" / "p1_scores.png").exists()

    rc = main([*flags, "probe", "score", "p1", "--top-n", "25", "--no-png", "--no-progress"])
    assert rc == 0
    tsv = tmp / "classifiers" / "p1_top25.tsv"
    with open(tsv) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) == 25 and rows[0]["rank"] == "1"
    engine = make_engine(flags[3])
    with engine.connect() as conn:
        assert conn.execute(select(Prediction.object_id).order_by(Prediction.rank)).scalars().all() == [
            int(r["object_id"]) for r in rows]
        assert {j.kind for j in conn.execute(select(Job)).all()} >= {"probe-train", "score"}

    rows[0]["grade"], rows[1]["grade"] = "A", "no"
    with open(tsv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    assert main([*flags, "grade", "--file", str(tsv), "--model", "p1", "--author", "me", f"{ids[1500]}=B"]) == 0
    assert "1 A, 1 B, 1 not a lens" in capsys.readouterr().out
    with engine.connect() as conn:
        labels = conn.execute(select(Label.object_id, Label.grade, Label.author, Label.model_id)
                              .where(Label.author == "me")).all()
    assert len(labels) == 3 and all(r.model_id is not None for r in labels)

    assert main([*flags, "probe", "score", "p1", "--mode", "full", "--top-n", "10", "--score-survey", "south",
                 "--score-mag-z-max", "30", "--no-png", "--no-tsv", "--no-progress"]) == 0
    assert '"mode": "full"' in capsys.readouterr().out
    assert main([*flags, "probe", "list"]) == 0
    assert "p1\tprobe\tenc" in capsys.readouterr().out
    engine.dispose()


def test_errors_are_one_line_with_status_2(world, capsys):
    ids, flags, tmp = world
    assert main([*flags, "probe", "score", "nope"]) == 2
    assert "unknown probe/finetune 'nope'" in capsys.readouterr().err
    assert main([*flags, "probe", "train", "--encoder-version", "other"]) == 2
    assert "no vectors for encoder version 'other'" in capsys.readouterr().err
    assert main([*flags, "probe", "train"]) == 2
    assert "--encoder-version" in capsys.readouterr().err
    assert main([*flags, "grade", "12=maybe"]) == 2
    assert "not A, B or not_lens" in capsys.readouterr().err
    assert main([*flags, "probe", "train", "--encoder-version", "enc", "--label-set", "missing"]) == 2
    assert "no lens list called missing" in capsys.readouterr().err
    assert np.all(ids > 0)


def test_train_validated_protocol_says_what_it_chose(world, capsys):
    ids, flags, tmp = world
    base = [*flags, "probe", "train", "--encoder-version", "enc", "--ratio", "10", "--survey", "any",
            "--mag-z-max", "none", "--no-progress"]
    rc = main([*base, "--c-grid", "0.1,1,10", "--name", "v1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "cross-validated (3 folds) AP by C: 0.1: " in out and "chose C = " in out and "refitted on all" in out
    assert (tmp / "classifiers" / "v1_scores.png").exists()
    assert main([*base, "--c-grid", "one,two", "--name", "v2"]) == 2
    assert "--c-grid takes comma-separated numbers" in capsys.readouterr().err
    assert main([*base, "--c-grid", "0,1", "--name", "v3"]) == 2
