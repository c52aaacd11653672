"""Naming, partitions, filters and record validation: the parts that need no engine."""

from __future__ import annotations

import numpy as np
import pytest

from lensdb.core import sky
from lensdb.core.errors import InvalidInput
from lensdb.core.filters import Cone, MagRange, MagWindow, ObjectFilter
from lensdb.vectordb import naming
from lensdb.vectordb.config import DEFAULT_MAG_R_EDGES, VectorDBConfig
from lensdb.vectordb.filters import expression, fmt
from lensdb.vectordb.partitions import MagBins, all_partitions, partitions_for, row_partitions
from lensdb.vectordb.records import batches, validate
from lensdb.vectordb.schema import hnsw_ef

HOSTILE = [
    'south" or 1==1 or survey=="',
    "south) or (object_id > 0",
    'DEV"]) or true or (["',
    "r) or (1",
    "1; drop collection",
    "\u0000",
    "south\n",
]


def test_collection_names_are_per_version_and_safe():
    a, b = naming.collection_name("v1.0"), naming.collection_name("v1_0")
    assert a != b  # same slug, different versions: different collections
    assert a.startswith("lensdb_v1_0_") and naming.collection_name("v1.0") == a
    for name in (a, b, naming.collection_name("moco-v2/r50@2024-06")):
        assert name.replace("_", "").isalnum() and len(name) <= 255
    for bad in ("", "has space", "x" * 129, "\u00e9t\u00e9", None):
        with pytest.raises(InvalidInput, match="encoder version"):
            naming.collection_name(bad)
    assert naming.folder_name("moco-v2-r50@2024-06") == "moco-v2-r50@2024-06"
    assert "/" not in naming.folder_name("moco/v2") and not naming.folder_name("../x").startswith(".")


def test_partitions_cover_bins_and_a_window_touches_few():
    bins = MagBins(DEFAULT_MAG_R_EDGES)
    parts = all_partitions(bins)
    assert len(parts) == 2 * (len(DEFAULT_MAG_R_EDGES) + 1) == len(set(parts))
    assert bins.bin_of(np.array([10.0, 16.0, 16.49, 16.5, 22.99, 23.0, 99.0])).tolist() == [0, 1, 1, 2, 14, 15, 15]
    touched = partitions_for(bins, ("south",), 18.7 - 0.5, 18.7 + 0.5)
    assert touched == ["south_magr_18_18p5", "south_magr_18p5_19", "south_magr_19_19p5"]
    assert len(partitions_for(bins, None, None, None)) == len(parts)
    rows = row_partitions(bins, np.array(["north", "south"]), np.array([15.0, 18.25]))
    assert rows.tolist() == ["north_magr_lt16", "south_magr_18_18p5"]


def test_config_validation():
    with pytest.raises(InvalidInput, match="increasing"):
        VectorDBConfig(mag_r_edges=(18.0, 17.0))
    with pytest.raises(InvalidInput, match="16384"):
        VectorDBConfig(max_topk=20000)
    cfg = VectorDBConfig()
    assert hnsw_ef(cfg, 10) == 64 and hnsw_ef(cfg, 1000) == 1500 and hnsw_ef(cfg, 16384) >= 16384
    assert hnsw_ef(cfg, 10, selectivity=0.01) == 6400


def test_expression_is_built_from_typed_values_only():
    flt = ObjectFilter(
        surveys=("south",),
        source_types=("DEV", "SER"),
        mag_ranges=(MagRange("g", 18, 20.5),),
        window=MagWindow(0.5),
        exclude_ids=(5, 3, 5),
    )
    expr = expression(flt, 19.25, flt.exclude_ids)
    assert expr == (
        '(survey in ["south"]) and (source_type in ["DEV", "SER"]) and (mag_g >= 18) and '
        "(mag_g < 20.5) and (mag_r > 18.75 and mag_r < 19.75) and (object_id not in [3,5])"
    )
    assert fmt(1e-7) == "0.0000001" and fmt(-2.5) == "-2.5"
    assert ObjectFilter(mag_ranges=(MagRange("r", 17, 19),), window=MagWindow(1.0)).r_bounds(18.5) == (17.5, 19)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_never_reaches_an_expression(text):
    with pytest.raises(InvalidInput):
        ObjectFilter(surveys=(text,))
    with pytest.raises(InvalidInput):
        ObjectFilter(source_types=[text])
    with pytest.raises(InvalidInput):
        MagRange(text, 1, 2)
    with pytest.raises(InvalidInput):
        MagRange("r", text, 2)
    with pytest.raises(InvalidInput):
        MagWindow(text)
    with pytest.raises(InvalidInput):
        Cone(text, 0, 1)
    with pytest.raises(InvalidInput):
        ObjectFilter(exclude_ids=(1, text))


