"""The catalogue's named queries, and the one filter type compiled by both engines.

The same :class:`ObjectFilter` is compiled to SQL by the catalogue (SQLite and PostgreSQL) and to a Milvus
expression by the vector store (Milvus Lite); both must select exactly the objects a numpy reference selects.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from catalog_testdata import insert_sources, migrated_engine
from sqlalchemy import update

from lensdb.catalog import queries
from lensdb.catalog.labels import HandLabel, add_labels
from lensdb.catalog.models import Source
from lensdb.core.config import load_settings
from lensdb.core.errors import InvalidInput, NotFound
from lensdb.core.filters import Cone, MagRange, MagWindow, ObjectFilter
from lensdb.core.sky import separation
from lensdb.vectordb.config import VectorDBConfig
from lensdb.vectordb.store import VectorStore

N = 600


@pytest.fixture
def sky(db_url):
    """N sources around RA 0 (so cones wrap), both surveys, spread magnitudes and types; the first 20 labelled."""
    rng = np.random.default_rng(7)
    ra = rng.uniform(-3, 3, N) % 360.0
    dec = rng.uniform(-2, 2, N)
    survey = rng.choice(["south", "north"], N)
    mags = {b: rng.uniform(16, 23, N) for b in ("g", "r", "z")}
    engine = migrated_engine(db_url)
    ids = insert_sources(engine, ra, dec, survey=survey, mag_g=mags["g"], mag_r=mags["r"], mag_z=mags["z"])
    types = rng.choice(["DEV", "EXP", "REX", "SER", "PSF"], N)
    with engine.begin() as conn:
        for t in set(types):
            conn.execute(update(Source).where(Source.object_id.in_(ids[types == t].tolist())).values(source_type=t))
    add_labels(engine, "hand", [HandLabel(int(i), "lens") for i in ids[:10]])
    add_labels(engine, "other", [HandLabel(int(i), "non_lens") for i in ids[10:20]])
    cols = {"object_id": ids, "ra": ra, "dec": dec, "survey": survey, "source_type": types,
            **{f"mag_{b}": v for b, v in mags.items()}}
    yield engine, cols
    engine.dispose()


def reference(cols: dict, flt: ObjectFilter, centre: float | None = None) -> np.ndarray:
    """The filter applied with numpy, condition by condition."""
    keep = np.ones(N, bool)
    if flt.surveys is not None:
        keep &= np.isin(cols["survey"], flt.surveys)
    if flt.source_types is not None:
        keep &= np.isin(cols["source_type"], flt.source_types)
    for r in flt.mag_ranges:
        m = cols[f"mag_{r.band}"]
        keep &= (m >= r.low if r.low is not None else True) & (m < r.high if r.high is not None else True)
    if flt.window is not None:
        mid = flt.window.centre if flt.window.centre is not None else centre
        keep &= np.abs(cols["mag_r"] - mid) < flt.window.width
    if flt.cone is not None:
        keep &= separation(cols["ra"], cols["dec"], flt.cone.ra, flt.cone.dec) <= flt.cone.radius
    keep &= ~np.isin(cols["object_id"], flt.exclude_ids)
    if flt.exclude_labelled:
        labelled = {"hand": cols["object_id"][:10], "other": cols["object_id"][10:20]}
        sets = flt.label_sets or tuple(labelled)
        keep &= ~np.isin(cols["object_id"], np.concatenate([labelled[s] for s in sets]))
    return np.sort(cols["object_id"][keep])


FILTERS = {
    "none": ObjectFilter(),
    "survey": ObjectFilter(surveys=("north",)),
    "ranges": ObjectFilter(mag_ranges=(MagRange("g", 18, 21), MagRange("z", high=20.5))),
    "types": ObjectFilter(source_types=("DEV", "SER")),
    "window": ObjectFilter(window=MagWindow(0.7, centre=19.0)),
    "cone across RA 0": ObjectFilter(cone=Cone(0.2, 0.1, 1.5)),
    "labelled, any set": ObjectFilter(exclude_labelled=True),
    "labelled, one set": ObjectFilter(exclude_labelled=True, label_sets=("hand",)),
    "all at once": ObjectFilter(surveys=("south",), mag_ranges=(MagRange("r", 17),), cone=Cone(359.5, -0.5, 2.0),
                                source_types=("EXP", "REX", "SER"), exclude_labelled=True, window=MagWindow(3.0, 20.0)),
}


@pytest.mark.parametrize("name", FILTERS)
def test_sql_selects_what_the_reference_selects(sky, name):
    engine, cols = sky
    flt = dataclasses.replace(FILTERS[name], exclude_ids=tuple(cols["object_id"][::37].tolist()))
    got = queries.ids_matching(engine, flt)
    want = reference(cols, flt)
    assert want.size > 0 or name == "none"
    assert np.array_equal(got, want), (len(got), len(want))


def test_milvus_expression_selects_what_sql_selects(sky, tmp_path):
    """Every object of a Lite collection is searched (k = all): the hits that pass the filter are exactly the rows
    the SQL compilation of the same filter returns."""
    engine, cols = sky
    rng = np.random.default_rng(3)
    vec = rng.standard_normal((N, 8)).astype(np.float32)
    norm = np.linalg.norm(vec, axis=1)
    settings = load_settings(env={}, data_dir=str(tmp_path / "data"), milvus_uri=str(tmp_path / "milvus.db"))
    config = dataclasses.replace(VectorDBConfig(), dim=8, index_type="FLAT")
    with VectorStore.open(settings, "v-test", dim=8, create=True, config=config) as store:
        store.insert({"object_id": cols["object_id"], "vector": vec / norm[:, None], "norm": norm,
                      "survey": cols["survey"], "source_type": cols["source_type"], "ra": cols["ra"],
                      "dec": cols["dec"], "shard": np.full(N, "s.h5"),
                      **{f"mag_{b}": cols[f"mag_{b}"].astype(np.float32) for b in "grz"}})

        class Labels:
            def labelled_ids(self, label_sets=()):
                return queries.labelled_ids(engine, tuple(label_sets))

        for name, flt in FILTERS.items():
            hits = store.knn(vec[0], k=N, filters=flt, output_fields=(), labels=Labels())
            # float32 magnitudes in Milvus against float64 in SQL: compare the SQL side on the same float32 values
            sql = queries.ids_matching(engine, flt)
            ref32 = reference({**cols, **{f"mag_{b}": cols[f"mag_{b}"].astype(np.float32) for b in "grz"}}, flt)
            assert np.array_equal(np.sort(hits.ids), ref32), name
            assert np.array_equal(sql, reference(cols, flt)), name


def test_filter_conditions_refuse_what_sql_cannot_state(sky):
    engine, _ = sky
    with pytest.raises(InvalidInput, match="window needs a centre"):
        queries.ids_matching(engine, ObjectFilter(window=MagWindow(0.5)))
    assert queries.ids_matching(engine, ObjectFilter(window=MagWindow(0.5)), centre=20.0).size > 0
    with pytest.raises(InvalidInput, match="drop_duplicates_px applies to ranked search results"):
        queries.ids_matching(engine, ObjectFilter(drop_duplicates_px=96))


@pytest.mark.parametrize("bad", [
    lambda: MagRange("r", high=1e19), lambda: MagWindow(1e19), lambda: MagRange("u", 18),
    lambda: ObjectFilter(surveys=("mars",)), lambda: ObjectFilter(label_sets=("x\x00",)),
    lambda: ObjectFilter(exclude_ids=(-1,)), lambda: ObjectFilter(drop_duplicates_px=float("inf")),
    lambda: Cone(10.0, 95.0, 1.0),
])
def test_filter_values_are_checked_once_for_every_engine(bad):
    with pytest.raises(InvalidInput):
        bad()


def test_named_reads(sky):
    engine, cols = sky
    ids = cols["object_id"]
    rows = queries.sources(engine, ids[:3])
    assert set(rows) == set(ids[:3].tolist()) and rows[int(ids[0])].shard == "test-shard"
    assert set(queries.sources(engine, ids[:3], ("ra",))[int(ids[1])]._fields) == {"object_id", "ra"}
    with pytest.raises(InvalidInput, match="no column"):
        queries.sources(engine, ids[:3], ("nope",))
    assert queries.existing_ids(engine, [int(ids[0]), 12345]) == {int(ids[0])}
    locations = queries.image_locations(engine, ids[:2])
    assert locations[int(ids[1])].shard == "test-shard" and locations[int(ids[1])].row == 1
    labels = queries.labels_of(engine, ids[8:12])
    assert [lb.label_set for lb in labels[int(ids[9])]] == ["hand"]
    assert [lb.label_class for lb in labels[int(ids[10])]] == ["non_lens"]
    assert np.array_equal(queries.labelled_ids(engine, ("hand",)), np.sort(ids[:10]))
    assert np.array_equal(queries.labelled_ids(engine, classes=("non_lens",)), np.sort(ids[10:20]))
    with pytest.raises(NotFound, match="no label set 'nope'"):
        queries.labelled_ids(engine, ("nope",))
    # ids beyond one IN-clause chunk come back whole
    many = np.concatenate([ids, np.arange(10**9, 10**9 + 2 * queries.ID_CHUNK)])
    assert len(queries.sources(engine, many, ("ra",))) == N
