"""Catalogue RPCs: objects by id (with labels), cone search against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from lensdb.core.sky import separation_arcsec


def test_get_objects_in_order_with_missing_ids(world, client):
    ids = [int(world.ids[12]), 999, int(world.ids[3])]
    res = client.objects(ids, with_labels=True)
    assert [o.object_id for o in res.objects] == [ids[0], ids[2]]
    assert list(res.missing) == [999]
    lens = res.objects[0]  # object 12 is a labelled lens
    i = world.index(lens.object_id)
    assert lens.ra == pytest.approx(world.columns["ra"][i]) and lens.survey == world.columns["survey"][i]
    assert lens.mag_r == pytest.approx(world.columns["mag_r"][i])
    assert lens.z_phot_median == pytest.approx(world.columns["z_phot_median"][i])
    assert not lens.HasField("z_phot_mean")  # NULL in the catalogue
    assert list(lens.psfsize) == pytest.approx([1.3, 1.2, 1.1])
    assert lens.shard == "images_test_000.h5" and lens.row == i
    assert [(lb.label_set, lb.label_class) for lb in lens.labels] == [("known", "lens")]
    assert lens.labels[0].grade in ("A", "B") and lens.labels[0].created_at.seconds > 0
    assert not res.objects[1].labels


def test_undetected_band_is_absent(world, client):
    obj = client.objects([int(world.ids[7])]).objects[0]
    assert not obj.HasField("mag_g") and obj.HasField("mag_r")


def test_cone_search_matches_brute_force_nearest_first(world, client):
    c = world.columns
    ra, dec, radius = c["ra"][0], c["dec"][0], 10.0
    res = client.cone(ra, dec, radius)
    sep = separation_arcsec(ra, dec, c["ra"], c["dec"])
    expected = world.ids[np.argsort(sep)][: int((sep <= radius).sum())]
    assert [m.object.object_id for m in res.matches] == expected.tolist()
    assert [m.separation_arcsec for m in res.matches] == pytest.approx(np.sort(sep)[: len(expected)], abs=1e-6)
    assert not res.truncated and res.method in ("q3c", "healpix")


def test_cone_search_limit_truncates(world, client):
    c = world.columns
    res = client.cone(c["ra"][0], c["dec"][0], 13.0, limit=2)
    assert len(res.matches) == 2 and res.truncated
    assert res.matches[0].object.object_id == int(world.ids[0])
