"""Every export format reads back with astropy to the same rows; the DS9 region file parses; viewer links."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from regions import Regions

from lensdb.core.exports import export_rows, viewer_url

ROWS = [{"rank": k + 1, "object_id": (7 << 40) + k, "score": 0.9 - k / 10, "ra": 10.0 + k, "dec": -5.0 + k,
         "survey": "south", "mag_z": None if k == 2 else 19.0 + k / 10, "viewer": viewer_url(10.0 + k, -5.0 + k)}
        for k in range(4)]
ASTROPY = {"fits": "fits", "vot": "votable", "ecsv": "ascii.ecsv", "csv": "ascii.csv", "parquet": "parquet"}


@pytest.mark.parametrize("ending", sorted(ASTROPY))
def test_each_format_reads_back_to_the_same_rows(tmp_path, ending):
    path = export_rows(ROWS, tmp_path / f"cands.{ending}")
    got = Table.read(path, format=ASTROPY[ending])
    assert list(got.colnames) == list(ROWS[0])
    assert list(got["object_id"]) == [r["object_id"] for r in ROWS]
    np.testing.assert_allclose(got["ra"], [r["ra"] for r in ROWS])
    mag = np.ma.filled(np.ma.asarray(got["mag_z"], dtype=float), np.nan)
    assert np.isnan(mag[2]) and mag[3] == pytest.approx(19.3)
    assert [str(v) for v in got["viewer"]] == [r["viewer"] for r in ROWS]
    if ending in ("fits", "vot", "ecsv"):
        assert str(got["ra"].unit) == "deg"


def test_ds9_regions_parse(tmp_path):
    path = export_rows(ROWS, tmp_path / "cands.reg")
    regions = Regions.read(str(path), format="ds9")
    assert len(regions) == 4
    assert regions[1].center.ra.deg == pytest.approx(11.0) and regions[1].meta["text"] == f"2: {(7 << 40) + 1}"


def test_viewer_url():
    assert viewer_url(150.1, 2.25) == "https://www.legacysurvey.org/viewer?ra=150.100000&dec=2.250000&layer=ls-dr9&zoom=16"
