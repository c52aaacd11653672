"""The client in a notebook: astropy Tables (units, viewer links, query and model in meta) for every list-returning
call, stamps that show themselves in Jupyter, and the README's notebook session run as a script against a real
server. On the SQLite + Milvus Lite world (the tables are made client-side; the engines add nothing here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from lensdb.core.exports import viewer_url

pytestmark = pytest.mark.parametrize("world", ["sqlite+lite-file"], indirect=True)
README = Path(__file__).resolve().parents[2] / "README.md"


def _check_positions(table: Table, world) -> None:
    assert table["ra"].unit == "deg" and table["dec"].unit == "deg"
    for name in ("mag_g", "mag_r", "mag_z"):
        if name in table.colnames:
            assert table[name].unit == "mag"
    for row in table:
        i = world.index(int(row["object_id"]))
        assert row["ra"] == pytest.approx(world.columns["ra"][i]) and row["dec"] == pytest.approx(
            world.columns["dec"][i])
        assert row["viewer"] == viewer_url(row["ra"], row["dec"])


def test_every_list_call_has_a_table_form(world, client):
    oid = int(world.ids[3])
    hits = client.similar(object_id=oid, k=7, table=True)
    assert isinstance(hits, Table) and len(hits) == 7 and list(hits["rank"]) == list(range(1, 8))
    assert json.loads(hits.meta["query"]) == {"object_id": oid, "k": 7}
    assert hits.meta["encoder"] == world.encoder_version and hits.meta["queryobj"] == oid
    _check_positions(hits, world)
    np.testing.assert_array_equal(hits["object_id"], client.similar(object_id=oid, k=7).ids)

    objs = client.objects([oid, int(world.ids[5]), 12345], table=True)
    assert list(objs["object_id"]) == [oid, int(world.ids[5])] and json.loads(objs.meta["missing"]) == [12345]
    _check_positions(objs, world)

    ra, dec = float(world.columns["ra"][3]), float(world.columns["dec"][3])
    cone = client.cone(ra, dec, 120.0, table=True)
    assert cone["object_id"][0] == oid and cone["separation_arcsec"].unit == "arcsec"
    assert json.loads(cone.meta["query"]) == {"ra": ra, "dec": dec, "radius_arcsec": 120.0, "limit": 0}
    assert cone.meta["method"] in ("q3c", "healpix") and cone.meta["complete"]
    assert list(cone["separation_arcsec"]) == sorted(cone["separation_arcsec"])
    _check_positions(cone, world)

    top = client.candidates(world.probe_name, page_size=10, table=True)
    assert top.meta["model"] == world.probe_name and len(top) == 10
    assert list(top["object_id"]) == [int(o) for o in world.ranked[:10]]
    assert list(top["rank"]) == list(range(1, 11)) and top["score"].dtype.kind == "f"
    _check_positions(top, world)

    models = client.models(table=True)
    assert world.probe_name in list(models["name"]) and "kind" in models.colnames
    sets = client.label_sets(table=True)
    assert "name" in sets.colnames and len(sets) == len(client.label_sets())
    if len(sets):
        labels = client.label_set(str(sets["name"][0]), table=True)
        assert labels.meta["labelset"] == str(sets["name"][0]) and "object_id" in labels.colnames


def test_tables_write_and_read_back_with_units(world, client, tmp_path):
    hits = client.similar(object_id=int(world.ids[0]), k=5, table=True)
    hits.write(tmp_path / "hits.ecsv")
    back = Table.read(tmp_path / "hits.ecsv")
    assert back["ra"].unit == "deg" and json.loads(back.meta["query"])["k"] == 5 and list(back["viewer"]) == list(hits["viewer"])
    top = client.candidates(world.probe_name, page_size=5, table=True)
    top.write(tmp_path / "top.fits")  # pytest turns any warning (a meta value FITS cannot hold) into an error
    back = Table.read(tmp_path / "top.fits")
    assert back["mag_r"].unit == "mag" and back.meta["MODEL"] == world.probe_name
    top.write(tmp_path / "top.vot", format="votable")
    assert Table.read(tmp_path / "top.vot")["ra"].unit == "deg"


def test_results_and_cutouts_show_themselves_in_jupyter(world, client):
    res = client.similar(object_id=int(world.ids[1]), k=6)
    page = res._repr_html_()
    assert page.count("<img src=\"data:image/png;base64,") == 6
    assert page.count(viewer_url(res.hits[0].ra, res.hits[0].dec).replace("&", "&amp;")) >= 1
    assert "<table" in page  # the table follows the stamps
    gallery = client.gallery(res.ids[:4])
    png = gallery._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert gallery._repr_html_().count("<img") == 4 and gallery.captions == [str(i) for i in res.ids[:4]]
    # the links come from the catalogue positions when not given
    assert gallery.links[0] == viewer_url(res.hits[0].ra, res.hits[0].dec)
    from lensdb.core.errors import LensDBError

    with pytest.raises(LensDBError, match="no object ids"):
        client.gallery([])


def notebook_cells() -> list[str]:
    """The python blocks of the README's "In a notebook" section, in order."""
    text = README.read_text()
    section = text[text.index("## In a notebook"):]
    section = section[: section.index("\n## ", 3)]
    cells = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert [c.splitlines()[0] for c in cells] == ["# notebook: connect", "# notebook: search", "# notebook: look",
                                                  "# notebook: export"]
    return cells


def test_readme_notebook_session_runs(world, server, tmp_path, monkeypatch):
    """The README's cells, executed in order in one namespace (as a notebook kernel would), against the server."""
    monkeypatch.setenv("LENSDB_SERVER", f"127.0.0.1:{server.port}")
    monkeypatch.delenv("LENSDB_API_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    shown = []
    for cell in notebook_cells():
        exec(compile(cell, "README.md (notebook)", "exec"), namespace)
        last = cell.strip().splitlines()[-1].split("#")[0].strip()
        if last.isidentifier() or last.startswith("api.gallery("):  # what Jupyter would display
            value = eval(compile(last, "README.md (notebook)", "eval"), namespace)
            shown.append(value._repr_html_())
    namespace["api"].close()
    assert len(shown) == 3 and all("<" in s for s in shown)
    assert Table.read(tmp_path / "similar.ecsv")["ra"].unit == "deg"
    assert len(Table.read(tmp_path / "candidates.fits")) == 20
    around = Table.read(tmp_path / "around.vot")
    assert around["separation_arcsec"].unit == "arcsec" and len(around) >= 1


def test_an_empty_list_still_has_its_columns(world):  # (the module runs every test per world)
    """A label set without labels (or no models) gives an empty table with the message's columns, not a table
    without columns (a notebook's next step reads a column)."""
    from lensdb.api_grpc.gen.lensdb.v1 import labels_pb2
    from lensdb.api_grpc.notebook import messages_table

    empty = messages_table([], {"labelset": "none"},
                           labels_pb2.GetLabelSetResponse.DESCRIPTOR.fields_by_name["labels"].message_type)
    assert len(empty) == 0 and "object_id" in empty.colnames and empty.meta["labelset"] == "none"
