"""Re-embedding a survey into a new compact collection on the real Milvus server: the same encoder version under
another collection prefix with a quantised index (``[vectordb] index_type``). The float vectors stored there are
the same as in the float collection (they stay the source of truth), and search goes through the same store API."""

from __future__ import annotations

import uuid

import numpy as np
from encoder_testdata import make_shard
from test_embed import SIZE, checkpoint  # noqa: F401 - the module's checkpoint fixture

from lensdb.core.config import load_settings
from lensdb.core.ids import make_object_id
from lensdb.services.embedding import embed_shards
from lensdb.vectordb.store import VectorStore

N = 24


def _settings(folder, uri, text: str):
    folder.mkdir(parents=True)
    (folder / "lensdb.toml").write_text(text)
    return load_settings(env={}, data_dir=str(folder), milvus_uri=uri)


def test_reembedding_into_a_new_compact_collection(tmp_path, milvus_standalone, checkpoint):  # noqa: F811
    ckpt, version = checkpoint
    prefix = f"t{uuid.uuid4().hex[:12]}"
    full = _settings(tmp_path / "full", milvus_standalone, f'[vectordb]\ncollection_prefix = "{prefix}"\n')
    compact = _settings(tmp_path / "compact", milvus_standalone,
                        f'[vectordb]\ncollection_prefix = "{prefix}c"\nindex_type = "IVF_SQ8"\nivf_nlist = 4\n')
    shard = make_shard(tmp_path / "s.h5", n=N, size=SIZE, seed=7, brick=14)
    embed_shards(full, [shard], ckpt, chunk_rows=8, device="cpu", precision="fp32")
    report = embed_shards(compact, [shard], ckpt, chunk_rows=8, device="cpu", precision="fp32")
    assert [r.status for r in report.shards] == ["embedded"]  # its own done-markers: a separate data folder
    ids = make_object_id(9010, 14, np.arange(N))
    with VectorStore.open(full, version) as a, VectorStore.open(compact, version) as b:
        try:
            assert a.name != b.name and a.index_type == "HNSW" and b.index_type == "IVF_SQ8"
            assert b.count() == N
            got_a, got_b = a.get(ids, with_vectors=True), b.get(ids, with_vectors=True)
            np.testing.assert_allclose(got_b["vector"], got_a["vector"], atol=1e-6)
            res = b.knn(int(ids[3]), k=5, include_query=True)
            assert res.ids[0] == ids[3] and abs(res.similarity[0] - 1) < 1e-5
            want = a.knn(int(ids[3]), k=5, include_query=True)
            assert res.ids.tolist() == want.ids.tolist()  # re-ranked exactly: the float collection's answer
        finally:
            a.drop()
            b.drop()
