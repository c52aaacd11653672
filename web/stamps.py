"""``/stamp/{id}.png``: one object's cutout as a PNG (band, stretch, zoom, scale bar), north up.

``px`` asks for a size in pixels: the stamp is magnified by the whole number nearest to ``px`` / the cutout's side
(at least 1), never scaled by a fraction, so no row or column of pixels is dropped or doubled unevenly (a 112-px
cutout shown at 96 px by the browser loses one row in seven). The page shows stamps at their natural size."""

from __future__ import annotations

import io

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lensdb.core.display import stamp_rgb
from lensdb.core.errors import InvalidInput
from lensdb.web.common import ctx_of, display_params, to_int


def stamp(request: Request):
    from PIL import Image, ImageDraw

    w = ctx_of(request)
    oid = to_int(request.path_params["object_id"], "object_id")
    q = request.query_params
    band, stretch, zoom = display_params(q, "1")
    bar = q.get("bar", "1") != "0"
    px = to_int(q["px"], "px") if q.get("px") else None
    if px is not None and not 16 <= px <= 1024:
        raise InvalidInput(f"px must lie in [16, 1024]; got {px}")
    cut = w.services.cutouts.get(oid, png=False)
    rgb = np.flipud(stamp_rgb(cut.image, band, stretch))  # north up
    if px is not None:  # the whole-pixel zoom nearest to px: every row and column of the cutout stays
        zoom = max(1, min(8, round(px / rgb.shape[0])))
    img = Image.fromarray(np.ascontiguousarray(np.round(rgb * 255).astype(np.uint8)))
    if zoom > 1:
        img = img.resize((img.width * zoom, img.height * zoom), Image.Resampling.NEAREST)
    if bar:  # 5 arcsec, bottom left
        length = 5.0 / cut.pixel_scale_arcsec * zoom
        draw = ImageDraw.Draw(img)
        y = img.height - max(3, img.height // 24)
        x0 = max(2, img.width // 20)
        draw.line([(x0, y), (x0 + length, y)], fill=(255, 255, 255), width=max(1, zoom // 2))
        if zoom >= 2:
            draw.text((x0, y - 12), '5"', fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return Response(buf.getvalue(), media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


ROUTES = [Route("/stamp/{object_id}.png", stamp)]
