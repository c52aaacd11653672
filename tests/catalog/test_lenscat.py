"""Import lenscat's real catalogue (~32,800 lens candidates) against sources near a few hundred of them."""

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from catalog_testdata import brute_force_pairs, insert_sources, migrated_engine, offset
from scipy.spatial import cKDTree
from sqlalchemy import select

from lensdb.catalog.labels import import_labels, list_label_sets
from lensdb.catalog.lenslist import parse_grade_map
from lensdb.catalog.models import Label
from lensdb.core.sky import unit_vectors

RADIUS = 25.2


def lenscat_csv() -> Path:
    """lenscat's data file, found without importing lenscat (its own dependencies are not installed)."""
    spec = importlib.util.find_spec("lenscat")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("lenscat is not installed: pip install --no-deps lenscat==1.1.3")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "catalog.csv"


def test_import_lenscat_catalogue(db_url):
    with open(lenscat_csv(), newline="") as f:
        entries = list(csv.DictReader(f))
    assert len(entries) > 32_000
    ra = np.array([float(e["RA [deg]"]) for e in entries])
    dec = np.array([float(e["DEC [deg]"]) for e in entries])
    # Use only entries with no other entry within 120": then each placed source can match one entry only.
    tree = cKDTree(unit_vectors(ra, dec))
    crowded = {i for pair in tree.query_pairs(2 * np.sin(np.radians(120 / 3600) / 2)) for i in pair}
    isolated = np.array([i for i in range(len(entries)) if i not in crowded])
    rng = np.random.default_rng(11)
    chosen = rng.choice(isolated, 400, replace=False)
    lenses, decoyed = chosen[:300], chosen[300:]
    neighboured = lenses[:60]

    engine = migrated_engine(db_url)
    try:
        src = [offset(ra[lenses], dec[lenses], rng.uniform(0, 10, 300), rng.uniform(0, 360, 300)),
               offset(ra[neighboured], dec[neighboured], rng.uniform(15, 25, 60), rng.uniform(0, 360, 60)),
               offset(ra[decoyed], dec[decoyed], rng.uniform(30, 50, 100), rng.uniform(0, 360, 100))]
        lens_ids = insert_sources(engine, *src[0])
        near_ids = insert_sources(engine, *src[1])
        insert_sources(engine, *src[2])
        # Independent check of the expectation: brute force over every catalogue entry.
        all_ra = np.concatenate([s[0] for s in src])
        all_dec = np.concatenate([s[1] for s in src])
        hit_entries = {i for i, _, _ in brute_force_pairs(ra, dec, all_ra, all_dec, RADIUS)}
        assert hit_entries == set(lenses.tolist())

        report = import_labels(engine, lenscat_csv(), name="lenscat", author="lenscat 1.1.3",
                               grade_map=parse_grade_map("confident=A,probable=B"))

        assert report.n_rows == len(entries)
        assert report.matched == 300
        assert report.unmatched == len(entries) - 300
        assert report.near_lens == 60
        assert report.duplicates == 0 and report.lens_labels == 300
        with engine.connect() as conn:
            got = conn.execute(select(Label.object_id, Label.name, Label.grade, Label.provenance)
                               .where(Label.label_class == "lens")).all()
            near_q = select(Label.object_id).where(Label.label_class == "near_lens")
            near = set(conn.execute(near_q).scalars())
        assert {g.object_id for g in got} == set(lens_ids.tolist())
        assert near == set(near_ids.tolist())
        by_line = {int(g.provenance.split(":")[1]): g for g in got}
        for i in lenses[:20]:
            label = by_line[int(i) + 2]  # header is line 1
            assert label.name == entries[i]["name"].strip()
            assert label.grade == {"confident": "A", "probable": "B"}[entries[i]["grading"]]
        (summary,) = list_label_sets(engine, "lenscat")
        n_confident = sum(entries[i]["grading"] == "confident" for i in lenses)
        assert (summary.lens, summary.grade_a, summary.grade_b) == (300, n_confident, 300 - n_confident)
    finally:
        engine.dispose()
