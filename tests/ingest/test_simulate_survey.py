"""Simulated surveys: format, determinism, resumption, options, and consistency of catalogue, images and truth."""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest

from lensdb.core.config import ConfigError, load_section
from lensdb.core.errors import Conflict, InvalidInput
from lensdb.core.ids import RELEASE_SURVEY, SOURCE_TYPES, make_object_id
from lensdb.ingest.schema import COLUMN_BY_NAME, COLUMNS
from lensdb.ingest.simulate import (
    CLASSES,
    SimulateConfig,
    draw_object,
    read_truth,
    render,
    simulate_arrays,
    simulate_survey,
)
from lensdb.ingest.simulate.conditions import noise_from_psfdepth
from lensdb.ingest.simulate.objects import draw_class
from lensdb.ingest.simulate.sky import NORTH_SOUTH_DEC

BASE = dict(n_objects=96, shard_size=40, seed=5, lens_rate=0.1, lookalike_rate=0.2, north_fraction=0.4)


def _read(shards) -> dict[str, np.ndarray]:
    """All shards of a survey concatenated, keyed by dataset name."""
    parts: dict[str, list] = {}
    for path in shards:
        with h5py.File(path, "r") as f:
            for key in f:
                parts.setdefault(key, []).append(f[key][...])
    return {k: np.concatenate(v) for k, v in parts.items()}


def _ids(data) -> np.ndarray:
    return make_object_id(data["release"], data["brickid"], data["objid"])


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    return simulate_survey(SimulateConfig(**BASE), tmp_path_factory.mktemp("survey"))


def test_shards_have_the_released_layout_and_complete_catalogue(survey):
    assert [p.name for p in survey.shards] == [
        "images_npix152_000000000_000000040.h5", "images_npix152_000000040_000000080.h5",
        "images_npix152_000000080_000000096.h5"]
    for path in survey.shards:
        with h5py.File(path, "r") as f:
            n = f["images"].shape[0]
            assert f["images"].shape == (n, 3, 152, 152) and f["images"].dtype == np.float32
            assert set(f) - {"images"} <= set(COLUMN_BY_NAME)
            for col in COLUMNS:
                if col.name.startswith("mag_"):
                    continue  # flux is given instead
                assert col.name in f, col.name
                assert f[col.name].shape == ((n,) if col.width == 1 else (n, col.width)), col.name
            zflux = f["flux"][:, 2]
            assert np.all(np.diff(zflux) <= 0), "rows sorted by decreasing z flux"
    data = _read(survey.shards)
    assert np.all(np.isfinite(data["images"]))
    ids = _ids(data)
    assert len(np.unique(ids)) == len(ids) == 96
    assert sorted(data["inds"]) == list(range(96))
    surveys = data["survey"].astype(str)
    assert all(RELEASE_SURVEY[int(r)] == s for r, s in zip(data["release"], surveys, strict=True))
    assert np.all(data["dec"][surveys == "south"] < NORTH_SOUTH_DEC)
    assert np.all(data["dec"][surveys == "north"] > NORTH_SOUTH_DEC)
    assert set(data["source_type"].astype(str)) <= set(SOURCE_TYPES)
    mag_z = 22.5 - 2.5 * np.log10(data["flux"][:, 2])
    assert 14.5 < mag_z.min() and mag_z.max() < 21.5
    assert np.all(data["psfsize"] > 0.6) and np.all(data["psfsize"] < 4.0)
    assert np.all((data["transmission"] > 0) & (data["transmission"] <= 1))
    assert np.all(data["z_phot_l68"] <= data["z_phot_median"]) and np.all(data["z_phot_median"] <= data["z_phot_u68"])


def test_truth_table_and_manifest(survey):
    rows = read_truth(survey.truth)
    data = _read(survey.shards)
    assert [int(r["object_id"]) for r in rows] == _ids(data).tolist()
    assert {r["class"] for r in rows} <= set(CLASSES)
    for row in rows:
        if row["class"] == "lens":
            assert 0.9 <= float(row["theta_e_arcsec"]) <= 3.3
            assert int(row["n_images"]) >= 2 and float(row["magnification"]) > 1
            assert row["config"] in ("ring", "quad", "double")
        else:
            assert row["theta_e_arcsec"] == row["magnification"] == ""
    manifest = json.loads(survey.manifest.read_text())
    assert manifest["complete"] and manifest["n_objects"] == 96
    assert manifest["counts"] == survey.counts and sum(survey.counts.values()) == 96
    assert manifest["config"]["seed"] == 5


def test_objects_do_not_depend_on_shard_size_or_workers(survey, tmp_path):
    one = simulate_survey(SimulateConfig(**{**BASE, "shard_size": 96}), tmp_path / "one")
    a, b = _read(survey.shards), _read(one.shards)
    ia, ib = np.argsort(_ids(a)), np.argsort(_ids(b))
    for key in a:
        if key != "inds":
            np.testing.assert_array_equal(a[key][ia], b[key][ib], err_msg=key)
    by_id = {r["object_id"]: r for r in read_truth(survey.truth)}
    assert {r["object_id"]: r for r in read_truth(one.truth)} == by_id
    two = simulate_survey(SimulateConfig(**{**BASE, "n_objects": 40, "workers": 2}), tmp_path / "two")
    ref = simulate_survey(SimulateConfig(**{**BASE, "n_objects": 40}), tmp_path / "ref")
    assert _digest(two.out_dir) == _digest(ref.out_dir)


