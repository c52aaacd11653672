"""Training and validation sets: the 70/30 split, nested ratios, near-lens exclusion, capped validation."""

import numpy as np
import pytest
from clf_helpers import add_labels, add_sources

from lensdb.classifiers.sampling import PAPER_RATIOS, build_sets, load_pools
from lensdb.core.errors import InvalidInput, NotFound


def _catalogue(engine, n=2500, n_lens=20):
    ids = add_sources(engine, n)
    add_labels(engine, "known", lenses=ids[:n_lens])
    return ids


def test_split_is_70_30_by_seed_and_sets_are_nested(engine):
    ids = _catalogue(engine)
    pools = load_pools(engine)
    sets = build_sets(pools, ratios=PAPER_RATIOS, val_ratio=10, seed=3)
    assert len(sets.val_pos) == 6 and len(sets.train_pos) == 14
    assert set(sets.val_pos) | set(sets.train_pos) == set(ids[:20].tolist())
    assert len(sets.val_neg) == 60 and sets.val_ratio == 10
    previous = set()
    for ratio in PAPER_RATIOS:
        tr, y = sets.train(ratio)
        assert y.sum() == 14
        negatives = set(tr[y == 0].tolist())
        assert previous <= negatives  # every larger set holds the smaller ones
        assert not negatives & set(sets.val_neg.tolist())  # training and validation never share a non-lens
        assert not negatives & set(ids[:20].tolist())
        previous = negatives
    assert sets.n_neg(1) == 14 and sets.n_neg(100) == 1400
    assert sets.capped(1000) and sets.n_neg(1000) == sets.n_neg(10_000) == len(sets.neg_pool)
    assert sets.distinct_ratios() == (1, 10, 100, 1000)
    again = build_sets(pools, ratios=PAPER_RATIOS, val_ratio=10, seed=3)
    assert np.array_equal(again.neg_pool, sets.neg_pool) and np.array_equal(again.val_pos, sets.val_pos)
    other = build_sets(pools, ratios=PAPER_RATIOS, val_ratio=10, seed=4)
    assert not np.array_equal(other.val_pos, sets.val_pos)
    d = sets.describe(4000)
    assert d["capped"] and d["n_train_pos"] == 14 and d["val_ratio_achieved"] == 10
    assert d["train_sha256"] != again.describe(100)["train_sha256"]


def test_validation_falls_back_to_the_largest_ratio_the_data_allow(engine):
    _catalogue(engine, n=520, n_lens=20)
    sets = build_sets(load_pools(engine), ratios=(1, 10_000), val_ratio=10_000, seed=0)
    # 500 candidates cannot give 6 x 10,000: validation keeps its 30 % share, about the survey's own ratio.
    assert len(sets.val_neg) == 150
    assert sets.val_ratio == 25 and "requested 1:10000" in sets.summary()
    assert len(sets.neg_pool) == 350


def test_near_lens_and_labelled_sources_are_never_non_lenses(engine):
    ids = _catalogue(engine, n=400, n_lens=10)
    near = ids[10:60]
    add_labels(engine, "other list", near=near)
    sets = build_sets(load_pools(engine), ratios=(1000,), val_ratio=1000, seed=1)
    drawn = set(sets.val_neg.tolist()) | set(sets.neg_pool.tolist())
    assert drawn and not drawn & set(near.tolist())
    assert not drawn & set(ids[:10].tolist())
    assert len(drawn) == 400 - 10 - 50


def test_source_filter_survey_and_magnitude(engine):
    south = add_sources(engine, 200, mag_z=18.0)
    faint = add_sources(engine, 50, mag_z=21.0)
    north = add_sources(engine, 50, survey="north")
    add_labels(engine, "known", lenses=np.r_[south[:4], north[:3]])
    pools = load_pools(engine)  # the paper's south, mag_z < 20
    assert set(pools.known_lenses) == set(south[:4].tolist())
    assert not set(pools.candidates) & (set(faint.tolist()) | set(north.tolist()))
    assert pools.selection["known_lenses_left_out"] == 3
    both = load_pools(engine, survey=None, mag_z_max=None)
    assert len(both.known_lenses) == 7 and len(both.candidates) == 300 - 7
    only = load_pools(engine, available=south[::2])
    assert set(only.candidates) <= set(south[::2].tolist())


def test_no_lenses_and_unknown_sets_are_clear_errors(engine):
    ids = add_sources(engine, 50)
    with pytest.raises(InvalidInput, match="no lenses are labelled"):
        load_pools(engine)
    add_labels(engine, "known", lenses=ids[:1])
    with pytest.raises(InvalidInput, match="need at least 2"):
        load_pools(engine)
    with pytest.raises(NotFound, match="no lens list called nope"):
        load_pools(engine, label_sets=("nope",))
    add_labels(engine, "second", lenses=ids[1:2])
    with pytest.raises(InvalidInput, match="ratios"):
        build_sets(load_pools(engine), ratios=(0,))
