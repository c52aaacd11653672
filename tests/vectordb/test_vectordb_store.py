"""The store on real engines: a Milvus Lite file and a Milvus Lite server over http."""

from __future__ import annotations

import numpy as np
import pytest
from lite_server import start_lite_server, stop_process
from vdb_helpers import DIM, with_index

from lensdb.core.config import load_settings
from lensdb.core.errors import Conflict, InvalidInput, NotFound
from lensdb.vectordb import collection, naming
from lensdb.vectordb.partitions import MagBins, all_partitions
from lensdb.vectordb.store import VectorStore


def test_create_makes_every_partition_and_rows_land_in_theirs(settings, version, config, columns):
    with VectorStore.open(settings, version, dim=DIM, create=True, config=config) as store:
        assert set(store.client.list_partitions(store.name)) >= set(all_partitions(MagBins(config.mag_r_edges)))
        cols = columns(600)
        assert store.insert(cols) == 600
        counts = store.partition_counts()
        assert sum(counts.values()) == 600 == store.count()
        expected = {}
        bins = MagBins(config.mag_r_edges)
        for s, m in zip(cols["survey"], cols["mag_r"], strict=True):
            name = naming.partition_name(s, bins.labels[int(bins.bin_of(np.array([m]))[0])])
            expected[name] = expected.get(name, 0) + 1
        assert {p: c for p, c in counts.items() if c} == expected
        got = store.get([cols["object_id"][7], 999_999_999], ("mag_r", "survey", "shard", "shard_row"))
        assert got["object_id"].tolist() == [cols["object_id"][7]]
        assert got["mag_r"][0] == pytest.approx(cols["mag_r"][7]) and got["shard_row"][0] == 7


def test_bad_writes_are_refused_and_leave_the_collection_intact(settings, version, config, columns):
    with VectorStore.open(settings, version, dim=DIM, create=True, config=config) as store:
        cols = columns(100)
        store.insert(cols)
        fresh = columns(50, seed=1, start_id=50_000)
        bad_vectors = fresh["vector"].copy()
        bad_vectors[49, 3] = np.nan
        cases = [
            ({**fresh, "vector": np.ones((50, DIM + 1), np.float32)}, InvalidInput, "shape"),
            ({**fresh, "vector": bad_vectors}, InvalidInput, "NaN"),
            ({**fresh, "survey": np.array(["south"] * 49 + ["mars"])}, InvalidInput, "survey"),
            # 49 new ids and one already stored: nothing at all is written
            ({**fresh, "object_id": np.r_[fresh["object_id"][:49], cols["object_id"][0]]}, Conflict, "already"),
        ]
        for bad, error, message in cases:
            with pytest.raises(error, match=message):
                store.insert(bad)
            assert store.count() == 100
        assert store.get(fresh["object_id"][:49], ("mag_r",))["object_id"].size == 0
        with pytest.raises(InvalidInput, match="shape"):
            store.upsert({**cols, "vector": np.ones((100, 3), np.float32)})
        assert store.count() == 100


def test_upsert_moves_rows_between_partitions_and_delete(settings, version, config, columns):
    with VectorStore.open(settings, version, dim=DIM, create=True, config=config) as store:
        cols = columns(40, mag_r=np.full(40, 17.2, np.float32), survey=np.array(["south"] * 40))
        store.insert(cols)
        moved = {**cols, "mag_r": np.full(40, 21.7, np.float32), "survey": np.array(["north"] * 40)}
        assert store.upsert(moved) == 40
        counts = store.partition_counts()
        assert counts["south_magr_17_17p5"] == 0 and counts["north_magr_21p5_22"] == 40
        assert store.count() == 40
        assert store.delete(cols["object_id"][:10]) == 10
        assert store.count() == 30
        with pytest.raises(InvalidInput):
            store.delete(["1 or 1==1"])


def test_two_encoder_versions_never_mix(settings, version, config, columns):
    other = version + "-b"
    with (
        VectorStore.open(settings, version, dim=DIM, create=True, config=config) as a,
        VectorStore.open(settings, other, dim=DIM, create=True, config=config) as b,
    ):
        assert a.name != b.name
        a.insert(columns(50, seed=1, start_id=1))
        b.insert(columns(30, seed=2, start_id=10_000))
        assert a.count() == 50 and b.count() == 30
        hits = a.knn(b.get([10_000], (), with_vectors=True)["vector"][0], k=50)
        assert set(hits.ids.tolist()) <= set(range(1, 51))
        # a collection that records version A refuses to be opened as version B
        with pytest.raises(Conflict, match="encoder version"):
            collection.describe(a.client, a.name, other, None, config)
    with pytest.raises(Conflict, match="dimension|-d vectors"):
        VectorStore.open(settings, version, dim=DIM * 2, config=config)
    with pytest.raises(NotFound, match="no vectors for encoder version"):
        VectorStore.open(settings, version + "-missing", config=config)


