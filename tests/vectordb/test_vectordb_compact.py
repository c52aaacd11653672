"""Compact (quantised) vector indexes on the real Milvus server: what 2.3.5 builds (IVF_SQ8, IVF_PQ) is searched
and scored with an exact re-rank of the shortlist against the stored float vectors; what it cannot build (the 2.6
types) and what Milvus Lite cannot build are refused by name, before anything is created."""

from __future__ import annotations

import dataclasses
import uuid

import numpy as np
import pytest
from vdb_helpers import make_columns

from lensdb.classifiers.features import ArrayFeatures, StoreFeatures
from lensdb.core.config import load_settings
from lensdb.core.errors import InvalidInput
from lensdb.vectordb.config import VectorDBConfig
from lensdb.vectordb.store import VectorStore

DIM = 32
N = 3000
#: What Milvus 2.3.5 builds; HNSW_SQ, HNSW_PQ and IVF_RABITQ need 2.6.
COMPACT = ["IVF_SQ8", "IVF_PQ"]


@pytest.fixture
def server_settings(tmp_path, milvus_standalone):
    return load_settings(env={}, data_dir=str(tmp_path / "data"), milvus_uri=milvus_standalone)


def _config(kind: str) -> VectorDBConfig:
    # nprobe = nlist / 4: the codes choose the shortlist from a quarter of the clusters
    return VectorDBConfig(dim=DIM, index_type=kind, ivf_nlist=16, ivf_nprobe=4, rerank_factor=4)


def _filled(settings, kind: str):
    cols = make_columns(N, DIM, seed=3)
    store = VectorStore.open(settings, f"compact-{uuid.uuid4().hex[:8]}", dim=DIM, create=True,
                             config=_config(kind))
    store.insert(cols)
    store.flush(wait=True)
    store.load()
    return store, cols


@pytest.mark.parametrize("kind", COMPACT)
def test_compact_index_search_is_reranked_exactly(server_settings, kind):
    store, cols = _filled(server_settings, kind)
    try:
        assert store.index_type == kind
        rng = np.random.default_rng(1)
        recall = []
        for qi in rng.choice(N, 10, replace=False):
            q = cols["vector"][qi]
            res = store.knn(q, k=20, include_query=True, with_vectors=True)
            exact = cols["vector"] @ q
            truth = set(cols["object_id"][np.argsort(-exact)[:20]].tolist())
            recall.append(len(truth & set(res.ids.tolist())) / 20)
            # distances are the exact cosines of the float vectors, in order, not the codes' estimates
            pos = res.ids - cols["object_id"][0]
            np.testing.assert_allclose(res.similarity, exact[pos], atol=1e-5)
            assert np.all(np.diff(res.similarity) <= 1e-7)
            np.testing.assert_allclose(res.vectors, cols["vector"][pos], atol=1e-6)
            assert res.ids[0] == cols["object_id"][qi]  # the query itself, found and ranked first
        assert np.mean(recall) >= 0.8, recall
    finally:
        store.drop()


@pytest.mark.parametrize("kind", COMPACT)
def test_probe_scoring_on_a_compact_index_matches_the_float32_ranking(server_settings, kind):
    """The probe's top N is an inner-product search with its weight vector: on the compact index, the top of the
    ranking agrees with the exact float32 pass, and its scores are the exact ones."""
    store, cols = _filled(server_settings, kind)
    try:
        w = np.random.default_rng(5).standard_normal(DIM).astype(np.float32) * 3
        got_ids, got_ip = StoreFeatures(store).search(w, 50)
        want_ids, want_ip = ArrayFeatures(cols["object_id"], cols["vector"]).search(w, 50)
        assert len(set(got_ids.tolist()) & set(want_ids.tolist())) >= 40
        exact = cols["vector"][got_ids - cols["object_id"][0]] @ w
        np.testing.assert_allclose(got_ip, exact, rtol=1e-4, atol=1e-4)
    finally:
        store.drop()


def test_switching_to_a_compact_index_and_back_keeps_the_float_vectors(server_settings):
    store, cols = _filled(server_settings, "HNSW")
    try:
        store.set_index("IVF_SQ8")
        assert store.index_type == "IVF_SQ8" and store.count() == N
        got = store.get(cols["object_id"][:5], fields=(), with_vectors=True)
        np.testing.assert_allclose(got["vector"], cols["vector"][:5], atol=1e-7)  # the floats, not the codes
        store.set_index("HNSW")
        res = store.knn(cols["vector"][7], k=1, include_query=True)
        assert res.ids[0] == cols["object_id"][7] and abs(res.similarity[0] - 1) < 1e-5
    finally:
        store.drop()


@pytest.mark.parametrize("kind", ["HNSW_SQ", "HNSW_PQ", "IVF_RABITQ"])
def test_index_types_of_milvus_2_6_are_refused_on_2_3_by_name(server_settings, kind):
    version = f"compact-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InvalidInput, match=rf"{kind} needs Milvus 2\.6\.0 or newer; the server at .* is v?2\.3"):
        VectorStore.open(server_settings, version, dim=DIM, create=True, config=_config(kind))
    with VectorStore.open(server_settings, version, dim=DIM, create=True, config=_config("HNSW")) as store:
        # nothing was created by the refused open (this one creates it), and a switch is refused the same way
        with pytest.raises(InvalidInput, match="needs Milvus 2.6"):
            store.set_index(kind)
        assert store.index_type == "HNSW"
        store.drop()


def test_milvus_lite_refuses_compact_indexes(tmp_path):
    settings = load_settings(env={}, data_dir=str(tmp_path / "d"), milvus_uri=str(tmp_path / "m.db"))
    with pytest.raises(InvalidInput, match="not built by Milvus Lite"):
        VectorStore.open(settings, "lite-compact", dim=DIM, create=True, config=_config("IVF_SQ8"))
    with VectorStore.open(settings, "lite-compact", dim=DIM, create=True, config=_config("FLAT")) as store:
        assert store.index_type == "FLAT"  # nothing half-made by the refusal


def test_bad_pq_m_is_refused_before_the_index_is_dropped(server_settings):
    store, _ = _filled(server_settings, "IVF_FLAT")
    try:
        store.config = dataclasses.replace(store.config, pq_m=5)
        with pytest.raises(InvalidInput, match="pq_m = 5 does not divide the vector dimension 32"):
            store.set_index("IVF_PQ")
        assert store.index_type == "IVF_FLAT" and store.count() == N
    finally:
        store.drop()


def test_unknown_index_type_names_the_choices():
    with pytest.raises(Exception, match="index_type"):
        VectorDBConfig.from_settings(None, index_type="DISKANN")
