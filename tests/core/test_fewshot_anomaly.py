"""The few-shot query vector and the anomaly scores on their own (numpy in, numpy out): what they compute, against a
direct computation, and their refusals."""

from __future__ import annotations

import numpy as np
import pytest

from lensdb.core.errors import InvalidInput
from lensdb.services.anomaly import anomaly_scores
from lensdb.services.fewshot import check_examples, query_vector


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture
def clusters():
    """Three tight clusters on the unit sphere in 16-d plus broad background, and an outlier far from everything."""
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(3, 16)))
    members = [unit(c + 0.15 * rng.normal(size=(30, 16))) for c in centres]
    background = unit(rng.normal(size=(300, 16)))
    return centres, members, background


def test_centroid_is_the_normalised_mean_minus_half_the_negatives(clusters):
    _, members, _ = clusters
    pos, neg = members[0][:5], members[1][:4]
    want = unit(unit(pos.mean(0)) - 0.5 * unit(neg.mean(0)))
    np.testing.assert_allclose(query_vector(pos, neg), want, atol=1e-6)
    np.testing.assert_allclose(query_vector(pos), unit(pos.mean(0)), atol=1e-6)
    # the negatives push the query away from their cluster
    assert float(query_vector(pos, neg) @ members[1].mean(0)) < float(query_vector(pos) @ members[1].mean(0))


def test_probe_finds_the_positives_cluster_against_negatives_and_background(clusters):
    centres, members, background = clusters
    q = query_vector(members[0][:3], members[1][:3], background, method="probe")
    assert q.shape == (16,) and q.dtype == np.float32 and abs(float(np.linalg.norm(q)) - 1) < 1e-5
    pool = np.concatenate([members[0][3:], members[1][3:], members[2], background])
    top = np.argsort(-(pool @ q))[:27]
    assert (top < 27).mean() > 0.9  # the rest of the positives' cluster ranks first


@pytest.mark.parametrize("args, kwargs, text", [
    ((np.zeros((0, 4)),), {}, "at least one positive"),
    ((np.ones((2, 4)), np.ones((1, 3))), {}, "negative vectors have 3 values"),
    ((np.ones((2, 4)),), {"method": "svm"}, "not one of centroid, probe"),
    ((np.ones((2, 4)),), {"method": "probe"}, "needs negatives or a background"),
    ((np.full((1, 4), np.nan),), {}, "NaN or infinite"),
    ((np.ones((1, 4)), np.ones((1, 4))), {"negative_weight": 1.0}, "cancel out"),
])
def test_query_vector_refusals(args, kwargs, text):
    with pytest.raises(InvalidInput, match=text):
        query_vector(*args, **kwargs)


def test_check_examples_drops_duplicates_and_refuses_bad_sets():
    pos, neg = check_examples([5, 3, 5], [9, 9], 10)
    assert pos.tolist() == [5, 3] and neg.tolist() == [9]
    with pytest.raises(InvalidInput, match="at least one positive"):
        check_examples([], [1], 10)
    with pytest.raises(InvalidInput, match="both as a positive and as a negative"):
        check_examples([1, 2], [2], 10)
    with pytest.raises(InvalidInput, match="at most 3 examples"):
        check_examples([1, 2], [3, 4], 3)


def test_knn_score_is_the_distance_to_the_kth_other_object(clusters):
    _, members, background = clusters
    x = np.concatenate([*members, background[:50]])
    got = anomaly_scores(x, "knn", neighbours=4, block=7)  # blocks smaller than the data
    sims = unit(x) @ unit(x).T
    np.fill_diagonal(sims, -np.inf)
    want = 1 - np.sort(sims, axis=1)[:, -4]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_both_scores_put_the_objects_off_the_bulk_first():
    rng = np.random.default_rng(0)
    c = unit(rng.normal(size=16))
    bulk = unit(c + 0.2 * rng.normal(size=(200, 16)))
    odd = unit(-c + 0.2 * rng.normal(size=(3, 16)))  # three objects on the far side of the sphere
    x = np.concatenate([bulk, odd])
    for method in ("knn", "iforest"):
        assert sorted(np.argsort(-anomaly_scores(x, method))[:3].tolist()) == [200, 201, 202], method


@pytest.mark.parametrize("x, kwargs, text", [
    (np.ones((5, 3)), {"method": "lof"}, "not one of knn, iforest"),
    (np.ones((5, 3)), {"neighbours": 5}, "needs more than 5 objects"),
    (np.ones((5, 3)), {"neighbours": 0}, "neighbours must be an integer >= 1"),
    (np.full((5, 3), np.nan), {}, "finite vectors"),
])
def test_anomaly_refusals(x, kwargs, text):
    with pytest.raises(InvalidInput, match=text):
        anomaly_scores(x, **kwargs)
