"""Probe RPCs: model listing, paged candidates with filters, on-the-fly scores against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf.json_format import MessageToDict


def test_list_models_with_metrics(world, client):
    models = client.models()
    probe = next(m for m in models if m.name == world.probe_name)
    assert probe.kind == "probe" and probe.encoder_version == world.encoder_version and probe.has_head
    assert MessageToDict(probe.metrics) == {"val_tp": 5.0, "top_n": 20.0, "val_precision": 0.25}
    params = MessageToDict(probe.params)
    assert params["l2"] == 0.0 and "weights" not in params["head"] and params["head"]["dim"] == 2048
    assert probe.n_predictions == len(world.ids)
    assert client.models(kinds=["encoder"]) == []


def test_candidates_page_through_the_ranking(world, client):
    first = client.candidates(world.probe_name, page_size=7)
    assert [c.rank for c in first.candidates] == list(range(1, 8))
    assert [c.object.object_id for c in first.candidates] == world.ranked[:7].tolist()
    second = client.candidates(world.probe_name, page_size=7, page_token=first.next_page_token)
    assert [c.rank for c in second.candidates] == list(range(8, 15))
    every = list(client.iter_candidates(world.probe_name, 10_000, page_size=50))
    assert [c.object.object_id for c in every] == world.ranked.tolist()
    scores = [c.score for c in every]
    assert scores == sorted(scores, reverse=True)


def test_candidates_by_model_id_carry_labels(world, client):
    model_id = next(m.id for m in client.models() if m.name == world.probe_name)
    cands = list(client.iter_candidates(str(model_id), 10_000, page_size=100))
    labelled = {c.object.object_id: c for c in cands if c.label_classes}
    assert set(labelled) >= {int(i) for i in world.lenses}
    assert all(labelled[int(i)].grade in ("A", "B") for i in world.lenses)


def test_candidate_filters(world, client):
    c = world.columns
    mask = (c["survey"] == "south") & (c["mag_r"] < 19.0) & ~np.isin(world.ids, world.lenses)
    allowed = set(world.ids[mask].tolist())
    got = list(client.iter_candidates(world.probe_name, 10_000, page_size=40, surveys=["south"],
                                      mag={"r": (None, 19.0)}, exclude_labelled=True, label_sets=["known"]))
    assert [g.object.object_id for g in got] == [i for i in world.ranked.tolist() if i in allowed]
    tenth = client.candidates(world.probe_name, page_size=10).candidates[-1].score
    hi = list(client.iter_candidates(world.probe_name, 10_000, min_score=tenth))
    assert len(hi) >= 10 and all(h.score >= tenth for h in hi)


def test_page_token_of_another_listing_is_refused(world, client):
    from lensdb.api_grpc.client import ApiError

    token = client.candidates(world.probe_name, page_size=3).next_page_token
    with pytest.raises(ApiError, match="another listing"):
        client.candidates(world.probe_name, page_size=3, page_token=token, surveys=["north"])


def test_score_objects_equals_the_probe_on_stored_vectors(world, client):
    ids = [int(world.ids[5]), 424242, int(world.ids[77])]
    res = client.score(world.probe_name, ids)
    assert [s.object_id for s in res.scores] == [ids[0], ids[2]] and list(res.missing) == [424242]
    logits = world.vectors[[5, 77]] @ world.probe_w + world.probe_b
    assert [s.logit for s in res.scores] == pytest.approx(logits, abs=1e-4)
    assert [s.score for s in res.scores] == pytest.approx(1 / (1 + np.exp(-logits)), abs=1e-6)
    assert res.encoder_version == world.encoder_version
