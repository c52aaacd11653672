"""Training to a wall-clock budget: the budget is honoured within 10 %, the learning rate follows the elapsed share of
it, a run resumed gets what is left of it, and bad budgets are refused with a clear message."""

from __future__ import annotations

import json
import time

import pytest
from encoder_testdata import make_shard, tiny_config

from lensdb.cli import main
from lensdb.core.config import ConfigError
from lensdb.encoder.checkpoint import load_checkpoint
from lensdb.encoder.train import lr_at_time, train

BUDGET = 20.0


@pytest.fixture
def shard(tmp_path):
    # 128 objects: 15 steps an epoch, so that the checkpoint and loss plot at each epoch's end are a small part of
    # the time (a real run checkpoints every 100 steps).
    return make_shard(tmp_path / "images_npix64_000000000_000000128.h5", n=128, size=64)


def log_lines(out):
    return [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]


def test_the_budget_is_honoured_within_ten_percent_and_uses_what_it_allows(shard, tmp_path):
    out = tmp_path / "run"
    t0 = time.perf_counter()
    result = train(tiny_config(time_budget_s=BUDGET, whiten_sample=0), [shard], out, progress=False)
    wall = time.perf_counter() - t0
    assert abs(wall - BUDGET) <= 0.1 * BUDGET, wall
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert result.complete and ckpt.complete and ckpt.step == result.step
    assert result.step > 3 * 15  # 15 steps an epoch: the budget allowed several epochs
    assert abs(ckpt.elapsed_s - BUDGET) <= 0.1 * BUDGET
    lines = log_lines(out)
    peak = tiny_config().lr * tiny_config().batch_size / tiny_config().lr_batch
    assert lines[0]["lr"] > 0.9 * peak  # the cosine starts at the peak ...
    assert lines[-1]["lr"] < 0.05 * peak  # ... and has decayed to ~0 when the budget is spent
    assert all(a["lr"] >= b["lr"] for a, b in zip(lines, lines[1:], strict=False))


def test_a_resumed_run_gets_what_is_left_of_the_budget(shard, tmp_path):
    out = tmp_path / "run"
    config = tiny_config(time_budget_s=BUDGET, whiten_sample=0)
    t0 = time.perf_counter()
    first = train(config, [shard], out, progress=False, max_steps=4)
    first_wall = time.perf_counter() - t0
    stopped = load_checkpoint(out / "checkpoint.pt")
    assert not first.complete and not stopped.complete and stopped.step == 4
    assert 0 < stopped.elapsed_s <= first_wall
    t1 = time.perf_counter()
    second = train(config, [], out, progress=False, resume=out / "checkpoint.pt")
    total_wall = first_wall + (time.perf_counter() - t1)
    assert second.complete and second.step > 4
    assert abs(total_wall - BUDGET) <= 0.1 * BUDGET, total_wall
    assert abs(load_checkpoint(out / "checkpoint.pt").elapsed_s - BUDGET) <= 0.1 * BUDGET
    # A complete run resumed again has nothing left to spend: no step, same checkpoint.
    before = (out / "checkpoint.pt").read_bytes()
    again = train(config, [], out, progress=False, resume=out / "checkpoint.pt")
    assert again.complete and again.step == second.step and (out / "checkpoint.pt").read_bytes() == before


def test_learning_rate_follows_the_spent_share_of_the_budget():
    config = tiny_config(warmup_steps=4)
    peak = config.lr * config.batch_size / config.lr_batch
    assert lr_at_time(config, 0, 0.5) == pytest.approx(peak / 4)  # warm-up by steps first
    assert lr_at_time(config, 10, 0.0) == pytest.approx(peak)
    assert lr_at_time(config, 10, 0.5) == pytest.approx(peak / 2)
    assert lr_at_time(config, 10, 1.0) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("bad", [0, -5, float("inf")])
def test_bad_budgets_are_refused(bad):
    with pytest.raises(ConfigError, match="time_budget_s must be a positive number of seconds"):
        tiny_config(time_budget_s=bad)


def test_cli_trains_to_a_budget_and_refuses_a_bad_one(shard, tmp_path, capsys):
    base = ["--data-dir", str(tmp_path / "data"), "encoder", "train", str(shard), "--preset", "small",
            "--whiten-sample", "0", "--no-progress", "--out", str(tmp_path / "enc")]
    assert main([*base, "--time-budget", "0"]) == 2
    assert "time_budget_s must be a positive number of seconds" in capsys.readouterr().err
    assert not (tmp_path / "enc" / "checkpoint.pt").exists()
