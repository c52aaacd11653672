"""Cutout RPCs: the raw array equals the shard's row; the PNG is the viewer stretch, north up."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from lensdb.core.display import legacy_rgb


def test_raw_cutout_is_the_stored_image(world, client):
    i = 17
    np.testing.assert_array_equal(client.cutout(int(world.ids[i])), world.images[i])
    cropped = client.cutout(int(world.ids[i]), crop=32)
    np.testing.assert_array_equal(cropped, world.images[i][:, 4:36, 4:36])


def test_png_cutout_is_the_viewer_stretch(world, client):
    i = 18
    png = client.cutout_png(int(world.ids[i]), crop=32)
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG" and img.size == (32, 32) and img.mode == "RGB"
        pixels = np.asarray(img)
    expected = np.flipud(np.round(legacy_rgb(world.images[i][:, 4:36, 4:36]) * 255).astype(np.uint8))
    np.testing.assert_array_equal(pixels, expected)


def test_cutout_metadata(world, client):
    from lensdb.api_grpc.gen.lensdb.v1 import cutouts_pb2

    res = client.cutouts.GetCutout(cutouts_pb2.GetCutoutRequest(object_id=int(world.ids[0])))
    assert res.format == cutouts_pb2.CUTOUT_FORMAT_PNG  # unspecified means PNG
    assert res.size == world.images.shape[-1] and res.pixel_scale_arcsec == 0.262 and res.png


def test_grid_of_hits(world, client, tmp_path):
    out = client.save_grid([int(i) for i in world.ids[:5]], tmp_path / "grid.png", crop=32)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size[0] > img.size[1]
