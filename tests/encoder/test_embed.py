"""The embedding job against a real Milvus Lite file: vectors, norms, metadata, resume, version guard, bad shards."""

from __future__ import annotations

import shutil
import uuid

import h5py
import numpy as np
import pytest
import torch
from encoder_testdata import make_shard, tiny_config

from lensdb import cli
from lensdb.core.config import load_settings
from lensdb.core.errors import Conflict, InvalidInput
from lensdb.core.ids import make_object_id
from lensdb.core.partition import parse_partition, select_partition
from lensdb.encoder.batch import BatchEncoder, normalise
from lensdb.encoder.checkpoint import Checkpoint, save_checkpoint
from lensdb.encoder.data import select_training_sample
from lensdb.encoder.inference import Embedder
from lensdb.encoder.moco import MoCo
from lensdb.ingest.chunks import Prefetcher
from lensdb.ingest.reader import find_shards
from lensdb.services.embedding import embed_shards
from lensdb.vectordb import collection, naming
from lensdb.vectordb.config import VectorDBConfig
from lensdb.vectordb.store import VectorStore

SIZE = 112  # the smallest cutout a shard may hold is 110 (training crop + jitter); the tiny model crops 32


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    config = tiny_config()
    torch.manual_seed(0)
    model = MoCo.from_config(config)
    opt = torch.optim.SGD(model.query_parameters(), lr=0.1)
    sel = select_training_sample([make_shard(folder / "train.h5", n=8, size=40)], mag_z_max=30)
    path = folder / "checkpoint.pt"
    version = save_checkpoint(path, Checkpoint(config, sel.to_state(), model.state_dict(), opt.state_dict()))
    return path, version


@pytest.fixture
def settings(tmp_path, request):
    """A Lite file by default; ``milvus`` (indirect parametrization) is the real Milvus server of the session, with
    a collection prefix of the test's own (written to the data folder's lensdb.toml, so the CLI finds it too)."""
    if getattr(request, "param", "lite-file") == "lite-file":
        return load_settings(env={}, data_dir=str(tmp_path / "data"), milvus_uri=str(tmp_path / "milvus.db"))
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "lensdb.toml").write_text(f'[vectordb]\ncollection_prefix = "t{uuid.uuid4().hex[:12]}"\n')
    return load_settings(env={}, data_dir=str(data), milvus_uri=request.getfixturevalue("milvus_standalone"))


#: The embedding tests that also run against the real Milvus server (the others test the job, not the engine).
ON_BOTH = pytest.mark.parametrize("settings", ["lite-file", "milvus"], indirect=True)


def _count(settings, version):
    with VectorStore.open(settings, version) as store:
        return store.count()


@ON_BOTH
def test_vectors_norms_metadata_and_rerun_idempotent(tmp_path, settings, checkpoint):
    ckpt, version = checkpoint
    (tmp_path / "shards").mkdir()
    a = make_shard(tmp_path / "shards" / "a.h5", n=11, size=SIZE, seed=1, brick=1)
    b = make_shard(tmp_path / "shards" / "b.h5", n=7, size=SIZE, seed=2, brick=2, use_flux=True,
                   dtype=np.float16, survey=["north"] * 7)
    report = embed_shards(settings, [tmp_path / "shards"], ckpt, batch_size=4, chunk_rows=5, device="cpu",
                          precision="fp32")
    assert report.encoder_version == version and [s.rows for s in report.embedded] == [11, 7]
    prefix = VectorDBConfig.from_settings(settings).collection_prefix
    assert report.collection == naming.collection_name(version, prefix)

    emb = Embedder.from_checkpoint(ckpt, device="cpu")
    with VectorStore.open(settings, version) as store:
        assert store.count() == 18
        for shard, survey in ((a, "south"), (b, "north")):
            with h5py.File(shard) as f:
                images, ra = f["images"][:], f["ra"][:]
                ids = (f["release"][:] << 40) | (f["brickid"][:] << 20) | f["objid"][:]
                mag_r = f["mag_r"][:] if "mag_r" in f else 22.5 - 2.5 * np.log10(f["flux"][:, 1])
            got = store.get(ids, with_vectors=True)
            assert got["object_id"].tolist() == ids.tolist()
            raw = emb.embed(images).numpy()
            expected_norm = np.linalg.norm(raw, axis=1)
            np.testing.assert_allclose(np.linalg.norm(got["vector"], axis=1), 1.0, atol=1e-5)
            np.testing.assert_allclose(got["vector"], raw / expected_norm[:, None], atol=1e-5)
            np.testing.assert_allclose(got["norm"], expected_norm, rtol=1e-5)
            np.testing.assert_allclose(got["mag_r"], mag_r, rtol=1e-6)
            np.testing.assert_allclose(got["ra"], ra)
            assert set(got["survey"]) == {survey} and set(got["source_type"]) == {"EXP"}
            assert set(got["shard"]) == {shard.name} and got["shard_row"].tolist() == list(range(len(ids)))

    again = embed_shards(settings, [a, b], ckpt, device="cpu", precision="fp32")
    assert len(again.skipped) == 2 and not again.embedded
    assert _count(settings, version) == 18
    # the data folder moved (mv keeps size and mtime): still done
    moved = tmp_path / "moved"
    (tmp_path / "shards").rename(moved)
    after_move = embed_shards(settings, [moved], ckpt, device="cpu", precision="fp32")
    assert len(after_move.skipped) == 2 and not after_move.embedded
    (moved).rename(tmp_path / "shards")
    # a changed shard file is embedded again, by upsert: still no duplicates
    make_shard(a, n=11, size=SIZE, seed=3, brick=1)
    third = embed_shards(settings, [a, b], ckpt, device="cpu", precision="fp32")
    assert [s.path.name for s in third.embedded] == ["a.h5"] and _count(settings, version) == 18


