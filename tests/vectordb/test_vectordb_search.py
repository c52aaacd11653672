"""Filtered kNN against brute force, on a Milvus Lite file, a Milvus Lite server and the real Milvus server."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from vdb_helpers import BACKENDS, DIM, backend_uri, make_columns

from lensdb.core import sky
from lensdb.core.config import load_settings
from lensdb.core.errors import InvalidInput, NotFound
from lensdb.core.filters import Cone, MagRange, MagWindow, ObjectFilter
from lensdb.vectordb.config import VectorDBConfig
from lensdb.vectordb.store import VectorStore

N = 3000
QUERY = 1000 + 17  # an object id of the populated collection


class Labels:
    """A stand-in label store: the catalogue implements the same one-method protocol."""

    def __init__(self, ids):
        self.ids = ids

    def labelled_ids(self, label_sets=()):
        return self.ids if not label_sets or "lenses" in label_sets else []


def _settings(kind, tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp(f"search-{kind}")
    uri = backend_uri(kind, tmp, request)
    return load_settings(env={}, data_dir=str(tmp), milvus_uri=uri)


@pytest.fixture(scope="module", params=BACKENDS)
def populated(request, tmp_path_factory):
    """A FLAT (exact) collection of N random objects plus 10 groups of 3 near-duplicates 5 arcsec apart."""
    cols = make_columns(N, seed=5)
    rng = np.random.default_rng(9)
    base = cols["vector"][:10]
    dup = make_columns(30, seed=6, start_id=900_000)
    vec = np.repeat(base, 3, axis=0) + 0.01 * rng.standard_normal((30, DIM)).astype(np.float32)
    dup["vector"] = (vec / np.linalg.norm(vec, axis=1, keepdims=True)).astype(np.float32)
    dup["ra"] = np.repeat(cols["ra"][:10], 3) + np.tile([0.0, 5 / 3600, 10 / 3600], 10)
    dup["dec"] = np.repeat(cols["dec"][:10], 3)
    dup["mag_r"] = np.repeat(cols["mag_r"][:10], 3)
    allc = {k: np.concatenate([cols[k], dup[k]]) for k in cols}
    settings = _settings(request.param, tmp_path_factory, request)
    store = VectorStore.open(
        settings, f"search-{request.param}", dim=DIM, create=True, config=VectorDBConfig(dim=DIM, index_type="FLAT")
    )
    store.insert(allc)
    yield store, allc
    store.drop()


def brute(cols, q, k, keep):
    """Exact top-k of the rows where ``keep`` holds: (ids, similarities)."""
    sims = cols["vector"].astype(np.float64) @ q.astype(np.float64)
    idx = np.flatnonzero(keep)
    order = idx[np.argsort(-sims[idx], kind="stable")[:k]]
    return cols["object_id"][order], sims[order]


def assert_same(result, ref_ids, ref_sims, tol=1e-5):
    assert len(result) == len(ref_ids)
    np.testing.assert_allclose(result.similarity, ref_sims, atol=tol)
    differ = np.flatnonzero(result.ids != ref_ids)
    for i in differ:  # only near-ties may swap places
        near = [abs(ref_sims[i] - ref_sims[j]) < tol for j in (i - 1, i + 1) if 0 <= j < len(ref_sims)]
        assert any(near), f"rank {i}: {result.ids[i]} vs {ref_ids[i]}"


def _case_masks(cols, qi):
    m = cols["mag_r"].astype(np.float64)
    qm = float(cols["mag_r"][qi])
    cone = sky.in_cone(cols["ra"], cols["dec"], 151.0, 2.0, 0.3)
    return {
        "none": (ObjectFilter(), np.ones(len(m), bool)),
        "survey": (ObjectFilter(surveys=("north",)), cols["survey"] == "north"),
        "mag ranges": (
            ObjectFilter(mag_ranges=(MagRange("g", 18, 20), MagRange("z", high=19))),
            (cols["mag_g"] >= 18) & (cols["mag_g"] < 20) & (cols["mag_z"] < 19),
        ),
        "window": (ObjectFilter(window=MagWindow(0.5)), np.abs(m - qm) < 0.5),
        "cone": (ObjectFilter(cone=Cone(151.0, 2.0, 0.3)), cone),
        "source types": (ObjectFilter(source_types=("DEV", "SER")), np.isin(cols["source_type"], ["DEV", "SER"])),
        "combined": (
            ObjectFilter(surveys=("south",), window=MagWindow(1.0), source_types=("EXP",)),
            (cols["survey"] == "south") & (np.abs(m - qm) < 1.0) & (cols["source_type"] == "EXP"),
        ),
    }


@pytest.mark.parametrize("case", ["none", "survey", "mag ranges", "window", "cone", "source types", "combined"])
def test_filters_match_brute_force(populated, case):
    store, cols = populated
    qi = int(np.flatnonzero(cols["object_id"] == QUERY)[0])
    flt, keep = _case_masks(cols, qi)[case]
    keep = keep & (cols["object_id"] != QUERY)
    result = store.knn(QUERY, k=25, filters=flt, output_fields=("mag_r", "survey", "source_type", "ra", "dec"))
    assert_same(result, *brute(cols, cols["vector"][qi], 25, keep))
    assert result.vectors is None and set(result.fields) == {"mag_r", "survey", "source_type", "ra", "dec"}


def test_window_prunes_partitions(populated):
    store, cols = populated
    qm = float(cols["mag_r"][cols["object_id"] == QUERY][0])
    result = store.knn(QUERY, k=5, filters=ObjectFilter(surveys=("south",), window=MagWindow(0.5)))
    bins = store.bins.bins_overlapping(qm - 0.5, qm + 0.5)
    assert len(bins) <= 3 and len(result.partitions) == len(bins)
    assert all(p.startswith("south_magr_") for p in result.partitions)
    assert store.knn(QUERY, k=5).partitions is None  # unfiltered: all partitions
    ranged = store.knn(QUERY, k=5, filters=ObjectFilter(mag_ranges=(MagRange("r", 30, 31),)))
    assert len(ranged) == 0 and ranged.partitions == ["south_magr_ge23", "north_magr_ge23"]


def test_excluded_ids_and_labelled_objects(populated):
    store, cols = populated
    qi = int(np.flatnonzero(cols["object_id"] == QUERY)[0])
    top = store.knn(QUERY, k=40).ids
    excluded, labelled = top[:10].tolist(), top[10:20].tolist()
    flt = ObjectFilter(exclude_ids=excluded, exclude_labelled=True, label_sets=("lenses",))
    result = store.knn(QUERY, k=20, filters=flt, labels=Labels(labelled))
    keep = ~np.isin(cols["object_id"], excluded + labelled + [QUERY])
    assert_same(result, *brute(cols, cols["vector"][qi], 20, keep))
    with pytest.raises(InvalidInput, match="label source"):
        store.knn(QUERY, k=5, filters=flt)
    # more exclusions than the expression holds: the rest are removed on the client side
    small = dataclasses.replace(store.config, max_expr_ids=3)
    store.config, saved = small, store.config
    try:
        again = store.knn(QUERY, k=20, filters=flt, labels=Labels(labelled))
    finally:
        store.config = saved
    assert again.ids.tolist() == result.ids.tolist()


def test_duplicates_of_one_galaxy_are_dropped(populated):
    store, cols = populated
    group = cols["object_id"][N : N + 3]  # three near-identical vectors within 10 arcsec
    result = store.knn(int(group[0]), k=10, filters=ObjectFilter(drop_duplicates_px=96), output_fields=())
    assert not set(group[1:]) & set(result.ids.tolist())  # within 96 px of the query itself
    plain = store.knn(int(group[0]), k=10, output_fields=())
    assert set(group[1:]) <= set(plain.ids.tolist())
    got = store.get(result.ids.tolist(), ("ra", "dec"))
    sep = sky.separation(got["ra"][:, None], got["dec"][:, None], got["ra"][None, :], got["dec"][None, :])
    np.fill_diagonal(sep, 1.0)
    assert sep.min() > 96 * sky.PIXEL_SCALE_ARCSEC / 3600


def test_raw_vector_queries_and_vectors_on_request(populated):
    store, cols = populated
    qi = int(np.flatnonzero(cols["object_id"] == QUERY)[0])
    raw = cols["vector"][qi] * 7.5  # raw encoder output: normalised by the search
    by_vector = store.knn(raw, k=10, with_vectors=True, output_fields=("mag_r",))
    by_id = store.knn(QUERY, k=10, include_query=True)
    assert by_vector.ids.tolist() == by_id.ids.tolist() and by_vector.ids[0] == QUERY
    rows = np.searchsorted(cols["object_id"][:N], by_vector.ids)
    np.testing.assert_allclose(by_vector.vectors, cols["vector"][rows], atol=1e-6)
    # vectors make hits large: pages shrink to fit the message limit, and still give the same answer
    store.config, saved = dataclasses.replace(store.config, max_message_bytes=3 * (4 * DIM + 512)), store.config
    try:
        small_pages = store.knn(raw, k=10, with_vectors=True, output_fields=("mag_r",))
    finally:
        store.config = saved
    assert small_pages.pages >= 4 and small_pages.ids.tolist() == by_vector.ids.tolist()
    centred = store.knn(raw, k=10, filters=ObjectFilter(window=MagWindow(0.3, centre=19.0)))
    got = store.get(centred.ids.tolist(), ("mag_r",))["mag_r"]
    assert (np.abs(got - 19.0) < 0.3).all()


HOSTILE = ['south" or 1==1 or survey=="', 'DEV"]) or true or (["', "1) or (1"]


def test_bad_and_hostile_input_is_refused(populated):
    store, cols = populated
    before = store.count()
    for text in HOSTILE:
        with pytest.raises(InvalidInput):
            store.knn(QUERY, filters=ObjectFilter(surveys=(text,)))
        with pytest.raises(InvalidInput):
            store.knn(QUERY, output_fields=(text,))
        with pytest.raises(InvalidInput):
            store.knn(text)
        with pytest.raises(InvalidInput):
            store.knn(QUERY, filters=ObjectFilter(exclude_ids=(text,)))
    bad_queries = [np.ones(DIM + 1), np.r_[np.nan, np.ones(DIM - 1)], np.zeros(DIM), "17", None, True]
    for q in bad_queries:
        with pytest.raises(InvalidInput):
            store.knn(q)
    for k in (0, -1, True, 2.5, store.config.max_k + 1):
        with pytest.raises(InvalidInput, match="k must be"):
            store.knn(QUERY, k=k)
    with pytest.raises(NotFound, match="not stored"):
        store.knn(123_456_789)
    with pytest.raises(InvalidInput, match="centre"):
        store.knn(np.ones(DIM), filters=ObjectFilter(window=MagWindow(0.5)))
    assert store.count() == before


@pytest.fixture(scope="module", params=BACKENDS)
def large(request, tmp_path_factory):
    """20,000 objects in 4-d: enough rows to ask for more hits than one request may return."""
    cols = make_columns(20_000, dim=4, seed=11)
    settings = _settings(request.param, tmp_path_factory, request)
    store = VectorStore.open(
        settings, f"large-{request.param}", dim=4, create=True, config=VectorDBConfig(dim=4, index_type="FLAT")
    )
    store.insert(cols)
    yield store, cols
    store.drop()


def test_k_above_the_engine_topk_is_paged(large):
    store, cols = large
    q = cols["vector"][0]
    result = store.knn(int(cols["object_id"][0]), k=18_000, output_fields=())
    assert result.pages == 2 and len(result) == 18_000
    keep = cols["object_id"] != cols["object_id"][0]
    assert_same(result, *brute(cols, q, 18_000, keep), tol=1e-5)
    # small pages plus a client-side cone: many pages, same answer as brute force
    store.config, saved = dataclasses.replace(store.config, max_topk=700), store.config
    try:
        flt = ObjectFilter(cone=Cone(151.0, 2.0, 0.6))
        paged = store.knn(q, k=2500, filters=flt, output_fields=())
    finally:
        store.config = saved
    assert paged.pages > 3
    keep = sky.in_cone(cols["ra"], cols["dec"], 151.0, 2.0, 0.6)
    assert_same(paged, *brute(cols, q, 2500, keep))


def test_hnsw_finds_the_true_neighbours(settings, version, columns):
    cols = columns(2000, seed=4)
    cfg = VectorDBConfig(dim=DIM)  # HNSW, ef from k
    with VectorStore.open(settings, version, dim=DIM, create=True, config=cfg) as store:
        store.insert(cols)
        recall = []
        for qi in range(0, 200, 20):
            flt = ObjectFilter(window=MagWindow(0.5))
            got = store.knn(int(cols["object_id"][qi]), k=20, filters=flt, output_fields=())
            m = cols["mag_r"].astype(np.float64)
            keep = (np.abs(m - m[qi]) < 0.5) & (np.arange(2000) != qi)
            ref, _ = brute(cols, cols["vector"][qi], 20, keep)
            recall.append(len(set(got.ids.tolist()) & set(ref.tolist())) / len(ref))
        assert np.mean(recall) >= 0.95