def test_filter_values_are_checked():
    for bad in (float("nan"), float("inf"), True, "18", None):
        with pytest.raises(InvalidInput):
            MagRange("r", bad, 20) if bad is not None else MagRange("r")
    with pytest.raises(InvalidInput):
        ObjectFilter(exclude_ids=(-1,))
    with pytest.raises(InvalidInput):
        ObjectFilter(exclude_ids=(2**63,))
    with pytest.raises(InvalidInput):
        ObjectFilter(surveys=())
    with pytest.raises(InvalidInput):
        Cone(10, 95, 1)
    with pytest.raises(InvalidInput):
        ObjectFilter(drop_duplicates_px=-3)
    with pytest.raises(InvalidInput, match="centre"):
        expression(ObjectFilter(window=MagWindow(0.5)), None)


def test_cone_box_contains_the_cone_and_wraps_at_ra_zero():
    rng = np.random.default_rng(3)
    for ra, dec, radius in [(0.2, 10, 1.0), (359.9, -20, 0.5), (180, 89.5, 1.0), (45, -30, 5.0)]:
        dec_low, dec_high, ranges = sky.cone_box(ra, dec, radius)
        pts_ra = rng.uniform(0, 360, 200_000)
        pts_dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 200_000)))
        inside = sky.in_cone(pts_ra, pts_dec, ra, dec, radius)
        in_box = (pts_dec >= dec_low) & (pts_dec <= dec_high)
        if ranges is not None:
            in_box &= np.any([(pts_ra >= lo) & (pts_ra <= hi) for lo, hi in ranges], axis=0)
        assert inside.any() and not (inside & ~in_box).any()


def test_duplicate_filter_keeps_the_best_of_each_galaxy():
    radius = 96 * sky.PIXEL_SCALE_ARCSEC / 3600
    ra = np.array([10.0, 10.0 + 0.5 * radius, 10.0 + 3 * radius, 10.0 + 3.9 * radius, 200.0])
    dec = np.zeros(5)
    keep = sky.DuplicateFilter(radius).keep(ra, dec)
    assert keep.tolist() == [True, False, True, False, True]
    dup = sky.DuplicateFilter(radius)
    dup.add(200.0, 0.0005)
    assert dup.keep(ra, dec).tolist() == [True, False, True, False, False]


def test_records_validation_names_the_problem(columns):
    good = columns(20)
    assert len(validate(good, 8)) == 20
    cases = {
        "shape": {"vector": good["vector"][:, :4]},
        "NaN": {"vector": np.where(np.arange(8) == 0, np.nan, good["vector"]).astype(np.float32)},
        "L2 norm": {"vector": good["vector"] * 2},
        "more than once": {"object_id": np.r_[good["object_id"][:19], good["object_id"][0]]},
        ">= 0": {"object_id": -good["object_id"]},
        "survey": {"survey": np.array(["south"] * 19 + ['south" or 1==1'])},
        "source_type": {"source_type": np.array(["DEV"] * 19 + ["GAL"])},
        "ra must": {"ra": np.full(20, 400.0)},
        "dec must": {"dec": np.full(20, np.nan)},
        "unknown column": {"bogus": np.zeros(20)},
        "1-D with 20 rows": {"mag_r": np.zeros(5)},
    }
    for message, change in cases.items():
        with pytest.raises(InvalidInput, match=message):
            validate({**good, **change}, 8)
    missing = dict(good)
    del missing["norm"]
    with pytest.raises(InvalidInput, match="missing column"):
        validate(missing, 8)
    recs = validate({**good, "mag_g": np.full(20, np.nan), "source_type": np.array([b"DEV "] * 20)}, 8)
    assert (recs.mag_g == 99.0).all() and set(recs.source_type) == {"DEV"}


def test_batches_respect_rows_and_bytes(columns):
    recs = validate(columns(1000, dim=2048), 2048)
    sizes = [len(b) for b in batches(recs, max_rows=300, max_bytes=64 * 1024 * 1024)]
    assert sizes == [300, 300, 300, 100]
    sizes = [len(b) for b in batches(recs, max_rows=10_000, max_bytes=1_000_000)]
    assert sum(sizes) == 1000 and max(sizes) * (2048 * 4) < 1_000_000
