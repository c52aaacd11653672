"""A small survey for the API tests, written with the real engines: catalogue rows, a shard of images, the
vectors a (tiny, untrained) encoder makes of them in Milvus, a label set, a linear probe and its predictions.

The encoder is real (a checkpoint that :class:`lensdb.encoder.inference.Embedder` loads), so queries by uploaded cutout
run end to end; its vectors are 2048-d like every LensDB encoder's, which costs little at this size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from sqlalchemy import insert

from lensdb.api_grpc.config import ServeConfig
from lensdb.api_grpc.server import LensDBServer
from lensdb.catalog.bulk import copy_columns
from lensdb.catalog.db import make_engine, upgrade
from lensdb.catalog.models import Label, LabelSet, Prediction, Shard
from lensdb.core.config import Settings, load_settings
from lensdb.core.ids import SURVEY_RELEASE, make_object_id
from lensdb.services.config import ServiceConfig

N_OBJECTS = 240
SIZE = 40  # stored cutout side, pixels
N_LENSES = 8
SOURCE_TYPES = ("DEV", "EXP", "REX", "SER", "PSF")


@dataclass
class World:
    """What the tests query, and the truth to compare with."""

    settings: Settings
    db_url: str
    encoder_version: str
    checkpoint: Path
    ids: np.ndarray
    vectors: np.ndarray  # (n, 2048) unit vectors, as stored
    images: np.ndarray  # (n, 3, SIZE, SIZE) float32
    columns: dict  # catalogue columns of the sources, by name
    lenses: np.ndarray
    probe_name: str
    probe_w: np.ndarray
    probe_b: float
    ranked: np.ndarray  # ids by decreasing probe score
    extra: dict = field(default_factory=dict)

    def index(self, object_id: int) -> int:
        return int(np.flatnonzero(self.ids == object_id)[0])


def make_checkpoint(path: Path) -> str:
    """A tiny (untrained) encoder checkpoint; returns its version."""
    from lensdb.encoder.backbones import build_backbone
    from lensdb.encoder.checkpoint import Checkpoint, save_checkpoint
    from lensdb.encoder.config import AugmentConfig, EncoderConfig

    config = EncoderConfig(preset="small", backbone="resnet18_narrow", width=4, crop=32, head_hidden=32, head_dim=16,
                           queue_size=32, bn_splits=2, batch_size=8, epochs=1, precision="fp32", num_workers=0,
                           augment=AugmentConfig(jitter=4, margin=4))
    torch.manual_seed(0)
    backbone = build_backbone(config)
    state = {f"encoder_q.{k}": v for k, v in backbone.state_dict().items()}
    return save_checkpoint(path, Checkpoint(config=config, selection={"digest": "test", "criteria": {}, "shards": []},
                                            model=state, complete=True))


def make_images(n: int, seed: int) -> np.ndarray:
    """(n, 3, SIZE, SIZE) galaxies: elliptical Gaussians of random size, colour and shape on faint noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    width = rng.uniform(1.5, 7.0, n)[:, None, None, None]
    axis = rng.uniform(0.3, 1.0, n)[:, None, None, None]
    amp = rng.uniform(0.02, 0.6, (n, 3))[:, :, None, None]
    profile = np.exp(-(xx**2 + (yy / axis) ** 2) / (2 * width**2))
    return (amp * profile + rng.normal(0.0, 0.005, (n, 3, SIZE, SIZE))).astype(np.float32)