def test_in_memory_arrays_are_the_written_objects(survey):
    images, columns, truth = simulate_arrays(SimulateConfig(**BASE), 10, 20)
    assert images.shape == (10, 3, 152, 152) and len(truth) == 10
    data = _read(survey.shards)
    rows = {int(i): k for k, i in enumerate(_ids(data))}
    for k, oid in enumerate(_ids(columns)):
        np.testing.assert_array_equal(images[k], data["images"][rows[int(oid)]])
        assert int(truth[k]["object_id"]) == int(oid)


def test_rerun_skips_finished_shards_and_reproduces_files(survey, tmp_path):
    config = SimulateConfig(**{**BASE, "n_objects": 30, "shard_size": 12})
    first = simulate_survey(config, tmp_path / "s")
    before = _digest(first.out_dir)
    again = simulate_survey(config, tmp_path / "s")
    assert again.rendered == 0 and _digest(again.out_dir) == before
    first.shards[1].unlink()
    resumed = simulate_survey(config, tmp_path / "s")
    assert resumed.rendered == 12 and _digest(resumed.out_dir) == before
    with pytest.raises(Conflict, match="seed"):
        simulate_survey(SimulateConfig(**{**BASE, "n_objects": 30, "shard_size": 12, "seed": 6}), tmp_path / "s")


def test_float16_and_smaller_cutouts_are_crops_of_the_released_size(survey, tmp_path):
    small = simulate_survey(SimulateConfig(**{**BASE, "shard_size": 96, "cutout": 120, "dtype": "float16"}),
                            tmp_path / "small")
    assert small.shards[0].name == "images_npix120_000000000_000000096.h5"
    a, b = _read(survey.shards), _read(small.shards)
    assert b["images"].dtype == np.float16 and b["images"].shape == (96, 3, 120, 120)
    ia, ib = np.argsort(_ids(a)), np.argsort(_ids(b))
    crop = a["images"][ia][:, :, 16:136, 16:136]
    np.testing.assert_allclose(b["images"][ib].astype(np.float32), crop, rtol=2e-3, atol=1e-4)


@pytest.mark.parametrize("cls", CLASSES)
def test_catalogue_flux_equals_the_rendered_flux(cls):
    for k in range(3):
        spec = draw_object(np.random.default_rng([11, k]), cls=cls, mag_range=(16.5, 20.0))
        image = render(spec, 152, noise=False, only_central=True)
        np.testing.assert_allclose(image.sum(axis=(1, 2)), spec.flux, rtol=0.01)
        full = render(spec, 152, noise=False)
        assert np.all(full.sum(axis=(1, 2)) > 0.99 * spec.flux)  # the field only adds light


def test_pixel_noise_matches_the_psfdepth_relation():
    for survey_name in ("south", "north"):
        spec = draw_object(np.random.default_rng(21), survey=survey_name)
        noisy = render(spec, 152, np.random.default_rng(22))
        noise = noisy - render(spec, 152, noise=False)
        expected = noise_from_psfdepth(spec.conditions.psfdepth, spec.conditions.psfsize)
        np.testing.assert_allclose(noise.std(axis=(1, 2)), expected, rtol=0.03)


def test_north_is_noisier_than_south_in_a_survey(survey):
    data = _read(survey.shards)
    sigma = noise_from_psfdepth(data["psfdepth"], data["psfsize"])
    north = data["survey"].astype(str) == "north"
    assert 0 < north.sum() < len(north)
    assert np.all(np.median(sigma[north], axis=0) > np.median(sigma[~north], axis=0))


def test_class_rates_are_honoured():
    rng = np.random.default_rng(3)
    draws = [draw_class(rng, 0.05, 0.2) for _ in range(20000)]
    n_lens = draws.count("lens")
    assert abs(n_lens - 1000) < 4 * np.sqrt(1000 * 0.95)
    assert abs(sum(d in ("ring", "spiral", "companion", "merger") for d in draws) - 4000) < 4 * np.sqrt(4000 * 0.8)
    assert "lens" not in [draw_class(rng, 0.0, 0.0) for _ in range(2000)]


def test_bad_options_give_clear_errors():
    with pytest.raises(InvalidInput, match="cutout must be at least 110"):
        SimulateConfig(cutout=100)
    with pytest.raises(InvalidInput, match="lens_rate must lie in"):
        SimulateConfig(lens_rate=-0.1)
    with pytest.raises(InvalidInput, match="lens_rate \\+ lookalike_rate"):
        SimulateConfig(lens_rate=0.6, lookalike_rate=0.6)
    with pytest.raises(ConfigError, match="dtype"):
        load_section(SimulateConfig, None, "simulate", dtype="float64")
    with pytest.raises(ConfigError, match="unknown key"):
        load_section(SimulateConfig, None, "simulate", n_object=3)
    with pytest.raises(ValueError, match="unknown class"):
        draw_object(np.random.default_rng(0), cls="quasar")
