"""The client's answers in the form notebooks expect: astropy Tables and pictures that show themselves in Jupyter.

Every list-returning call of :class:`lensdb.api_grpc.client.LensDBClient` takes ``table=True`` (or its result has
``.to_table()``) and gives an :class:`astropy.table.Table`: one row per object, units on ``ra``/``dec`` (deg), the
magnitudes (mag) and separations (arcsec); the Legacy Survey viewer link of each object in a ``viewer`` column;
what was asked in ``table.meta``: ``query`` (the request, as JSON text), ``model``, ``encoder`` (the encoder
version), ... . Meta keys have at most 8 characters and scalar values, so tables write themselves to FITS (header
cards), VOTable or ECSV with ``table.write(...)`` without a warning; ``json.loads(table.meta["query"])`` gives the
request back.

:class:`Gallery` is a grid of cutout stamps: Jupyter shows it through ``_repr_png_`` (one PNG, the same picture as
:meth:`~lensdb.api_grpc.client.LensDBClient.save_grid`) or ``_repr_html_`` (the stamps as <img> tiles with their
captions, each linked to the viewer). Search results show themselves as their stamps and their table.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lensdb.core.errors import InvalidInput
from lensdb.core.exports import viewer_url

if TYPE_CHECKING:  # pragma: no cover
    from astropy.table import Table

#: Units of the columns these tables carry.
UNITS = {"ra": "deg", "dec": "deg", "mag_g": "mag", "mag_r": "mag", "mag_z": "mag", "separation_arcsec": "arcsec",
         "ebv": "mag"}
#: Most stamps a search result draws of itself in a notebook (the table lists every hit).
SHOW_STAMPS = 24


def _opt(message, name: str):
    return getattr(message, name) if message.HasField(name) else None


def table_of(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], meta: Mapping[str, Any] | None = None,
             *, viewer: bool = True) -> Table:
    """An astropy Table of ``rows`` with ``columns`` (None values masked), units from :data:`UNITS`, the viewer
    link of each row's position (``viewer``) and ``meta``."""
    from astropy.table import MaskedColumn, Table

    table = Table(meta={k: (json.dumps(v, sort_keys=True) if isinstance(v, dict | list | tuple) else v)
                        for k, v in (meta or {}).items()})
    for name in columns:
        values = [r.get(name) for r in rows]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            data, fill = np.array([bool(v) for v in values]), False
        elif present and all(isinstance(v, int | np.integer) for v in present):
            data, fill = np.array([0 if v is None else int(v) for v in values], np.int64), 0
        elif present and all(isinstance(v, int | float | np.integer | np.floating) for v in present):
            data, fill = np.array([np.nan if v is None else float(v) for v in values], np.float64), np.nan
        else:
            data, fill = np.array(["" if v is None else str(v) for v in values], dtype=str), ""
        if not rows:
            data = np.zeros(0, np.float64 if name in UNITS else str)
        mask = np.array([v is None for v in values], bool)
        col = MaskedColumn(data, name=name, mask=mask, fill_value=fill) if mask.any() else data
        table[name] = col
        if name in UNITS:
            table[name].unit = UNITS[name]
    if viewer and "ra" in table.colnames:
        table["viewer"] = [viewer_url(r["ra"], r["dec"]) for r in rows] if rows else np.zeros(0, str)
    return table


HIT_COLUMNS = ("rank", "object_id", "similarity", "ra", "dec", "survey", "mag_g", "mag_r", "mag_z", "source_type")
OBJECT_COLUMNS = ("object_id", "ra", "dec", "survey", "mag_g", "mag_r", "mag_z", "source_type", "ebv", "shard", "row")


def object_row(o) -> dict[str, Any]:
    """A catalogue ``ObjectRecord`` message as a dict (absent magnitudes None)."""
    fields = o.DESCRIPTOR.fields_by_name
    row = {c: (_opt(o, c) if c.startswith("mag_") else getattr(o, c)) for c in OBJECT_COLUMNS if c in fields}
    if len(getattr(o, "labels", ())):
        row["labels"] = ", ".join(f"{lb.label_set}:{lb.label_class}" + (f"/{lb.grade}" if lb.grade else "")
                                  for lb in o.labels)
    return row