def build_world(tmp: Path, db_url: str, milvus_uri: str, seed: int = 0) -> World:
    """Write the survey into ``db_url`` (migrated here) and Milvus at ``milvus_uri``."""
    from lensdb.classifiers.registry import save_model
    from lensdb.encoder.inference import Embedder
    from lensdb.vectordb.config import VectorDBConfig
    from lensdb.vectordb.store import VectorStore

    rng = np.random.default_rng(seed)
    settings = load_settings(env={}, data_dir=str(tmp / "data"), database_url=db_url, milvus_uri=milvus_uri)
    upgrade(db_url)
    engine = make_engine(db_url)
    n = N_OBJECTS
    images = make_images(n, seed)
    shard_path = tmp / "images_test_000.h5"
    with h5py.File(shard_path, "w") as f:
        f.create_dataset("images", data=images)
    survey = rng.choice(["south", "north"], n)
    k = np.arange(n)
    ids = make_object_id(np.array([SURVEY_RELEASE[s] for s in survey]), 100 + k // 50, k % 50 + 1)
    # A 2 x 2 degree patch; objects 1..4 sit 3, 6, 9 and 12 arcsec east of object 0 (cone and duplicate tests).
    ra, dec = rng.uniform(150.2, 151.8, n), rng.uniform(1.2, 2.8, n)
    ra[1:5] = ra[0] + np.array([3.0, 6.0, 9.0, 12.0]) / 3600.0 / np.cos(np.radians(dec[0]))
    dec[1:5] = dec[0]
    mag_r = rng.uniform(16.0, 22.0, n)
    cols = {"object_id": ids, "release": np.array([SURVEY_RELEASE[s] for s in survey]), "brickid": 100 + k // 50,
            "objid": k % 50 + 1, "survey": survey, "ra": ra, "dec": dec, "mag_g": mag_r + 0.7, "mag_r": mag_r,
            "mag_z": mag_r - 0.5, "ebv": rng.uniform(0.01, 0.05, n), "psfsize_g": np.full(n, 1.3),
            "psfsize_r": np.full(n, 1.2), "psfsize_z": np.full(n, 1.1), "psfdepth_g": np.full(n, 2000.0),
            "psfdepth_r": np.full(n, 800.0), "psfdepth_z": np.full(n, 150.0),
            "source_type": rng.choice(SOURCE_TYPES, n), "z_phot_median": rng.uniform(0.1, 1.0, n), "row": k}
    cols["mag_g"][7] = np.nan  # one object undetected in g
    with engine.begin() as conn:
        shard_id = conn.execute(insert(Shard).values(
            name=shard_path.name, path=str(shard_path), fingerprint="0" * 64, n_rows=n, cutout=SIZE,
            image_dtype="float32").returning(Shard.id)).scalar_one()
        copy_columns(conn, "sources", {**cols, "shard_id": np.full(n, shard_id)})
        set_id = conn.execute(insert(LabelSet).values(name="known", source="test list", author="tests")
                              .returning(LabelSet.id)).scalar_one()
        lenses = ids[10:10 + N_LENSES]
        conn.execute(insert(Label), [{"label_set_id": set_id, "object_id": int(o), "class": "lens",
                                      "grade": "A" if i % 2 else "B", "author": "tests"} for i, o in enumerate(lenses)])

    checkpoint = tmp / "encoder" / "checkpoint.pt"
    version = make_checkpoint(checkpoint)
    raw = Embedder.from_checkpoint(checkpoint, device="cpu").embed(images).numpy()
    norm = np.linalg.norm(raw, axis=1)
    vectors = (raw / norm[:, None]).astype(np.float32)
    mags = {b: np.nan_to_num(cols[f"mag_{b}"], nan=np.inf) for b in "grz"}
    with VectorStore.open(settings, version, dim=vectors.shape[1], create=True,
                          config=VectorDBConfig(dim=vectors.shape[1], index_type="FLAT")) as store:
        store.insert({"object_id": ids, "vector": vectors, "norm": norm, "survey": survey, "mag_g": mags["g"],
                      "mag_r": mags["r"], "mag_z": mags["z"], "ra": ra, "dec": dec,
                      "source_type": cols["source_type"], "shard": np.full(n, shard_path.name), "shard_row": k})

    w = rng.standard_normal(vectors.shape[1]).astype(np.float32)
    b = -1.5
    model = save_model(engine, kind="probe", name="probe-test", encoder_version=version, params={"l2": 0.0},
                       metrics={"val_tp": 5, "top_n": 20, "val_precision": 0.25}, training_set={"ratio": 100},
                       weights=w, bias=b)
    logits = vectors @ w + np.float32(b)
    order = np.lexsort((ids, -logits))
    with engine.begin() as conn:
        conn.execute(insert(Prediction), [
            {"model_id": model.id, "object_id": int(ids[i]), "score": float(1 / (1 + np.exp(-logits[i]))),
             "rank": r + 1} for r, i in enumerate(order)])
    engine.dispose()
    return World(settings=settings, db_url=db_url, encoder_version=version, checkpoint=checkpoint, ids=ids,
                 vectors=vectors, images=images, columns=cols, lenses=lenses, probe_name=model.name, probe_w=w,
                 probe_b=b, ranked=ids[order])


def make_server(world, settings=None, *, metrics_on_free_port: bool = False, **overrides) -> LensDBServer:
    """A server (not started) on a free loopback port, health checked only when a test asks. ``overrides`` are
    fields of :class:`ServeConfig` (the server) or of :class:`ServiceConfig` (the services behind it)."""
    server = dict(host="127.0.0.1", port=0, metrics_port=0, health_interval_s=3600.0, grace_s=5.0, max_workers=8,
                  stream_chunk=64)
    service = dict(checkpoint=str(world.checkpoint), encoder_version=world.encoder_version)
    service_fields = {f.name for f in dataclasses.fields(ServiceConfig)}
    for key, value in overrides.items():
        (service if key in service_fields else server)[key] = value
    return LensDBServer(settings or world.settings, ServeConfig(**server), service_config=ServiceConfig(**service),
                        metrics_on_free_port=metrics_on_free_port)
