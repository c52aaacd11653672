"""The README's "Your own survey" sequence, run on FITS cutouts written with astropy in the Legacy Survey layout:
convert -> ingest -> encoder train -> embed -> search -> labels import -> probe train -> probe score -> export."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from astropy.table import Table
from regions import Regions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))
from fits_cutouts import write_cutouts  # noqa: E402

from lensdb.cli import main  # noqa: E402
from lensdb.core.config import load_settings  # noqa: E402

N = 80


def test_own_survey_from_fits_to_candidates(tmp_path, capsys):
    cutouts = tmp_path / "my-cutouts"
    files, table = write_cutouts(cutouts, N, size=112, seed=3)
    data = tmp_path / "lensdb-data"
    g = ["--data-dir", str(data)]
    shards = tmp_path / "my-survey"

    assert main([*g, "convert", str(cutouts), "--table", str(table), "--out", str(shards), "--shard-rows", "40",
                 "--release", "7", "--no-progress"]) == 0
    assert main([*g, "--survey-root", str(shards), "ingest", str(shards), "--no-progress"]) == 0
    files = [str(p) for p in sorted(shards.glob("*.h5"))]
    assert main([*g, "encoder", "train", *files, "--epochs", "1", "--batch-size", "16", "--queue-size", "32",
                 "--max-steps", "2", "--workers", "0", "--device", "cpu", "--no-progress"]) == 0
    assert main([*g, "embed", str(shards), "--device", "cpu", "--no-progress"]) == 0
    out = capsys.readouterr().out

    # The rings (every fifth object) are the team's known lenses: a list in their own format (FITS here).
    tab = Table.read(table)
    rings = tab[::5]
    Table({"RA": rings["ra"], "DEC": rings["dec"], "ID": [f"ring{i}" for i in range(len(rings))]}).write(
        tmp_path / "known.fits")
    assert main([*g, "labels", "import", str(tmp_path / "known.fits"), "--name", "known", "--ra-col", "RA",
                 "--dec-col", "DEC", "--name-col", "ID"]) == 0
    out = capsys.readouterr()
    assert f"{len(rings)} matched" in out.out and "warning" not in out.err

    # A search from one ring comes back with objects of the converted survey.
    from lensdb.vectordb.store import VectorStore

    settings = load_settings(env={}, data_dir=str(data))
    version = _version(data)
    with VectorStore.open(settings, version) as store:
        assert store.count() == N
        query = store.get([(7 << 40) | 0], with_vectors=True)["vector"][0]
        hits = store.knn(np.asarray(query), k=5)
    hit_ids = [int(h) for h in hits.ids]
    assert hit_ids[0] == 7 << 40 and all((i >> 40) == 7 for i in hit_ids)

    assert main([*g, "probe", "train", "--encoder-version", version, "--ratio", "2", "--val-ratio", "2",
                 "--survey", "any", "--mag-z-max", "none", "--epochs", "2", "--name", "mine", "--no-progress"]) == 0
    assert main([*g, "probe", "score", "mine", "--top-n", "20", "--no-png", "--no-progress"]) == 0
    tsv = data / "classifiers" / "mine_top20.tsv"
    lines = tsv.read_text().splitlines()
    assert "viewer" in lines[0].split("\t") and "legacysurvey.org/viewer?ra=" in lines[1]
    # Graded: fill the TSV's grade column (the first candidate is a clear lens, the second not one) and record it.
    header = lines[0].split("\t")
    graded = [lines[0]]
    for k, line in enumerate(lines[1:]):
        cells = line.split("\t")
        cells[header.index("grade")] = {0: "A", 1: "not_lens"}.get(k, "")
        graded.append("\t".join(cells))
    tsv.write_text("\n".join(graded) + "\n")
    assert main([*g, "grade", "--file", str(tsv), "--model", "mine", "--author", "me"]) == 0
    assert main([*g, "labels", "list", "grades"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split()[1:3] == ["1", "1"]  # 1 lens, graded A
    assert main([*g, "export", "mine", "-n", "20", "-o", str(tmp_path / "cands.fits"), "-o",
                 str(tmp_path / "cands.reg")]) == 0
    got = Table.read(tmp_path / "cands.fits")
    assert len(got) == 20 and list(got["rank"]) == list(range(1, 21))
    assert len(Regions.read(str(tmp_path / "cands.reg"), format="ds9")) == 20


def _version(data: Path) -> str:
    import torch

    ckpt = torch.load(data / "encoder" / "checkpoint.pt", map_location="cpu", weights_only=False)
    return ckpt["version"]