@ON_BOTH
def test_interrupted_shard_is_redone_without_duplicates(tmp_path, settings, checkpoint):
    ckpt, version = checkpoint
    shard = make_shard(tmp_path / "s.h5", n=10, size=SIZE)

    def interrupt(event, name, n):
        if event == "rows":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_shards(settings, [shard], ckpt, chunk_rows=4, device="cpu", progress=interrupt)
    assert _count(settings, version) == 4  # the first chunk landed, the shard is not marked done
    report = embed_shards(settings, [shard], ckpt, chunk_rows=4, device="cpu")
    assert [s.rows for s in report.embedded] == [10] and _count(settings, version) == 10
    assert len(list((settings.data_dir / "embed").rglob("*.json"))) == 1


def test_collection_of_another_encoder_version_is_rejected(tmp_path, settings, checkpoint):
    ckpt, version = checkpoint
    shard = make_shard(tmp_path / "s.h5", n=4, size=SIZE)
    config = VectorDBConfig.from_settings(settings)
    # a collection under this version's name that records another encoder's vectors
    with VectorStore.open(settings, "other-encoder", dim=2048, create=True) as other:
        collection.create(other.client, naming.collection_name(version), "other-encoder", 2048, config)
    with pytest.raises(Conflict, match="holds vectors of encoder version 'other-encoder', not '" + version):
        embed_shards(settings, [shard], ckpt, device="cpu")
    assert not (settings.data_dir / "embed").exists()


def test_bad_shards_give_clear_errors_and_write_nothing(tmp_path, settings, checkpoint):
    ckpt, version = checkpoint
    small = make_shard(tmp_path / "small.h5", n=4, size=64)
    with pytest.raises(InvalidInput, match=r"small\.h5: key 'images': cutouts of 64 pixels are smaller"):
        embed_shards(settings, [small], ckpt, device="cpu")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(InvalidInput, match=r"junk\.h5: key \(file\): cannot open as HDF5"):
        embed_shards(settings, [junk], ckpt, device="cpu")
    bad_type = make_shard(tmp_path / "bad.h5", n=4, size=SIZE)
    with h5py.File(bad_type, "r+") as f:
        del f["source_type"]
        f["source_type"] = np.array([b"EXP", b"EXP", b"BLOB", b"EXP"])
    with pytest.raises(InvalidInput, match=r"bad\.h5: key 'source_type': unknown morphology 'BLOB' at row 2"):
        embed_shards(settings, [bad_type], ckpt, device="cpu")
    with pytest.raises(InvalidInput, match="no such file or folder"):
        embed_shards(settings, [tmp_path / "missing.h5"], ckpt, device="cpu")
    assert _count(settings, version) == 0


