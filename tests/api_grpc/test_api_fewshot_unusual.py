"""Few-shot queries (several positives and negatives at once) and the anomaly ranking, over the wire and in
process, against the same computation on the stored vectors; bad examples get clear errors."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from test_api_search import assert_hits, brute

from lensdb.api_grpc.client import ApiError
from lensdb.services import anomaly, fewshot
from lensdb.services.types import Examples, SimilarQuery


def test_few_shot_centroid_matches_brute_force_and_leaves_the_examples_out(world, server, client):
    pos, neg = [int(i) for i in world.ids[[1, 4, 9]]], [int(world.ids[20])]
    q = fewshot.query_vector(world.vectors[[1, 4, 9]], world.vectors[[20]], method="centroid")
    res = client.similar(positives=pos, negatives=neg, k=12)
    ids, sims = brute(world, q, 12, exclude=pos + neg)
    assert_hits(res, ids, sims)
    assert not set(res.ids) & set(pos + neg) and res.query_object_id is None
    local = server.services.search.similar(SimilarQuery(k=12, examples=Examples(tuple(pos), tuple(neg))))
    assert [h.object.object_id for h in local.hits] == res.ids


def test_few_shot_probe_ranks_by_the_fitted_direction(world, client):
    pos = [int(i) for i in world.lenses[:4]]
    res = client.similar(positives=pos, negatives=[int(world.ids[0])], method="probe", k=20)
    assert len(res.hits) == 20 and not set(res.ids) & set(pos)
    sims = [h.similarity for h in res.hits]
    assert sims == sorted(sims, reverse=True)
    # The query is a unit direction: the hits' similarities are their stored vectors' dot products with it.
    first = world.vectors[world.index(res.ids[0])]
    last = world.vectors[world.index(res.ids[-1])]
    assert float(first @ first) == pytest.approx(1.0, abs=1e-4) and sims[0] >= sims[-1]
    assert np.isfinite([first, last]).all()


@pytest.mark.parametrize("kwargs, code, text", [
    ({"positives": []}, grpc.StatusCode.INVALID_ARGUMENT, "at least one positive example"),
    ({"positives": [987654321]}, grpc.StatusCode.NOT_FOUND, "object_id 987654321"),
    ({"positives": "both"}, grpc.StatusCode.INVALID_ARGUMENT, "both as a positive and as a negative"),
    ({"positives": "first", "method": "magic"}, grpc.StatusCode.INVALID_ARGUMENT, "not one of centroid, probe"),
    ({"positives": [-3]}, grpc.StatusCode.INVALID_ARGUMENT, "non-negative"),
])
def test_bad_examples_get_a_clear_error(world, client, kwargs, code, text):
    kwargs = dict(kwargs)
    if kwargs["positives"] == "both":
        kwargs.update(positives=[int(world.ids[2])], negatives=[int(world.ids[2])])
    elif kwargs["positives"] == "first":
        kwargs["positives"] = [int(world.ids[2])]
    with pytest.raises(ApiError) as exc:
        client.similar(k=5, **kwargs)
    assert exc.value.code == code and text in exc.value.details


def test_unusual_ranks_like_the_scores_of_the_stored_vectors(world, server, client):
    scores = anomaly.anomaly_scores(world.vectors, "knn", 10)
    want = world.ids[np.lexsort((world.ids, -scores))][:15]
    res = client.unusual(15)
    assert res.method == "knn" and res.encoder_version == world.encoder_version
    assert [h.rank for h in res.hits] == list(range(1, 16))
    assert [h.object.object_id for h in res.hits] == want.tolist()
    np.testing.assert_allclose([h.score for h in res.hits], np.sort(scores)[::-1][:15], atol=1e-5)
    i = world.index(res.hits[0].object.object_id)
    assert res.hits[0].object.ra == pytest.approx(world.columns["ra"][i])
    skip = [int(want[0])]
    assert [h.object.object_id for h in client.unusual(3, exclude_ids=skip).hits] == want[1:4].tolist()
    forest = client.unusual(5, method="iforest")
    assert forest.method == "iforest" and len(forest.hits) == 5
    local = server.services.search.unusual(15)
    assert [h.object.object_id for h in local.hits] == want.tolist()


@pytest.mark.parametrize("kwargs, text", [
    ({"k": 0}, "k must"), ({"k": 5, "method": "zscore"}, "not one of knn, iforest"),
    ({"k": 5, "neighbours": 5000}, "neighbours"),
])
def test_bad_unusual_requests_are_invalid_arguments(client, kwargs, text):
    with pytest.raises(ApiError) as exc:
        client.unusual(**kwargs)
    assert exc.value.code == grpc.StatusCode.INVALID_ARGUMENT and text in exc.value.details