def hits_table(hits: Sequence[Any], meta: Mapping[str, Any]) -> Table:
    rows = [{c: getattr(h, c) for c in HIT_COLUMNS} for h in hits]
    return table_of(rows, HIT_COLUMNS, meta)


def objects_table(objects: Iterable[Any], meta: Mapping[str, Any]) -> Table:
    rows = [object_row(o) for o in objects]
    cols = [c for c in OBJECT_COLUMNS if not rows or c in rows[0]] + (["labels"] if any("labels" in r for r in rows)
                                                                       else [])
    return table_of(rows, cols, meta)


def cone_table(matches: Iterable[Any], meta: Mapping[str, Any]) -> Table:
    rows = [{**object_row(m.object), "separation_arcsec": m.separation_arcsec} for m in matches]
    cols = ["object_id", "separation_arcsec", *[c for c in OBJECT_COLUMNS[1:] if not rows or c in rows[0]]]
    if any("labels" in r for r in rows):
        cols.append("labels")
    return table_of(rows, cols, meta)


def candidates_table(candidates: Iterable[Any], meta: Mapping[str, Any]) -> Table:
    rows = [{"rank": c.rank, "score": c.score, **object_row(c.object), "labels": ", ".join(c.label_classes),
             "grade": c.grade} for c in candidates]
    cols = ["rank", "score", *[c for c in OBJECT_COLUMNS if not rows or c in rows[0]], "labels", "grade"]
    return table_of(rows, cols, meta)


def messages_table(messages: Iterable[Any], meta: Mapping[str, Any], descriptor=None) -> Table:
    """Flat protobuf messages (models, label sets): one column per scalar field; timestamps as ISO text.
    ``descriptor``: the messages' type, whose fields name the columns of an empty table."""
    from google.protobuf.json_format import MessageToDict

    rows = [MessageToDict(m, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
            for m in messages]
    rows = [{k: (v if not isinstance(v, dict | list) else str(v)) for k, v in r.items()} for r in rows]
    cols = list(rows[0]) if rows else ([f.name for f in descriptor.fields] if descriptor is not None else [])
    return table_of(rows, cols, meta, viewer=False)


@dataclass
class Gallery:
    """A grid of cutout stamps that Jupyter shows (``_repr_png_`` / ``_repr_html_``); ``save(path)`` writes it.

    Attributes:
        images: (N, 3, S, S) g, r, z nanomaggies.
        captions: one per stamp.
        links: the viewer link of each stamp (the HTML form links each tile), or empty.
        ncols: stamps per row.
    """

    images: np.ndarray
    captions: list[str]
    links: list[str] = field(default_factory=list)
    ncols: int = 8

    def __post_init__(self) -> None:
        if len(self.images) == 0:
            raise InvalidInput("a gallery needs at least one cutout")

    def save(self, path) -> Any:
        from lensdb.core.display import save_grid

        return save_grid(self.images, path, ncols=self.ncols, titles=self.captions)

    def _repr_png_(self) -> bytes:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="lensdb-gallery-") as tmp:
            return Path(self.save(Path(tmp) / "gallery.png")).read_bytes()

    def _repr_html_(self) -> str:
        from PIL import Image

        from lensdb.core.display import legacy_rgb

        tiles = []
        for k, image in enumerate(self.images):
            rgb = np.asarray(legacy_rgb(image))  # (H, W, 3), row 0 south: flipped for display
            buf = io.BytesIO()
            Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)[::-1]).save(buf, format="PNG")
            img = (f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}" '
                   f'width="96" height="96" alt="{html.escape(self.captions[k])}">')
            if k < len(self.links) and self.links[k]:
                img = f'<a href="{html.escape(self.links[k])}" target="_blank">{img}</a>'
            tiles.append(f'<figure style="margin:2px;text-align:center">{img}<figcaption style="font-size:9px">'
                         f"{html.escape(self.captions[k])}</figcaption></figure>")
        return ('<div style="display:grid;grid-template-columns:repeat(%d,100px)">%s</div>'
                % (self.ncols, "".join(tiles)))
