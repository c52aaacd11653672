"""Search over the wire against brute force on the stored vectors and against the in-process service call."""

from __future__ import annotations

import numpy as np
import pytest

from lensdb.api_grpc.client import Filters
from lensdb.core import sky
from lensdb.services.types import SimilarQuery


def brute(world, query_vec, k, keep=None, exclude=()):
    """Exact top-k ids and similarities among rows where ``keep`` holds, ``exclude`` left out."""
    sims = world.vectors.astype(np.float64) @ (query_vec / np.linalg.norm(query_vec))
    mask = np.ones(len(world.ids), bool) if keep is None else keep.copy()
    mask &= ~np.isin(world.ids, list(exclude))
    idx = np.flatnonzero(mask)
    order = idx[np.lexsort((world.ids[idx], -sims[idx]))][:k]
    return world.ids[order], sims[order]


def assert_hits(result, ids, sims):
    assert [h.rank for h in result.hits] == list(range(1, len(ids) + 1))
    np.testing.assert_allclose([h.similarity for h in result.hits], sims, atol=1e-5)
    got = np.array(result.ids)
    for i in np.flatnonzero(got != ids):  # only near-ties may swap
        assert abs(sims[i] - sims[min(i + 1, len(sims) - 1)]) < 1e-5 or abs(sims[i] - sims[i - 1]) < 1e-5


def test_similar_to_object_matches_brute_force_and_in_process(world, server, client):
    q = 5
    res = client.similar(object_id=int(world.ids[q]), k=15)
    ids, sims = brute(world, world.vectors[q], 15, exclude=[world.ids[q]])
    assert_hits(res, ids, sims)
    assert res.query_object_id == int(world.ids[q]) and res.encoder_version == world.encoder_version
    local = server.services.search.similar(SimilarQuery(k=15, object_id=int(world.ids[q])))
    assert [h.object.object_id for h in local.hits] == res.ids
    first = res.hits[0]
    i = world.index(first.object_id)
    assert first.ra == pytest.approx(world.columns["ra"][i]) and first.survey == world.columns["survey"][i]
    assert first.source_type == world.columns["source_type"][i]
    assert first.mag_r == pytest.approx(world.columns["mag_r"][i], abs=1e-4)


def test_include_query_returns_the_object_first(world, client):
    res = client.similar(object_id=int(world.ids[3]), k=3, include_query=True)
    assert res.ids[0] == int(world.ids[3]) and res.hits[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_undetected_magnitude_is_absent(world, client):
    res = client.similar(object_id=int(world.ids[7]), k=1, include_query=True)
    assert res.hits[0].mag_g is None and res.hits[0].mag_r is not None


def test_similar_to_raw_vector(world, client):
    rng = np.random.default_rng(1)
    vec = world.vectors[20] + 0.05 * rng.standard_normal(world.vectors.shape[1]).astype(np.float32)
    res = client.similar(vector=vec * 7.0, k=10)  # scale does not matter: the server normalises
    assert_hits(res, *brute(world, vec, 10))
    assert res.query_object_id is None


def test_similar_to_sky_position_uses_nearest_source(world, client):
    i = 30
    ra, dec = world.columns["ra"][i] + 1.0 / 3600.0, world.columns["dec"][i]
    res = client.similar(ra=ra, dec=dec, match_radius_arcsec=5.0, k=5)
    assert res.query_object_id == int(world.ids[i])
    assert res.match_separation_arcsec == pytest.approx(np.cos(np.radians(dec)), rel=1e-3)
    assert_hits(res, *brute(world, world.vectors[i], 5, exclude=[world.ids[i]]))


def test_similar_to_uploaded_cutout_finds_the_object(world, client):
    i = 42
    res = client.similar(image=world.images[i], k=3)
    assert res.ids[0] == int(world.ids[i])
    assert res.hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert res.encoder_version == world.encoder_version


@pytest.mark.parametrize("case", ["survey", "mag", "window", "cone", "types", "exclude", "labelled", "dedupe"])
def test_filters_match_brute_force(world, client, case):
    c, q = world.columns, 0
    qid = int(world.ids[q])
    keep = np.ones(len(world.ids), bool)
    flt, exclude = Filters(), [qid]
    if case == "survey":
        flt, keep = Filters(surveys=("north",)), c["survey"] == "north"
    elif case == "mag":
        flt = Filters(mag={"r": (17.0, 20.0), "g": (None, 21.0)})
        keep = (c["mag_r"] >= 17) & (c["mag_r"] < 20) & (np.nan_to_num(c["mag_g"], nan=99.0) < 21)
    elif case == "window":
        flt = Filters(window=0.5)
        keep = np.abs(c["mag_r"].astype(np.float32) - np.float32(c["mag_r"][q])) < 0.5
    elif case == "cone":
        flt = Filters(cone=(151.0, 2.0, 1800.0))
        keep = sky.in_cone(c["ra"], c["dec"], 151.0, 2.0, 0.5)
    elif case == "types":
        flt, keep = Filters(types=("DEV", "EXP")), np.isin(c["source_type"], ["DEV", "EXP"])
    elif case == "exclude":
        flt, exclude = Filters(exclude=[int(i) for i in world.ids[50:60]]), [qid, *world.ids[50:60]]
    elif case == "labelled":
        flt, exclude = Filters(exclude_labelled=True, label_set="known"), [qid, *world.lenses]
    if case == "dedupe":
        # Objects 1..4 sit 3-12 arcsec (11-46 px) east of the query: within 96 px of it, so all dropped.
        res = client.similar(object_id=qid, k=len(world.ids), filters=Filters(dedupe_px=96.0))
        assert not set(res.ids) & {int(i) for i in world.ids[1:5]}
        return
    res = client.similar(object_id=qid, k=20, filters=flt)
    assert_hits(res, *brute(world, world.vectors[q], 20, keep, exclude))


def test_stream_returns_the_same_hits_in_chunks(world, server, client):
    qid = int(world.ids[9])
    unary = client.similar(object_id=qid, k=200, stream=False)
    parts = list(client.search.SimilarStream(client.similar_request(qid, k=200)))
    assert len(parts) == -(-200 // server.config.stream_chunk) > 1
    assert parts[0].query.object_id == qid
    assert [h.object.object_id for p in parts for h in p.hits] == unary.ids
    assert [h.object_id for h in client.iter_similar(qid, k=200)] == unary.ids


def test_k_larger_than_the_collection_returns_everything(world, client):
    res = client.similar(object_id=int(world.ids[0]), k=5000)  # streamed (k > 1000)
    assert len(res.hits) == len(world.ids) - 1
