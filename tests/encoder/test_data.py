"""The training selection (south, mag_z < 20, flat in mag_z) and the shard reader of the encoder."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from encoder_testdata import make_shard

from lensdb.core.errors import Conflict, InvalidInput
from lensdb.encoder.data import EpochBatchSampler, ShardImages, TrainingSelection, select_training_sample


def test_selection_is_south_bright_and_flat_in_mag_z(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    mag = np.clip(21.0 - rng.exponential(1.2, n), 14.0, None)  # many faint, few bright: like a survey
    survey = np.where(rng.random(n) < 0.2, "north", "south")
    path = make_shard(tmp_path / "a.h5", n=n, size=8, mag_z=mag, survey=survey)
    sel = select_training_sample([path], bin_width=0.5, seed=1)
    mag_sel = mag[sel.row]
    assert np.all(mag_sel < 20.0) and np.all(survey[sel.row] == "south")
    counts = np.bincount(np.floor((mag_sel - mag_sel.min()) / 0.5).astype(int))
    quota = sel.criteria["quota_per_bin"]
    assert counts.max() == quota
    candidates = mag[(survey == "south") & (mag < 20)]
    all_counts = np.bincount(np.floor((candidates - candidates.min()) / 0.5).astype(int))
    np.testing.assert_array_equal(counts, np.minimum(all_counts, quota))  # full bins capped, sparse ones whole
    assert sel.criteria["n_candidates"] == candidates.size
    # the same seed gives the same selection; another seed another one
    assert select_training_sample([path], bin_width=0.5, seed=1).digest == sel.digest
    assert select_training_sample([path], bin_width=0.5, seed=2).digest != sel.digest


def test_max_objects_is_met_exactly_and_ids_come_from_the_catalogue(tmp_path):
    a = make_shard(tmp_path / "a.h5", n=200, size=8, seed=1, use_flux=True)  # magnitudes from flux
    b = make_shard(tmp_path / "b.h5", n=200, size=8, seed=2, brick=2)
    sel = select_training_sample([a, b], max_objects=123, seed=0)
    assert len(sel) == 123
    assert set(np.unique(sel.shard_index)) == {0, 1}
    with h5py.File(b, "r") as f:
        objid = f["objid"][:]
    mine = sel.shard_index == 1
    np.testing.assert_array_equal(sel.object_id[mine] & ((1 << 20) - 1), objid[sel.row[mine]])
    assert np.all(sel.object_id[mine] >> 40 == 9010)


def test_survey_from_release_when_there_is_no_survey_column(tmp_path):
    path = make_shard(tmp_path / "a.h5", n=20, size=8, release=9011, mag_z=np.full(20, 18.0))
    with h5py.File(path, "a") as f:
        del f["survey"]
    with pytest.raises(InvalidInput, match="no south object"):
        select_training_sample([path])
    assert len(select_training_sample([path], survey="north")) == 20


def test_selection_state_round_trip_and_shard_checks(tmp_path):
    path = make_shard(tmp_path / "a.h5", n=50, size=8)
    sel = select_training_sample([path], mag_z_max=30)
    back = TrainingSelection.from_state(sel.to_state())
    assert back.digest == sel.digest and back.criteria == sel.criteria
    back.verify()
    make_shard(path, n=50, size=8, seed=5, brick=7)  # same name, different objects
    with pytest.raises(Conflict, match="changed|different objects"):
        back.verify()
    state = sel.to_state()
    state["row"] = state["row"].flip(0)
    with pytest.raises(InvalidInput, match="digest"):
        TrainingSelection.from_state(state)


def test_shard_images_reads_batches_in_the_requested_order(tmp_path):
    path = make_shard(tmp_path / "a.h5", n=40, size=20, dtype=np.float16)
    sel = select_training_sample([path], mag_z_max=30)
    ds = ShardImages(sel)
    idx = [5, 0, 17, 3]
    images, ebv = ds.__getitems__(idx)
    assert images.dtype == torch.float32 and images.shape == (4, 3, 20, 20)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(images.numpy(), f["images"][:][sel.row[idx]].astype(np.float32))
        np.testing.assert_array_equal(ebv.numpy(), f["ebv"][:][sel.row[idx]])
    one, e = ds[17]
    torch.testing.assert_close(one, images[2])


def test_epoch_sampler_splits_ranks_and_skips_done_batches():
    full = [list(EpochBatchSampler(50, 4, seed=0, epoch=1, rank=r, world=2)) for r in (0, 1)]
    assert len(full[0]) == len(full[1]) == 6  # 50 // 8 global batches
    flat = [i for r in full for b in r for i in b]
    assert len(flat) == len(set(flat)) == 48
    resumed = list(EpochBatchSampler(50, 4, seed=0, epoch=1, rank=1, world=2, start=4))
    assert resumed == full[1][4:]
    assert list(EpochBatchSampler(50, 4, seed=0, epoch=2)) != list(EpochBatchSampler(50, 4, seed=0, epoch=1))
