"""Known-lens lists in every astropy format, with column-name mapping, and the warning when a list misses the
ingested footprint (saying where the footprint is)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from catalog_testdata import insert_sources, migrated_engine

from lensdb.catalog.labels import import_labels
from lensdb.catalog.lenslist import ColumnNames
from lensdb.cli import main
from lensdb.core.errors import InvalidInput

FORMATS = {"fits": ("cat.fits", "fits"), "votable": ("cat.vot", "votable"), "ecsv": ("cat.ecsv", "ascii.ecsv"),
           "parquet": ("cat.parquet", "parquet")}


@pytest.fixture
def engine(db_url):
    engine = migrated_engine(db_url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_astropy_formats_with_mapped_columns(tmp_path, engine, fmt):
    ra, dec = np.array([10.0, 10.1, 10.2, 355.0]), np.array([-3.0, -3.1, -3.2, 1.0])
    insert_sources(engine, ra, dec)
    name, astropy_format = FORMATS[fmt]
    table = Table({"RAJ2000": ra[:3] + 1e-4, "DEJ2000": dec[:3], "Object": ["L1", "L2", "L3"],
                   "Quality": ["A", "B", ""]})
    table.write(tmp_path / name, format=astropy_format)
    report = import_labels(engine, tmp_path / name, name=f"list-{fmt}",
                           columns=ColumnNames(ra="RAJ2000", dec="DEJ2000", name="Object", grade="Quality"))
    assert (report.n_rows, report.matched, report.lens_labels) == (3, 3, 3)
    assert report.warning is None


def test_no_match_warns_where_the_footprint_is(tmp_path, engine, capsys, db_url):
    insert_sources(engine, [359.5, 0.5, 1.0], [-1.0, 0.0, 1.0])  # across RA 0
    insert_sources(engine, [150.0, 151.0], [30.0, 31.0], survey="north")
    Table({"ra": [200.0, 201.0], "dec": [-40.0, -41.0]}).write(tmp_path / "far.ecsv")
    report = import_labels(engine, tmp_path / "far.ecsv")
    assert report.matched == 0
    w = report.warning
    assert "only 0 of 2 entries of far.ecsv" in w and "outside the ingested footprint" in w
    assert "south: 3 sources, RA 359.50..1.00 (across 0), Dec -1.00..1.00" in w
    assert "north: 2 sources, RA 150.00..151.00, Dec 30.00..31.00" in w
    assert "RA 200.00..201.00, Dec -41.00..-40.00" in w
    assert main(["--database-url", db_url, "labels", "import", str(tmp_path / "far.ecsv"), "--name", "far2"]) == 0
    assert "warning: only 0 of 2" in capsys.readouterr().err


def test_bad_table_file_names_it(tmp_path, engine):
    (tmp_path / "bad.fits").write_bytes(b"SIMPLE  = nonsense")
    with pytest.raises(InvalidInput, match="bad.fits: cannot read as fits"):
        import_labels(engine, tmp_path / "bad.fits")
    Table({"x": [1.0]}).write(tmp_path / "nopos.parquet")
    with pytest.raises(InvalidInput, match="nopos.parquet"):
        import_labels(engine, tmp_path / "nopos.parquet")
