"""lensdb convert: FITS cutouts (Legacy Survey layout, written with astropy), FITS cubes and numpy arrays plus an
astropy table into shards that ingest; bad input is one error naming the file and the problem, nothing is written."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from fits_cutouts import cutout_header, galaxy, write_cutouts
from sqlalchemy import func, select

from lensdb.catalog import queries
from lensdb.catalog.models import Source
from lensdb.cli import main
from lensdb.core.errors import InvalidInput
from lensdb.ingest.convert import MANIFEST, ConvertConfig, convert
from lensdb.ingest.cutouts import read_cutouts
from lensdb.ingest.pipeline import IngestConfig, ingest_paths


def _shards(folder):
    return sorted(folder.glob("*.h5"))


def test_fits_cutouts_convert_and_ingest(tmp_path, catalog_engine):
    files, table = write_cutouts(tmp_path / "cutouts", 25)
    report = convert(tmp_path / "shards", table=table, cutouts=[tmp_path / "cutouts"],
                     config=ConvertConfig(shard_rows=10, chunk_rows=4))
    assert [p.name for p in report.written] == ["images_npix120_000000000_000000010.h5",
                                                "images_npix120_000000010_000000020.h5",
                                                "images_npix120_000000020_000000025.h5"]
    assert "ebv" not in report.defaults and "mag_g/mag_r/mag_z" not in report.defaults
    assert {"psfsize", "psfdepth", "source_type", "release", "brickid/objid"} <= set(report.defaults)
    tab = Table.read(table)
    with h5py.File(report.written[0]) as f:
        assert f["images"].shape == (10, 3, 120, 120)
        np.testing.assert_allclose(f["ra"][:], tab["ra"][:10])
        np.testing.assert_allclose(f["mag_z"][:], tab["mag_z"][:10])
        with fits.open(files[3]) as hdul:  # planes g, r, z as stored, nanomaggies untouched
            np.testing.assert_array_equal(f["images"][3], hdul[0].data)
    result = ingest_paths(catalog_engine, [tmp_path / "shards"], config=IngestConfig())
    assert result.ok and result.rows_written == 25
    with catalog_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Source)).scalar() == 25
        ra = sorted(conn.execute(select(Source.ra)).scalars())
    np.testing.assert_allclose(ra, sorted(tab["ra"]))
    ids = sorted(queries.image_locations(catalog_engine, list(range(1 << 40, (1 << 40) + 25))))
    assert len(ids) == 25  # release 1, derived brickid 0, objid = row
    images = read_cutouts(queries.image_locations(catalog_engine, ids[:2]), ids[:2], missing="raise")
    with fits.open(files[1]) as hdul:
        np.testing.assert_array_equal(images[1], hdul[0].data)


@pytest.mark.parametrize("fmt", ["fits", "votable", "csv", "parquet", "ecsv"])
def test_every_astropy_table_format_with_mapped_columns(tmp_path, fmt):
    _, ecsv = write_cutouts(tmp_path / "cutouts", 6, file_column=True)
    tab = Table.read(ecsv)
    tab.rename_column("ra", "RAJ2000")
    tab.rename_column("dec", "DEJ2000")
    tab.rename_column("mag_z", "zmag")
    tab = tab[::-1]  # rows in another order than the files: matched by the file column
    path = tmp_path / f"cat.{ {'votable': 'vot'}.get(fmt, fmt) }"
    tab.write(path, format={"csv": "ascii.csv", "ecsv": "ascii.ecsv"}.get(fmt, fmt), overwrite=True)
    report = convert(tmp_path / "out", table=path, cutouts=[tmp_path / "cutouts"],
                     config=ConvertConfig(columns={"mag_z": "zmag"}))
    with h5py.File(report.written[0]) as f:  # the table's order, each row with the cutout its file column names
        np.testing.assert_allclose(f["ra"][:], tab["RAJ2000"])
        np.testing.assert_allclose(f["mag_z"][:], tab["zmag"])
        with fits.open(tmp_path / "cutouts" / str(tab["file"][0])) as hdul:
            np.testing.assert_array_equal(f["images"][0], hdul[0].data)


def test_positions_from_the_wcs_and_magnitudes_from_the_cutouts(tmp_path):
    write_cutouts(tmp_path / "cutouts", 5, table=None)
    report = convert(tmp_path / "out", cutouts=[tmp_path / "cutouts"])
    assert {"ra/dec", "mag_g/mag_r/mag_z", "ebv"} <= set(report.defaults)
    from fits_cutouts import positions

    ra, dec = positions(5)
    with h5py.File(report.written[0]) as f:
        np.testing.assert_allclose(f["ra"][:], ra, atol=1e-9)
        np.testing.assert_allclose(f["dec"][:], dec, atol=1e-9)
        assert np.isfinite(f["mag_z"][:]).all() and (f["ebv"][:] == 0).all()
        assert f["survey"][0] == b"south" and f["source_type"][0] == b"REX"


@pytest.mark.parametrize("kind", ["cube", "npy"])
def test_cube_and_numpy_inputs(tmp_path, kind):
    rng = np.random.default_rng(1)
    cube = np.stack([galaxy(rng, 112, ring=False) for _ in range(7)])
    tab = Table({"ra": np.linspace(10, 11, 7), "dec": np.linspace(-5, -4, 7), "flux_g": np.full(7, 2.0),
                 "flux_r": np.full(7, 3.0), "flux_z": np.full(7, 5.0)})
    tab.write(tmp_path / "cat.fits")
    if kind == "cube":
        header = fits.Header({"BANDS": "grz", "BUNIT": "nanomaggy"})
        fits.PrimaryHDU(cube, header=header).writeto(tmp_path / "cube.fits")
        report = convert(tmp_path / "out", table=tmp_path / "cat.fits", cube=tmp_path / "cube.fits")
    else:
        np.save(tmp_path / "cube.npy", cube)
        report = convert(tmp_path / "out", table=tmp_path / "cat.fits", npy=tmp_path / "cube.npy")
    with h5py.File(report.written[0]) as f:
        np.testing.assert_array_equal(f["images"][:], cube)
        np.testing.assert_allclose(f["flux"][:, 2], 5.0)


def test_a_killed_run_resumes_and_other_inputs_are_refused(tmp_path):
    _, table = write_cutouts(tmp_path / "cutouts", 12)
    args = dict(table=table, cutouts=[tmp_path / "cutouts"], config=ConvertConfig(shard_rows=5))
    first = convert(tmp_path / "out", **args)
    done = first.written[1]
    content = done.read_bytes()
    done.unlink()  # as if killed while writing the second shard: only its staging copy existed
    (tmp_path / "out" / ".staging").mkdir()
    (tmp_path / "out" / ".staging" / done.name).write_bytes(b"half")
    again = convert(tmp_path / "out", **args)
    assert again.written == [done] and len(again.skipped) == 2
    assert done.read_bytes() == content and not (tmp_path / "out" / ".staging").exists()
    with pytest.raises(InvalidInput, match="another conversion"):
        convert(tmp_path / "out", table=table, cutouts=[tmp_path / "cutouts"], config=ConvertConfig(shard_rows=6))
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["config"]["shard_rows"] == 5


# ------------------------------------------------------------------------------------------------ bad input
def _bad(tmp_path, edit):
    """Write 6 good cutouts and a table, apply ``edit(files, table)``, and return the error of converting."""
    files, table = write_cutouts(tmp_path / "cutouts", 6)
    table = edit(files, table) or table
    out = tmp_path / "out"
    with pytest.raises(InvalidInput) as exc:
        convert(out, table=table, cutouts=[tmp_path / "cutouts"], config=ConvertConfig(shard_rows=4))
    assert not out.exists(), "a refused conversion wrote something"
    return str(exc.value)


def _rewrite(path, data, header):
    fits.PrimaryHDU(data, header=header).writeto(path, overwrite=True)


def test_wrong_number_of_planes(tmp_path):
    def edit(files, table):
        with fits.open(files[2]) as h:
            data, header = h[0].data, h[0].header.copy()
        header["BANDS"] = "grzi"
        header["BAND3"] = "i"
        _rewrite(files[2], np.concatenate([data, data[:1]]), header)
    msg = _bad(tmp_path, edit)
    assert "obj_00002.fits" in msg and "4 image planes" in msg


def test_nan_plane(tmp_path):
    def edit(files, table):
        with fits.open(files[5]) as h:
            data, header = h[0].data.copy(), h[0].header.copy()
        data[1] = np.nan
        _rewrite(files[5], data, header)
    msg = _bad(tmp_path, edit)
    assert "obj_00005.fits" in msg and "r plane has no finite pixel" in msg


def test_nan_pixels_are_refused_unless_filled(tmp_path):
    files, table = write_cutouts(tmp_path / "cutouts", 3)
    with fits.open(files[0]) as h:
        data, header = h[0].data.copy(), h[0].header.copy()
    data[2, 5:9, 5:9] = np.nan
    _rewrite(files[0], data, header)
    with pytest.raises(InvalidInput, match=r"obj_00000.fits: 16 NaN pixel\(s\) in the z plane.*--fill-nan"):
        convert(tmp_path / "out", table=table, cutouts=[tmp_path / "cutouts"])
    assert not (tmp_path / "out").exists()
    report = convert(tmp_path / "out", table=table, cutouts=[tmp_path / "cutouts"], config=ConvertConfig(fill_nan=0))
    with h5py.File(report.written[0]) as f:
        assert np.isfinite(f["images"][:]).all() and f["images"][0, 2, 6, 6] == 0


def test_missing_wcs_and_position(tmp_path):
    def edit(files, table):
        with fits.open(files[1]) as h:
            data = h[0].data
        _rewrite(files[1], data, cutout_header(0, 0, 120, wcs=False))
        tab = Table.read(table)
        tab.remove_columns(["ra", "dec"])
        tab.write(table, overwrite=True)
    msg = _bad(tmp_path, edit)
    assert "obj_00001.fits: no position" in msg and "WCS" in msg


def test_table_rows_not_matching_the_cutouts(tmp_path):
    def edit(files, table):
        tab = Table.read(table)
        tab[:5].write(table, overwrite=True)
    msg = _bad(tmp_path, edit)
    assert "catalogue.ecsv: 5 rows, but 6 FITS cutouts" in msg and "must match" in msg


def test_table_file_column_naming_a_missing_cutout(tmp_path):
    def edit(files, table):
        tab = Table.read(table)
        tab["file"] = [p.name for p in files]
        tab["file"][3] = "nope.fits"
        tab.write(table, overwrite=True)
    msg = _bad(tmp_path, edit)
    assert "row 3" in msg and "nope.fits" in msg


def test_unit_mismatch(tmp_path):
    def edit(files, table):
        with fits.open(files[4]) as h:
            data, header = h[0].data, h[0].header.copy()
        header["BUNIT"] = "adu"
        _rewrite(files[4], data, header)
    msg = _bad(tmp_path, edit)
    assert "obj_00004.fits: BUNIT is 'adu', not nanomaggies" in msg


def test_cutouts_too_small_and_bad_table(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    rng = np.random.default_rng(0)
    fits.PrimaryHDU(galaxy(rng, 64, False), header=cutout_header(1, 1, 64)).writeto(folder / "a.fits")
    with pytest.raises(InvalidInput, match="a.fits: cutouts of 64 px are smaller"):
        convert(tmp_path / "out", cutouts=[folder])
    (tmp_path / "cat.parquet").write_text("not parquet")
    with pytest.raises(InvalidInput, match="cat.parquet: cannot read as parquet"):
        convert(tmp_path / "out", table=tmp_path / "cat.parquet", cutouts=[folder])
    assert not (tmp_path / "out").exists()


def test_cli_convert_then_ingest_and_a_clear_failure(tmp_path, capsys):
    _, table = write_cutouts(tmp_path / "cutouts", 4)
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "convert", str(tmp_path / "cutouts"), "--table", str(table), "--out",
                 str(tmp_path / "shards"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "1 shard(s) written" in out and "default   psfsize" in out and "lensdb --survey-root" in out
    assert main([*data, "--survey-root", str(tmp_path / "shards"), "ingest", str(tmp_path / "shards"),
                 "--no-progress"]) == 0
    assert "4 rows" in capsys.readouterr().out
    shutil.rmtree(tmp_path / "cutouts")
    assert main([*data, "convert", str(tmp_path / "cutouts"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file or folder" in err and "Traceback" not in err


def test_cutouts_in_an_extension_or_scaled_integers_read_through_astropy(tmp_path):
    files, table = write_cutouts(tmp_path / "cutouts", 3)
    with fits.open(files[0]) as h:
        data0, header0 = h[0].data.copy(), h[0].header.copy()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data0, header=header0)]).writeto(files[0], overwrite=True)
    with fits.open(files[1]) as h:
        data1, header1 = h[0].data.copy(), h[0].header.copy()
    hdu = fits.PrimaryHDU(data1, header=header1)
    hdu.scale("int16", bscale=1e-4, bzero=0.0)
    hdu.writeto(files[1], overwrite=True)
    with fits.open(files[2]) as h:  # planes stored z, g, r: reordered by BANDS
        data2, header2 = h[0].data.copy(), h[0].header.copy()
    header2["BANDS"], header2["BAND0"], header2["BAND1"], header2["BAND2"] = "zgr", "z", "g", "r"
    fits.PrimaryHDU(data2[[2, 0, 1]], header=header2).writeto(files[2], overwrite=True)
    report = convert(tmp_path / "out", table=table, cutouts=[tmp_path / "cutouts"])
    with h5py.File(report.written[0]) as f:
        np.testing.assert_array_equal(f["images"][0], data0)
        np.testing.assert_allclose(f["images"][1], data1, atol=1e-4)
        np.testing.assert_array_equal(f["images"][2], data2)