def test_index_types_load_release_and_drop(settings, version, config, columns):
    with VectorStore.open(settings, version, dim=DIM, create=True, config=with_index(config, "HNSW")) as store:
        assert store.index_type == "HNSW"
        cols = columns(300)
        store.insert(cols)
        for kind in ("IVF_FLAT", "FLAT", "HNSW"):
            store.set_index(kind)
            assert store.index_type == kind
            hit = store.knn(int(cols["object_id"][0]), k=1, include_query=True)
            assert hit.ids[0] == cols["object_id"][0] and hit.similarity[0] == pytest.approx(1.0, abs=1e-5)
        store.release()
        store.load()
        assert store.count() == 300
        store.release()  # writes after a release load the collection again (the duplicate check queries it)
        store.insert(columns(5, seed=8, start_id=70_000))
        assert store.count() == 305
        store.drop()
    with pytest.raises(NotFound):
        VectorStore.open(settings, version, config=config)


def test_lite_file_persists_across_a_restart(file_settings, version, config, columns):
    cols = columns(200)
    with VectorStore.open(file_settings, version, dim=DIM, create=True, config=config) as store:
        store.insert(cols)
        store.flush(wait=True)  # seal the rows into indexed segments, as the embedding job does at its end
    # closing the last store stops the in-process server: reopening reads the file again
    with VectorStore.open(file_settings, version, config=config) as store:
        assert store.count() == 200 and store.dim == DIM
        assert store.knn(int(cols["object_id"][3]), k=1, include_query=True).ids[0] == cols["object_id"][3]


def test_lite_server_persists_across_a_restart(tmp_path, version, config, columns):
    proc, uri = start_lite_server(tmp_path / "server-data")
    try:
        settings = load_settings(env={}, data_dir=str(tmp_path), milvus_uri=uri)
        with VectorStore.open(settings, version, dim=DIM, create=True, config=config) as store:
            store.insert(columns(120))
    finally:
        stop_process(proc)
    proc, uri = start_lite_server(tmp_path / "server-data")
    try:
        settings = load_settings(env={}, data_dir=str(tmp_path), milvus_uri=uri)
        with VectorStore.open(settings, version, config=config) as store:
            assert store.count() == 120
            assert store.partition_counts() and sum(store.partition_counts().values()) == 120
    finally:
        stop_process(proc)


def test_writes_are_seen_by_the_next_check_whatever_the_collection_consistency(settings, version, config, columns):
    """A collection created with Bounded consistency (reads may lag writes on a server): the duplicate check of the
    next write and a count still see every write before them (they ask for Strong)."""
    import dataclasses

    bounded = dataclasses.replace(config, consistency_level="Bounded")
    with VectorStore.open(settings, version, dim=DIM, create=True, config=bounded) as store:
        cols = columns(50)
        store.insert(cols)
        assert store.count() == 50
        with pytest.raises(Conflict, match="already stored"):
            store.insert(cols)
        assert store.count() == 50


def test_a_shard_snapshot_replaces_exactly_the_stored_rows_without_a_read_per_batch(settings, version, config,
                                                                                     columns):
    """The embedding job's write path: one ``stored`` read for a whole shard, then batches written from it. A first
    run (nothing stored in the id range) inserts; a re-run after a kill replaces what landed and inserts the rest:
    exactly one row per object either way, and a row of another shard is still refused."""
    with VectorStore.open(settings, version, dim=DIM, create=True, config=config) as store:
        cols = columns(60, shard=np.array(["s.h5"] * 60), shard_row=np.arange(60, dtype=np.int64))
        first = store.stored(cols["object_id"])
        assert first == {}
        half = {k: v[:30] for k, v in cols.items()}
        assert store.upsert(half, same_source=True, stored=first) == 30  # a first run's batch: an insert
        assert store.count() == 30
        again = store.stored(cols["object_id"])  # the re-run's snapshot sees the 30 rows that landed
        assert sorted(again) == cols["object_id"][:30].tolist()
        assert set(again[int(cols["object_id"][0])]) >= {"survey", "mag_r", "shard", "shard_row"}
        moved = {**cols, "mag_r": np.full(60, 22.2, np.float32)}  # a changed r bin moves the replaced rows
        for s in range(0, 60, 20):
            store.upsert({k: v[s:s + 20] for k, v in moved.items()}, same_source=True, stored=again)
        assert store.count() == 60
        assert len(store.get(cols["object_id"])["object_id"]) == 60
        assert sum(store.partition_counts().values()) == 60
        other = {**{k: v[:5] for k, v in cols.items()}, "shard": np.array(["other.h5"] * 5)}
        with pytest.raises(Conflict, match="two shards hold the same object id"):
            store.upsert(other, same_source=True, stored=store.stored(other["object_id"]))
        with pytest.raises(InvalidInput, match="lack field"):
            store.upsert(other, same_source=True, stored={int(other["object_id"][0]): {"object_id": 1}})
        assert store.count() == 60