@ON_BOTH
def test_shard_partition_and_cli(tmp_path, settings, checkpoint, capsys):
    ckpt, version = checkpoint
    folder = tmp_path / "shards"
    folder.mkdir()
    for i in range(5):
        make_shard(folder / f"s{i}.h5", n=3, size=SIZE, brick=i + 1)
    files = find_shards([folder, folder / "s2.h5"], must_exist=True)
    assert [f.name for f in files] == [f"s{i}.h5" for i in range(5)]
    parts = [select_partition(files, f"{i}/3") for i in range(3)]
    assert [[f.name for f in p] for p in parts] == [["s0.h5", "s3.h5"], ["s1.h5", "s4.h5"], ["s2.h5"]]
    assert sorted(sum(parts, [])) == sorted(files)
    for bad in ("3/3", "1", "a/b", "0/0"):
        with pytest.raises(InvalidInput, match="--shard"):
            parse_partition(bad)

    argv = ["--data-dir", str(settings.data_dir), "--milvus-uri", settings.milvus_uri, "embed", str(folder),
            "--checkpoint", str(ckpt), "--shard", "1/3", "--device", "cpu", "--no-progress", "--batch-size", "2"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "embedded" in out and "s1.h5" in out and "s4.h5" in out and "s0.h5" not in out
    assert _count(settings, version) == 6
    assert cli.main(argv) == 0
    assert "2 skipped as done" in capsys.readouterr().out
    assert cli.main([*argv[:4], "embed", str(folder), "--shard", "5/3"]) == 2
    # reader processes: the same job, the other shards, no duplicates
    assert cli.main([*argv[:9], "0/3", *argv[10:], "--read-workers", "2"]) == 0
    assert "s3.h5" in capsys.readouterr().out and _count(settings, version) == 12
    assert cli.main([*argv, "--read-workers", "-1"]) == 2
    assert "read_workers must be 0" in capsys.readouterr().err


def test_bf16_and_prefetcher_errors(checkpoint):
    ckpt, _ = checkpoint
    emb = Embedder.from_checkpoint(ckpt, device="cpu")
    images = np.random.default_rng(0).uniform(0, 0.2, (6, 3, 40, 40)).astype(np.float32)
    ref, _ = normalise(emb.embed(images))
    got, _ = normalise(BatchEncoder(emb, "bf16", batch_size=4, channels_last=True)(images))
    assert np.abs((ref * got).sum(1) - 1).max() < 1e-2  # cosine to the fp32 vector

    def failing():
        yield 1
        raise InvalidInput("boom")

    with Prefetcher(failing()) as it, pytest.raises(InvalidInput, match="boom"):
        list(it)


def test_host_centre_crop_gives_the_pipeline_s_pixels_and_vectors(checkpoint):
    from lensdb.encoder.transforms.crop import CenterCrop, host_centre_crop

    ckpt, _ = checkpoint
    emb = Embedder.from_checkpoint(ckpt, device="cpu")
    images = torch.as_tensor(np.random.default_rng(1).uniform(0, 0.2, (5, 3, 41, 38)).astype(np.float32))
    cut = host_centre_crop(images, emb.crop)
    assert cut.shape == (5, 3, emb.crop, emb.crop) and cut.is_contiguous()
    assert torch.equal(cut, CenterCrop(emb.crop)(images))  # the same offset as the pipeline's crop
    assert host_centre_crop(cut, emb.crop) is cut  # already crop-sized: untouched
    small = images[:, :, :10, :10]
    assert host_centre_crop(small, emb.crop) is small  # too small: left for CenterCrop's error
    with pytest.raises(InvalidInput, match="too small"):
        emb.embed(small)
    plain = emb.backbone(emb.pipeline(images)).detach()  # full cutout through the pipeline, no host crop
    assert torch.allclose(emb.embed(images), plain, atol=1e-5)
    assert torch.allclose(BatchEncoder(emb, "fp32", batch_size=2)(images), plain, atol=1e-5)
    assert BatchEncoder(emb, "fp32")(images[:0]).shape == (0, emb.dim)


def test_reader_workers_and_device_side_nan_check(tmp_path, checkpoint):
    from lensdb.encoder.batch import NonFinitePixels, encoded_chunks
    from lensdb.ingest.reader import open_shard

    ckpt, _ = checkpoint
    emb = Embedder.from_checkpoint(ckpt, device="cpu")
    shard = make_shard(tmp_path / "nan.h5", n=6, size=SIZE)
    with h5py.File(shard) as f:
        images = f["images"][:]
    ref = emb.embed(images)
    with open_shard(shard) as reader:
        for check_finite, workers in ((False, 0), (True, 0), (False, 2), (True, 2)):
            encode = BatchEncoder(emb, batch_size=4, check_finite=check_finite)
            got = list(encoded_chunks(reader, encode, 4, workers=workers))
            assert [c.start for c, _ in got] == [0, 4]  # in order, from worker processes too
            # the host crop (unchecked path) and the workers change nothing
            assert torch.allclose(torch.cat([raw for _, raw in got]), ref, atol=1e-5)
    images[5, 2, 0, 0] = np.nan
    with h5py.File(shard, "r+") as f:
        f["images"][5, 2, 0, 0] = np.nan  # outside the crop: still a bad shard
    with pytest.raises(NonFinitePixels):
        BatchEncoder(emb, check_finite=True)(images[4:6])
    message = r"nan\.h5: key 'images': NaN or infinite pixels in 1 image\(s\) of rows 4-6 \(first at row 5, band z\)"
    for check_finite, workers in ((False, 0), (True, 0), (False, 2), (True, 2)):
        # checked as read (in a worker or the reader thread), or on the device, then named on the host
        encode = BatchEncoder(emb, batch_size=4, check_finite=check_finite)
        with open_shard(shard) as reader, pytest.raises(InvalidInput, match=message) as err:
            list(encoded_chunks(reader, encode, 4, workers=workers))
        assert "Traceback" not in str(err.value)  # the worker's error comes back as it was raised


def test_embed_refuses_ids_that_belong_to_another_shard_and_impossible_ids(tmp_path, settings, checkpoint):
    """A shard whose object ids the catalogue records in another shard would overwrite their vectors: refused, and
    nothing of it is written; so is a shard whose ids cannot be built (a brickid beyond its 20 bits)."""
    from lensdb.catalog.db import upgrade
    from lensdb.core.errors import InvalidInput
    from lensdb.ingest.pipeline import ingest_paths

    ckpt, version = checkpoint
    upgrade(settings.database_url)
    first = make_shard(tmp_path / "first.h5", n=6, size=SIZE, seed=1, brick=7)
    assert ingest_paths(settings, [first]).ok
    embed_shards(settings, [first], ckpt, device="cpu")
    with VectorStore.open(settings, version) as store:
        before = store.get(make_object_id(9010, 7, np.arange(6)), fields=("shard",), with_vectors=True)
    copy = make_shard(tmp_path / "copy.h5", n=6, size=SIZE, seed=9, brick=7)  # same ids, other images
    with pytest.raises(InvalidInput, match="belong elsewhere in the catalogue.*row 0 of shard first.h5"):
        embed_shards(settings, [copy], ckpt, device="cpu")
    with VectorStore.open(settings, version) as store:
        after = store.get(before["object_id"], fields=("shard",), with_vectors=True)
    assert np.array_equal(after["vector"], before["vector"]) and set(after["shard"]) == {"first.h5"}
    with h5py.File(copy, "a") as f:
        f["brickid"][0] = 2**21
    with pytest.raises(InvalidInput, match="copy.h5: key 'release/brickid/objid'"):
        embed_shards(settings, [copy], ckpt, device="cpu")


def test_embed_refuses_an_imposter_of_an_ingested_shard(tmp_path, settings, checkpoint):
    """A file with the name and the ids of an ingested shard but other pixels (its image rows reversed, the
    catalogue rows kept) is not the shard the catalogue ingested: embed refuses it, naming it, and every vector
    stays as it was (issue #27 item 3: it replaced 200 vectors with exit 0)."""
    from lensdb.catalog.db import upgrade
    from lensdb.core.errors import InvalidInput
    from lensdb.ingest.pipeline import ingest_paths

    ckpt, version = checkpoint
    upgrade(settings.database_url)
    (tmp_path / "good").mkdir()
    (tmp_path / "fake").mkdir()
    good = make_shard(tmp_path / "good" / "part.h5", n=7, size=SIZE, seed=1, brick=11)
    assert ingest_paths(settings, [good]).ok
    embed_shards(settings, [good], ckpt, device="cpu")
    ids = make_object_id(9010, 11, np.arange(7))
    with VectorStore.open(settings, version) as store:
        before = store.get(ids, fields=("shard",), with_vectors=True)
    fake = tmp_path / "fake" / "part.h5"
    shutil.copy(good, fake)
    with h5py.File(fake, "r+") as f:
        f["images"][:] = f["images"][:][::-1]
    with pytest.raises(InvalidInput, match=r"part\.h5: key 'images': this file is not the shard 'part\.h5' the "
                                           r"catalogue ingested") as err:
        embed_shards(settings, [fake], ckpt, device="cpu")
    assert str(fake) in str(err.value)
    with VectorStore.open(settings, version) as store:
        after = store.get(before["object_id"], fields=("shard",), with_vectors=True)
    assert np.array_equal(after["vector"], before["vector"])
    # The ingested file itself still embeds (its fingerprint matches): a re-run changes nothing.
    marker = next((settings.data_dir / "embed").rglob("part.h5.json"))
    marker.unlink()
    assert len(embed_shards(settings, [good], ckpt, device="cpu").embedded) == 1


def test_the_store_refuses_to_overwrite_another_shards_objects(tmp_path, settings, checkpoint):
    """Without a catalogue to ask, the vector store itself keeps each object's shard and row: a second shard with
    the same ids is refused before anything of it is written."""
    from lensdb.core.errors import Conflict

    ckpt, version = checkpoint
    a = make_shard(tmp_path / "a.h5", n=5, size=SIZE, seed=1, brick=3)
    embed_shards(settings, [a], ckpt, device="cpu")
    b = make_shard(tmp_path / "b.h5", n=5, size=SIZE, seed=2, brick=3)
    with pytest.raises(Conflict, match="is stored from shard a.h5 row 0, not b.h5 row 0"):
        embed_shards(settings, [b], ckpt, device="cpu")
    with VectorStore.open(settings, version) as store:
        assert set(store.get(make_object_id(9010, 3, np.arange(5)), fields=("shard",))["shard"]) == {"a.h5"}


#: An embedding in its own process that, after ``after`` chunks are written, writes a marker and sleeps until killed.
PAUSING_EMBED = """
import sys, time
from pathlib import Path
from lensdb.core.config import load_settings
from lensdb.services.embedding import embed_shards

data, milvus, shard, ckpt, after, marker = sys.argv[1:7]
settings = load_settings(env={}, data_dir=data, milvus_uri=milvus)
seen = []

def pause(event, name, n):
    if event == "rows":
        seen.append(n)
        if len(seen) >= int(after):
            Path(marker).write_text("paused")
            while True:
                time.sleep(3600)

embed_shards(settings, [shard], ckpt, chunk_rows=4, device="cpu", precision="fp32", progress=pause)
"""


def test_sigkill_mid_embed_then_rerun_is_exact(tmp_path, checkpoint):
    """SIGKILL in the middle of an embedding (a real process, its job recorded in the catalogue), then the same
    command again: one vector per object, the same vectors as a clean run, and no job left running."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from sqlalchemy import select

    from lensdb.catalog.db import make_engine, upgrade
    from lensdb.catalog.models import Job
    from lensdb.ingest.pipeline import ingest_paths

    ckpt, version = checkpoint
    data = tmp_path / "data"
    settings = load_settings(env={}, data_dir=str(data), milvus_uri=str(tmp_path / "milvus.db"))
    clean = load_settings(env={}, data_dir=str(tmp_path / "clean"), milvus_uri=str(tmp_path / "clean.db"))
    shard = make_shard(tmp_path / "s.h5", n=14, size=SIZE, seed=4, brick=11)
    upgrade(settings.database_url)
    assert ingest_paths(settings, [shard]).ok
    marker = tmp_path / "paused"
    proc = subprocess.Popen([sys.executable, "-c", PAUSING_EMBED, str(data), settings.milvus_uri, str(shard),
                             str(ckpt), "2", str(marker)], text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the embedding did not reach its pause"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(Job.status).where(Job.kind == "embed")).scalars().all() == ["running"]
        assert 0 < _count(settings, version) < 14  # half done

        assert cli.main(["--data-dir", str(data), "--milvus-uri", settings.milvus_uri, "embed", str(shard),
                         "--checkpoint", str(ckpt), "--device", "cpu", "--precision", "fp32", "--no-progress",
                         "--chunk-rows", "4"]) == 0
        with engine.connect() as conn:
            statuses = sorted(conn.execute(select(Job.status).where(Job.kind == "embed")).scalars().all())
        assert statuses == ["done", "failed"]  # the killed one marked, none left running
    finally:
        engine.dispose()
    embed_shards(clean, [shard], ckpt, chunk_rows=4, device="cpu", precision="fp32")
    ids = make_object_id(9010, 11, np.arange(14))
    with VectorStore.open(settings, version) as a, VectorStore.open(clean, version) as b:
        assert a.count() == 14
        got, want = a.get(ids, fields=("shard_row",), with_vectors=True), b.get(ids, with_vectors=True)
    assert np.array_equal(got["object_id"], ids) and np.array_equal(got["shard_row"], np.arange(14))
    np.testing.assert_allclose(got["vector"], want["vector"], atol=1e-6)
