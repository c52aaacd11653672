"""An active-learning round over the real Milvus server with a compact (quantised) index: the probe's ranking is
one inner-product search re-ranked exactly, training reads its vectors by id, nothing lists every stored id, and
the ranking agrees with an exact float32 pass over every vector."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from clf_helpers import survey

from lensdb.catalog import grading as store
from lensdb.catalog import queries
from lensdb.classifiers.features import ArrayFeatures, StoreFeatures, write_store
from lensdb.classifiers.registry import get_model
from lensdb.classifiers.scoring import rank_full_pass
from lensdb.core.config import load_settings
from lensdb.services import Services
from lensdb.services.config import ServiceConfig
from lensdb.services.grading import GradingConfig
from lensdb.vectordb.config import VectorDBConfig
from lensdb.vectordb.store import VectorStore


class _NoIdList(StoreFeatures):
    def ids(self):
        raise AssertionError("the round listed every stored id")


@pytest.mark.parametrize("kind", ["IVF_SQ8", "IVF_PQ"])
def test_a_round_on_a_compact_index_ranks_like_the_exact_float32_pass(sqlite_engine, sqlite_url, tmp_path,
                                                                       milvus_standalone, kind):
    engine = sqlite_engine
    ids, mask, raw = survey(engine, n=3000, n_lens=40, dim=16)
    rng = np.random.default_rng(4)
    graded = rng.choice(np.arange(40, 3000), 30, replace=False)
    store.write_grades(engine, "grades", "ann", [store.GradeWrite(int(ids[g]), "N") for g in graded])
    version = f"round-{kind.lower()}-{uuid.uuid4().hex[:8]}"
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"), database_url=sqlite_url,
                             milvus_uri=milvus_standalone)
    config = VectorDBConfig(dim=16, index_type=kind, ivf_nlist=16, ivf_nprobe=8, pq_m=4)
    vs = VectorStore.open(settings, version, dim=16, create=True, config=config)
    try:
        write_store(vs, engine, ids, raw)
        vs.flush(wait=True)
        vs.load()
        with Services.open(settings, ServiceConfig(encoder_version=version)) as services:
            services.grading.config = GradingConfig(label_set="grades", calibration_share=0.0, queue_size=50,
                                                    round_score_n=500)
            out = services.grading.run_round(grader="ann", features=_NoIdList(vs), survey=None, mag_z_max=None,
                                             epochs=5)
            model = get_model(engine, out["model"])
            ranked, _, _ = queries.ranking(engine, model.id)
            queue = services.grading.page(out["queue"], "ann", 0)
        exact = rank_full_pass(ArrayFeatures(ids, raw, version), model.weights, model.bias, n=len(ranked))
        assert out["kept"] == len(ranked) == 500
        assert len(set(ranked[:100].tolist()) & set(exact.ids[:100].tolist())) >= 95
        seen = set(ids[:40].tolist()) | set(ids[graded].tolist())
        shown = [item.object_id for item in queue.items]
        assert shown and not seen & set(shown)  # known lenses and graded objects are left out of the queue
    finally:
        vs.drop()
