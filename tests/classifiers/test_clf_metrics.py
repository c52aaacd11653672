"""TP@N, precision@N and the recall curve on hand-made cases."""

import numpy as np
import pytest

from lensdb.classifiers.metrics import (
    default_top_n,
    precision_at,
    recall_curve,
    top_n,
    top_n_report,
    true_positives_at,
)
from lensdb.core.errors import InvalidInput


def test_tp_and_precision_at_n_by_hand():
    scores = [0.9, 0.8, 0.7, 0.1, 0.05]
    labels = [1, 0, 1, 0, 1]
    assert true_positives_at(scores, labels, 1) == 1
    assert true_positives_at(scores, labels, 2) == 1
    assert true_positives_at(scores, labels, 3) == 2
    assert precision_at(scores, labels, 3) == pytest.approx(2 / 3)
    rep = top_n_report(scores, labels, 4)
    assert (rep.tp, rep.n_pos, rep.n_total) == (2, 3, 5)
    assert rep.recall == pytest.approx(2 / 3)


def test_n_beyond_the_set_counts_every_object():
    rep = top_n_report([0.2, 0.1], [1, 0], 10)
    assert rep.tp == 1 and rep.precision == pytest.approx(0.5)


def test_ties_are_broken_by_position_deterministically():
    scores = np.array([0.5, 0.9, 0.5, 0.5])
    assert top_n(scores, 2).tolist() == [1, 0]
    assert true_positives_at(scores, [0, 0, 1, 0], 2) == 0
    assert true_positives_at(scores, [1, 0, 0, 0], 2) == 1
    big = np.r_[np.full(100, 0.5), 0.9]
    assert top_n(big, 3).tolist() == [100, 0, 1]  # argpartition path keeps the same tie rule


def test_default_n_scales_the_papers_1139_per_485_million():
    assert default_top_n(4_850_000) == 1139
    assert default_top_n(485_000) == 114
    assert default_top_n(100) == 1


def test_recall_curve_and_inspection_effort():
    # Ranking: lens, non, lens, non: recall 0.5 after 1, 1.0 after 3.
    curve = recall_curve([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0], sky_ratio=10)
    assert curve.found.tolist() == [1, 1, 2, 2]
    assert curve.recall.tolist() == [0.5, 0.5, 1.0, 1.0]
    # Recall 1 costs all lenses plus half the non-lenses: (1 + 0.5 * 10) / 11 of the survey.
    assert curve.inspection_for(1.0) == pytest.approx(6 / 11)
    assert curve.inspection_for(0.5) == pytest.approx(0.5 / 11)


def test_bad_inputs_are_refused():
    with pytest.raises(InvalidInput, match="labels"):
        top_n_report([0.1, 0.2], [1], 1)
    with pytest.raises(InvalidInput, match="NaN"):
        top_n_report([np.nan, 0.2], [1, 0], 1)
    with pytest.raises(InvalidInput, match="at least one lens"):
        recall_curve([0.1, 0.2], [0, 0])
    with pytest.raises(InvalidInput, match="at least 1"):
        top_n_report([0.1], [1], 0)
