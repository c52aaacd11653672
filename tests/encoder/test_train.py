"""Training runs: outputs, exact resume, refusals, the CLI; DDP with gloo on CPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from encoder_testdata import ddp_worker, make_shard, tiny_config
from lite_server import free_port

from lensdb.cli import main
from lensdb.core.errors import Conflict
from lensdb.encoder.checkpoint import load_checkpoint
from lensdb.encoder.config import resolve_config
from lensdb.encoder.moco import MoCo
from lensdb.encoder.train import lr_at, train


@pytest.fixture
def shard(tmp_path):
    return make_shard(tmp_path / "images_npix64_000000000_000000032.h5", n=32, size=64)


def test_training_writes_checkpoint_log_and_loss_curve(shard, tmp_path):
    out = tmp_path / "run"
    result = train(tiny_config(), [shard], out, progress=False)
    assert result.complete and result.step == 3  # 27 selected objects // batch 8
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt.version == result.version and ckpt.complete and ckpt.step == 3
    assert len(ckpt.losses) == 3 and all(x > 0 for x in ckpt.losses)
    assert ckpt.selection["criteria"]["n_selected"] == 27
    assert (out / "loss_curve.png").stat().st_size > 1000
    lines = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3] and all("images_per_s" in x for x in lines)
    assert json.loads((out / "config.json").read_text())["crop"] == 32


def test_resume_continues_exactly_like_an_uninterrupted_run(shard, tmp_path):
    config = tiny_config(epochs=2)  # 3 steps per epoch; stop mid-way through the second epoch
    straight = train(config, [shard], tmp_path / "a", progress=False)
    stopped = train(config, [shard], tmp_path / "b", progress=False, max_steps=4)
    assert stopped.step == 4 and not stopped.complete
    resumed = train(config, [], tmp_path / "b", progress=False, resume=tmp_path / "b" / "checkpoint.pt")
    assert resumed.step == straight.step == 6 and resumed.complete
    assert resumed.losses == straight.losses
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert resumed.version == straight.version


def test_resume_after_the_data_moved(shard, tmp_path):
    config = tiny_config(epochs=2)
    train(config, [shard], tmp_path / "run", progress=False, max_steps=2)
    moved = tmp_path / "elsewhere" / shard.name
    moved.parent.mkdir()
    shard.rename(moved)
    with pytest.raises(Conflict, match="at their new place"):  # the recorded path is gone
        train(config, [], tmp_path / "run", progress=False, resume=tmp_path / "run" / "checkpoint.pt")
    resumed = train(config, [moved], tmp_path / "run", progress=False, resume=tmp_path / "run" / "checkpoint.pt")
    assert resumed.complete and resumed.step == 6
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt").selection["shards"][0]["path"] == str(moved.resolve())


def test_refuses_to_overwrite_or_to_change_a_run_on_resume(shard, tmp_path):
    out = tmp_path / "run"
    train(tiny_config(), [shard], out, progress=False, max_steps=1)
    with pytest.raises(Conflict, match="--resume"):
        train(tiny_config(), [shard], out, progress=False)
    with pytest.raises(Conflict, match="batch_size"):
        train(tiny_config(), [], out, resume=out / "checkpoint.pt", overrides={"batch_size": 4}, progress=False)
    other = make_shard(tmp_path / "other.h5", n=32, size=64, seed=3)
    with pytest.raises(Conflict, match="shards given differ"):
        train(tiny_config(), [other], out, resume=out / "checkpoint.pt", progress=False)
    more = train(tiny_config(), [], out, resume=out / "checkpoint.pt", overrides={"epochs": 2}, progress=False)
    assert more.step == 6 and more.complete  # more epochs may be added


def test_learning_rate_warms_up_then_decays_to_zero():
    c = tiny_config(lr=0.1, lr_batch=16, batch_size=8, warmup_steps=10)  # 8 per process, lr given for 16
    assert lr_at(c, 0, 100, world=2) == pytest.approx(0.01)
    assert lr_at(c, 9, 100, world=2) == pytest.approx(0.1)
    assert lr_at(c, 55, 100, world=2) == pytest.approx(0.05)
    assert lr_at(c, 100, 100, world=2) == pytest.approx(0.0)
    assert lr_at(c, 9, 100, world=1) == pytest.approx(0.05)  # half the global batch, half the rate


def test_presets_and_overrides():
    assert resolve_config(None, "resnet50").queue_size == 65536
    small = resolve_config(None, "small", batch_size=16, augment={"jitter": 5})
    assert small.backbone == "resnet18_narrow" and small.batch_size == 16 and small.augment.jitter == 5
    assert small.embed_dim == 2048


def test_cli_trains_resumes_and_reports(tmp_path, capsys):
    shard = make_shard(tmp_path / "s.h5", n=32, size=80)  # the small preset crops 48 px with 7 px jitter
    base = ["--data-dir", str(tmp_path / "data"), "encoder", "train"]
    opts = ["--preset", "small", "--batch-size", "4", "--queue-size", "16", "--no-progress", "--threads", "1"]
    assert main([*base, str(shard), *opts, "--max-steps", "1"]) == 0
    assert "stopped at step 1" in capsys.readouterr().out
    ckpt = tmp_path / "data" / "encoder" / "checkpoint.pt"
    assert main([*base, "--resume", "--max-steps", "2", "--no-progress"]) == 0
    assert "stopped at step 2" in capsys.readouterr().out
    assert main(["--data-dir", str(tmp_path / "data"), "encoder", "info", str(ckpt)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["step"] == 2 and info["config"]["preset"] == "small" and info["version"].startswith("small_")
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    assert main(["--data-dir", str(tmp_path / "data"), "encoder", "info", str(ckpt)]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err


def test_encoder_train_records_a_job(tmp_path, capsys):
    """Issue #27 item 13: 'lensdb encoder train' recorded no job, so 'lensdb jobs' could not mark a killed
    training. It records one (done, failed with the error) when the catalogue has its schema."""
    from sqlalchemy import select

    from lensdb.catalog.db import make_engine, upgrade
    from lensdb.catalog.models import Job

    shard = make_shard(tmp_path / "s.h5", n=32, size=80)
    url = f"sqlite:///{tmp_path / 'cat.sqlite'}"
    upgrade(url)
    base = ["--data-dir", str(tmp_path / "data"), "--database-url", url, "encoder", "train"]
    opts = ["--preset", "small", "--batch-size", "4", "--queue-size", "16", "--no-progress", "--threads", "1"]
    assert main([*base, str(shard), *opts, "--max-steps", "1"]) == 0
    assert main([*base, str(shard), *opts, "--max-steps", "1"]) == 2  # a checkpoint is there: refused, recorded
    capsys.readouterr()
    engine = make_engine(url)
    with engine.connect() as conn:
        jobs = conn.execute(select(Job.kind, Job.status, Job.message, Job.params).order_by(Job.id)).all()
    engine.dispose()
    assert [(j.kind, j.status) for j in jobs] == [("encoder-train", "done"), ("encoder-train", "failed")]
    assert jobs[0].params["shards"] == [str(shard)] and "Conflict" in jobs[1].message


def test_ddp_on_cpu_keeps_ranks_identical(shard, tmp_path):
    out, res = tmp_path / "ddp", tmp_path / "res"
    res.mkdir()
    mp.spawn(ddp_worker, args=(2, free_port(), str(shard), str(out), str(res)), nprocs=2, join=True)
    r0 = torch.load(res / "rank0.pt", weights_only=True)
    r1 = torch.load(res / "rank1.pt", weights_only=True)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k  # weights, key encoder, queue and BN statistics all agree
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt.meta["world_size"] == 2 and ckpt.complete
    assert ckpt.step == 2  # 27 objects // (2 ranks x 8) = 1 step per epoch, 2 epochs
    torch.manual_seed(0)  # the initial weights of every rank
    init = MoCo.from_config(tiny_config()).state_dict()
    assert not torch.equal(r0["encoder_q.stem.0.weight"], init["encoder_q.stem.0.weight"])  # it trained


@pytest.mark.slow
def test_torchrun_cli_two_processes(tmp_path):
    shard = make_shard(tmp_path / "s.h5", n=32, size=80)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(free_port()), "-m", "lensdb.cli", "--data-dir", str(tmp_path / "data"), "encoder", "train",
           str(shard), "--preset", "small", "--batch-size", "4", "--queue-size", "16", "--max-steps", "2",
           "--no-progress", "--device", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = load_checkpoint(tmp_path / "data" / "encoder" / "checkpoint.pt")
    assert ckpt.meta["world_size"] == 2 and ckpt.step == 2
