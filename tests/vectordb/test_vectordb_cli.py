"""``lensdb similarity build | get | merge`` on a Milvus Lite file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from vdb_helpers import DIM, make_columns

from lensdb.cli import main
from lensdb.vectordb.config import VectorDBConfig
from lensdb.vectordb.similarity.builder import similarity_topk
from lensdb.vectordb.similarity.storage import SimilarityArray
from lensdb.vectordb.store import VectorStore


@pytest.fixture
def filled(file_settings):
    cols = make_columns(800, seed=3)
    with VectorStore.open(
        file_settings, "cli-enc", dim=DIM, create=True, config=VectorDBConfig(dim=DIM, index_type="FLAT")
    ) as store:
        store.insert(cols)
    flags = ["--data-dir", str(file_settings.data_dir), "--milvus-uri", file_settings.milvus_uri]
    return flags, cols, file_settings


def test_build_then_get(filled, capsys):
    flags, cols, settings = filled
    assert (
        main(
            [
                *flags,
                "similarity",
                "build",
                "--encoder-version",
                "cli-enc",
                "--k",
                "15",
                "--chunk-rows",
                "300",
                "--no-progress",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["chunks_written"] == 3 and out["folder"].endswith("similarity/cli-enc")
    ref_ids, ref_sims = similarity_topk(cols["object_id"], cols["vector"], cols["mag_r"], 15, 0.5)
    assert main([*flags, "similarity", "get", str(cols["object_id"][5]), "--encoder-version", "cli-enc", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["neighbours"] == ref_ids[5][ref_ids[5] >= 0].tolist()
    assert (
        main([*flags, "similarity", "get", str(cols["object_id"][5]), "--encoder-version", "cli-enc", "--top", "3"])
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "rank\tobject_id\tsimilarity" and len(lines) == 4
    # an unknown id, an unknown encoder version and a bad shard are errors with a message, status 2
    assert main([*flags, "similarity", "get", "7", "--encoder-version", "cli-enc"]) == 2
    assert "not in the similarity array" in capsys.readouterr().err
    assert main([*flags, "similarity", "build", "--encoder-version", "nope", "--no-progress"]) == 2
    assert "no vectors for encoder version" in capsys.readouterr().err
    assert main([*flags, "similarity", "build", "--encoder-version", "cli-enc", "--shard", "2/2"]) == 2
    assert "--shard" in capsys.readouterr().err


def test_sharded_build_and_merge(filled, tmp_path, capsys):
    flags, cols, settings = filled
    for i in range(2):
        assert (
            main(
                [
                    *flags,
                    "similarity",
                    "build",
                    "--encoder-version",
                    "cli-enc",
                    "--k",
                    "10",
                    "--chunk-rows",
                    "200",
                    "--shard",
                    f"{i}/2",
                    "--out",
                    str(tmp_path / f"s{i}"),
                    "--no-progress",
                ]
            )
            == 0
        )
    assert main(["similarity", "merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "m")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["chunks_done"] == 4
    rows, nbr, _ = SimilarityArray(tmp_path / "m").load_all()
    ref_ids, _ = similarity_topk(cols["object_id"], cols["vector"], cols["mag_r"], 10, 0.5)
    pos = {int(i): r for r, i in enumerate(cols["object_id"])}
    np.testing.assert_array_equal(nbr, ref_ids[[pos[int(i)] for i in rows]])


def test_help_explains_inputs_outputs_and_defaults(capsys):
    for cmd in (["similarity", "build"], ["similarity", "get"], ["similarity", "merge"]):
        with pytest.raises(SystemExit) as exc:
            main([*cmd, "--help"])
        assert exc.value.code == 0
    text = capsys.readouterr().out
    for words in ("Reads:", "Writes:", "default 999", "default 0.5", "JOB_COMPLETION_INDEX", "O(1)"):
        assert words in text
