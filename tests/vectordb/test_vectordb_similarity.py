"""The windowed similarity array against masked brute force; sharding, resumption, lookup, bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from lensdb.core.errors import Conflict, InvalidInput, NotFound
from lensdb.core.partition import parse_partition as parse_shard
from lensdb.vectordb.config import SimilarityConfig
from lensdb.vectordb.similarity.builder import build_similarity, similarity_topk
from lensdb.vectordb.similarity.storage import SimilarityArray, build_index, merge

K, WINDOW = 40, 0.5


def data(n=2500, dim=24, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    mags = rng.uniform(17, 21, n).astype(np.float32)
    mags[:50] = mags[50]  # a run of equal magnitudes: ties in the row order
    ids = rng.choice(10**12, n, replace=False).astype(np.int64)
    return ids, v, mags


def brute(ids, v, mags, k=K, window=WINDOW):
    """Masked brute force in float64: |dmag| < window, self excluded; (ids, sims) with -1 / NaN padding."""
    s = v.astype(np.float64) @ v.astype(np.float64).T
    m = mags.astype(np.float64)
    s[np.abs(m[:, None] - m[None, :]) >= window] = -np.inf
    np.fill_diagonal(s, -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    sims = np.take_along_axis(s, order, axis=1)
    return np.where(np.isinf(sims), -1, ids[order]), np.where(np.isinf(sims), np.nan, sims)


def assert_rows_equal(got_ids, got_sims, ref_ids, ref_sims):
    np.testing.assert_allclose(got_sims, ref_sims, atol=2e-6)
    # ids may only differ where two similarities tie to float32 precision
    for r, c in zip(*np.nonzero(got_ids != ref_ids), strict=True):
        row = ref_sims[r]
        assert any(abs(row[c] - row[j]) < 2e-6 for j in (c - 1, c + 1) if 0 <= j < len(row)), (r, c)


@pytest.mark.parametrize("backend", ["torch", "faiss", "torch-bf16"])
def test_equals_masked_brute_force(backend):
    ids, v, mags = data()
    cfg = SimilarityConfig(k=K, window=WINDOW, block_rows=200, tile_rows=333, backend=backend)
    got_ids, got_sims = similarity_topk(ids, v, mags, K, WINDOW, config=cfg)
    assert_rows_equal(got_ids, got_sims, *brute(ids, v, mags))
    assert got_ids.dtype == np.int64 and got_sims.dtype == np.float32


def test_rows_with_few_candidates_are_padded():
    ids, v, mags = data(n=300)
    mags[:3] = [10.0, 10.2, 30.0]  # two isolated bright objects, one alone
    got_ids, got_sims = similarity_topk(ids, v, mags, K, WINDOW, config=SimilarityConfig(k=K, block_rows=64))
    assert got_ids[0, 0] == ids[1] and (got_ids[0, 1:] == -1).all() and np.isnan(got_sims[0, 1:]).all()
    assert (got_ids[2] == -1).all()
    assert_rows_equal(got_ids, got_sims, *brute(ids, v, mags))


def _cfg(**kw):
    return SimilarityConfig(k=K, window=WINDOW, chunk_rows=300, block_rows=128, tile_rows=500, **kw)


def test_shards_merge_to_the_unsharded_result(tmp_path):
    ids, v, mags = data()
    build_similarity(ids, v, mags, tmp_path / "all", config=_cfg())
    whole = SimilarityArray(tmp_path / "all").load_all()
    for i in range(3):  # shards into one shared folder
        build_similarity(ids, v, mags, tmp_path / "shared", config=_cfg(), shard=(i, 3))
    for i in range(4):  # shards into separate folders, then merged
        report = build_similarity(ids, v, mags, tmp_path / f"s{i}", config=_cfg(), shard=(i, 4))
        assert report.chunks_written >= 1
    assert merge([tmp_path / f"s{i}" for i in range(4)], tmp_path / "merged") == 9
    for folder in ("shared", "merged"):
        rows, nbr, sims = SimilarityArray(tmp_path / folder).load_all()
        np.testing.assert_array_equal(rows, whole[0])
        np.testing.assert_array_equal(nbr, whole[1])
        np.testing.assert_array_equal(sims, whole[2])
    ref_ids, ref_sims = brute(ids, v, mags)
    pos = {int(i): r for r, i in enumerate(ids)}
    order = np.array([pos[int(i)] for i in whole[0]])
    assert_rows_equal(whole[1], whole[2], ref_ids[order], ref_sims[order])


def test_lookup_is_by_object_id(tmp_path):
    ids, v, mags = data()
    build_similarity(ids, v, mags, tmp_path, config=_cfg(), encoder_version="enc-x")
    arr = SimilarityArray(tmp_path)
    ref_ids, ref_sims = brute(ids, v, mags)
    for row in (0, 17, 1234, len(ids) - 1):
        nbr, sims = arr.get(int(ids[row]))
        assert_rows_equal(nbr[None], sims[None], ref_ids[row : row + 1], ref_sims[row : row + 1])
    with pytest.raises(NotFound, match="not in the similarity array"):
        arr.get(int(ids.max()) + 1)
    with pytest.raises(InvalidInput):
        arr.get("12")
    assert json.loads((tmp_path / "plan.json").read_text())["encoder_version"] == "enc-x"


def test_hash_index_finds_every_id():
    rng = np.random.default_rng(2)
    ids = np.unique(rng.integers(0, 2**62, 50_000))
    keys, rows = build_index(ids)
    assert len(keys) >= 2 * len(ids) and (np.sort(keys[keys >= 0]) == ids).all()
    assert (ids[rows[keys >= 0]] == keys[keys >= 0]).all()


def test_resume_skips_finished_chunks_and_refuses_other_inputs(tmp_path):
    ids, v, mags = data()
    first = build_similarity(ids, v, mags, tmp_path, config=_cfg())
    assert first.chunks_written == 9
    whole = SimilarityArray(tmp_path).load_all()
    os.remove(tmp_path / "chunks" / "chunk_000004.ids.npy")  # as if the job died while writing chunk 4
    with pytest.raises(NotFound, match="not built yet"):
        SimilarityArray(tmp_path).get(int(whole[0][4 * 300]))
    again = build_similarity(ids, v, mags, tmp_path, config=_cfg())
    assert (again.chunks_written, again.chunks_skipped) == (1, 8)
    for a, b in zip(SimilarityArray(tmp_path).load_all(), whole, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(Conflict, match="other inputs"):
        build_similarity(ids, v, mags + 0.01, tmp_path, config=_cfg())
    with pytest.raises(Conflict, match="k: 40 vs 41"):
        build_similarity(ids, v, mags, tmp_path, config=SimilarityConfig(k=41, chunk_rows=300))


def test_bad_input_is_refused(tmp_path):
    ids, v, mags = data(n=200)
    nan_mags = mags.copy()
    nan_mags[3] = np.nan
    cases = [
        ((ids, v, nan_mags), "mag_r"),
        ((ids, v * 2, mags), "L2-normalised"),
        ((np.r_[ids[:-1], ids[0]], v, mags), "unique"),
        ((ids, v[:, :5].astype(np.float64), mags), "float32"),
        ((ids[:10], v, mags), "vectors must be"),
        ((ids, np.where(np.arange(24) == 1, np.nan, v).astype(np.float32), mags), "NaN"),
    ]
    for (a, b, c), message in cases:
        with pytest.raises(InvalidInput, match=message):
            build_similarity(a, b, c, tmp_path / "bad", config=_cfg())
        assert not (tmp_path / "bad").exists()
    for text in ("3", "3/2", "a/b", "-1/4"):
        with pytest.raises(InvalidInput):
            parse_shard(text)
    with pytest.raises(InvalidInput):
        SimilarityConfig(window=0)
