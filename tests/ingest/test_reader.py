"""The shard reader: path or open file, chunked catalogue and image streams, the released column variants."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from ingest_shards import edit_shard, make_columns, make_images, write_test_shard

from lensdb.catalog.models import Source
from lensdb.core.errors import InvalidInput
from lensdb.core.ids import make_object_id
from lensdb.ingest.reader import catalog_columns, catalog_keys, magnitudes, open_shard, text_values
from lensdb.ingest.schema import write_shard


def test_open_from_path_and_from_open_file(tmp_path):
    path = write_test_shard(tmp_path / "a.h5", 20)
    with open_shard(path) as reader:
        assert reader.name == "a.h5"
        assert "images" in reader.keys and "flux" in reader.keys
        assert reader.file_size == path.stat().st_size
    with h5py.File(path, "r") as f:
        with open_shard(f) as reader:
            assert reader.path == path
            first = reader.read("ra", 0, 5)
        assert f["ra"].shape == (20,)  # the caller's file stays open
        np.testing.assert_array_equal(first, f["ra"][:5])


def test_catalogue_chunks_cover_every_row_once(tmp_path):
    path = write_test_shard(tmp_path / "a.h5", 23)
    with open_shard(path) as reader:
        chunks = list(reader.iter_columns(["ra", "psfsize"], 10, 23))
    assert [start for start, _ in chunks] == [0, 10, 20]
    assert [len(c["ra"]) for _, c in chunks] == [10, 10, 3]
    with h5py.File(path) as f:
        np.testing.assert_array_equal(np.concatenate([c["psfsize"] for _, c in chunks]), f["psfsize"][:])


@pytest.mark.parametrize("dtype, cutout", [(np.float16, 110), (np.float32, 112), (np.float32, 152)])
def test_image_stream_in_bounded_reads(tmp_path, dtype, cutout):
    images = make_images(30, cutout=cutout, dtype=dtype)
    path = write_shard(tmp_path / "a.h5", images, make_columns(30))
    row_bytes = 3 * cutout * cutout * np.dtype(dtype).itemsize
    budget = 7 * row_bytes + 1  # room for 7 rows, but HDF5 chunks (64 rows here) are larger
    with open_shard(path) as reader:
        assert reader.image_rows_per_read(budget) == 7
        assert reader.image_rows_per_read(200 * row_bytes) == 30  # capped at the shard size
        got = [(start, chunk.copy()) for start, chunk in reader.iter_images(budget)]
    assert [start for start, _ in got] == [0, 7, 14, 21, 28]
    assert all(chunk.nbytes <= budget and chunk.dtype == dtype for _, chunk in got)
    np.testing.assert_array_equal(np.concatenate([c for _, c in got]), images)


def test_image_reads_round_to_whole_hdf5_chunks(tmp_path):
    images = make_images(200, cutout=110)
    path = write_shard(tmp_path / "a.h5", images, make_columns(200))  # write_shard chunks by 64 rows
    row_bytes = 3 * 110 * 110 * 2
    with open_shard(path) as reader:
        assert reader.image_rows_per_read(150 * row_bytes) == 128


def test_magnitudes_from_flux_and_from_mag_columns():
    flux = np.array([[1.0, 10.0, 100.0], [0.0, -2.0, 3.63e-2]], dtype=np.float32)
    mags = magnitudes({"flux": flux})
    np.testing.assert_allclose(mags["mag_g"], [22.5, np.nan])
    np.testing.assert_allclose(mags["mag_r"], [20.0, np.nan])  # non-positive flux: no magnitude
    np.testing.assert_allclose(mags["mag_z"], [17.5, 22.5 - 2.5 * np.log10(np.float64(np.float32(3.63e-2)))])
    given = {f"mag_{b}": np.array([18.25], dtype=np.float32) for b in "grz"}
    assert magnitudes(given)["mag_r"].tolist() == [18.25]


def test_catalog_keys_prefer_flux_and_pick_optional_columns():
    released = ["images", "ra", "dec", "release", "brickid", "objid", "flux", "ebv", "psfsize", "psfdepth",
                "source_type", "z_phot_mean", "fiberflux", "inds"]
    keys = catalog_keys(released)
    assert "flux" in keys and "mag_g" not in keys and "z_phot_mean" in keys
    assert "fiberflux" not in keys and "inds" not in keys
    lensdb_own = [k for k in released if k != "flux"] + ["mag_g", "mag_r", "mag_z", "survey"]
    keys = catalog_keys(lensdb_own)
    assert {"mag_g", "mag_r", "mag_z", "survey"} <= set(keys) and "flux" not in keys


def test_text_values_accept_bytes_and_str_variants(tmp_path):
    path = write_test_shard(tmp_path / "s.h5", 10, text="str")
    with h5py.File(path) as f:
        assert h5py.check_string_dtype(f["source_type"].dtype).length is None  # variable-length str
        as_str = text_values(f["source_type"][:])
    cols = make_columns(10)
    assert as_str.tolist() == cols["source_type"].tolist()
    assert text_values(np.array([b"DEV ", b" EXP"])).tolist() == [b"DEV", b"EXP"]
    assert text_values(np.array(["REX"], dtype=object)).tolist() == [b"REX"]


def test_catalog_columns_match_the_sources_table():
    raw = make_columns(12, release=9011, brickid=77, first_objid=100)
    cols = catalog_columns(raw, np.full(12, b"north"))
    # sky_pixel is derived from ra and dec when the rows are written (lensdb.catalog.bulk), not read from a shard
    table = {c.name for c in Source.__table__.columns} - {"shard_id", "row", "sky_pixel"}
    assert set(cols) == table
    assert all(len(v) == 12 for v in cols.values())
    np.testing.assert_array_equal(cols["object_id"], make_object_id(9011, 77, np.arange(100, 112)))
    assert cols["psfdepth_z"].tolist() == raw["psfdepth"][:, 2].astype(np.float64).tolist()
    assert np.isnan(cols["mag_g"][3])  # the helper gives row 3 a negative g flux
    assert np.isnan(cols["z_phot_median"]).all()  # absent: NULL


def test_missing_and_truncated_files_are_invalid_input(tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        open_shard(tmp_path / "nope.h5")
    path = write_test_shard(tmp_path / "cut.h5", 20)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidInput, match=r"cut\.h5.*truncated"):
        open_shard(path)


def test_missing_dataset_names_file_and_key(tmp_path):
    path = edit_shard(write_test_shard(tmp_path / "a.h5", 5), ebv=None)
    with open_shard(path) as reader, pytest.raises(InvalidInput, match=r"a\.h5: key 'ebv': is missing"):
        reader.dataset("ebv")


def test_read_rows_and_cutouts_match_h5py_for_dense_and_sparse_rows(tmp_path):
    """One reader for every part: any row order and repeats, dense stretches and scattered rows, the centre crop of
    the encoder's CenterCrop, and a NaN pixel named by the shard's own row."""
    import h5py

    from lensdb.ingest.reader import ShardReader

    data = np.arange(5000 * 3 * 6 * 6, dtype=np.float32).reshape(5000, 3, 6, 6)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["images"] = data
    rng = np.random.default_rng(0)
    with ShardReader(tmp_path / "a.h5") as reader:
        assert reader.image_shape() == (5000, 6)
        for rows in (np.arange(0, 5000, 2), np.sort(rng.choice(5000, 7, replace=False)), np.array([4999]),
                     np.r_[np.arange(10, 900), np.arange(3000, 3003), [4500]], np.array([7, 3, 7, 4000])):
            assert np.array_equal(reader.read_rows("images", rows, block=512), data[rows])
            assert np.array_equal(reader.cutouts(rows, 4), data[rows][:, :, 1:5, 1:5])
        with pytest.raises(InvalidInput, match="smaller than the 8-px crop"):
            reader.cutouts([0], 8)
        with pytest.raises(InvalidInput, match="rows 4999-5000 asked, the shard has 5000"):
            reader.read_rows("images", [4999, 5000])
    data[1234, 2, 3, 3] = np.nan
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["images"] = data
    with ShardReader(tmp_path / "b.h5") as reader:
        with pytest.raises(InvalidInput, match="row 1234, band z"):
            reader.cutouts([5, 1234, 4000])
        assert reader.cutouts([5, 1234], check=False).shape == (2, 3, 6, 6)
