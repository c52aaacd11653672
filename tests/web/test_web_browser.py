"""The inspection page in a real browser (Playwright driving Debian's chromium): keyboard grading, resume after a
reload, undo, two graders' consensus, every stamp rendered, no console error, hostile text escaped."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from lensdb.catalog.db import make_engine
from lensdb.catalog.models import Grade, Label, LabelSet

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def page_for(browser, web):
    """page_for(grader) -> a logged-in page with console errors collected in ``page.errors``."""
    contexts = []

    def make(grader: str):
        ctx = browser.new_context()
        contexts.append(ctx)
        page = ctx.new_page()
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("dialog", lambda d: page.errors.append(f"dialog: {d.message}") or d.dismiss())
        page.goto(web.url + "/login")
        page.fill("#grader", grader)
        page.click("button[type=submit]")
        page.wait_for_url(web.url + "/")
        return page

    yield make
    for ctx in contexts:
        ctx.close()


def _queue(web, page, **body) -> int:
    out = page.evaluate("""async (body) => {
        const r = await fetch('/api/queues', {method: 'POST', headers: {'Content-Type': 'application/json',
                              'X-LensDB': '1'}, body: JSON.stringify(body)});
        return await r.json(); }""", body)
    assert "queue" in out, out
    return int(out["queue"])


def _grades(world, grader: str) -> dict[int, str]:
    engine = make_engine(world.db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Grade.object_id, Grade.grade).where(Grade.grader == grader)).all()
    engine.dispose()
    return {int(o): g for o, g in rows}


def _cells(page) -> list[str]:
    return page.eval_on_selector_all(".cell", "cs => cs.map(c => c.dataset.objectId)")


def _wait_saved(page, text: str) -> None:
    page.wait_for_function("t => document.getElementById('status').textContent.includes(t)", arg=text)


def test_keyboard_grading_resume_and_undo(web, web_world, page_for):
    page = page_for("ann")
    qid = _queue(web, page, kind="probe", model=web_world.probe_name, size=30, calibration_share=0)
    page.goto(f"{web.url}/queue/{qid}")
    page.wait_for_selector(".cell.current")
    ids = _cells(page)
    assert len(ids) == 30
    # Every stamp is a decoded image, and the page logged no error.
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert page.errors == []

    for key in ("a", "b", "n", "s", "x"):
        page.keyboard.press(key)
    _wait_saved(page, f"object {ids[4]}")
    assert _grades(web_world, "ann") == {int(ids[0]): "A", int(ids[1]): "B", int(ids[2]): "N", int(ids[4]): "N"}
    assert page.get_attribute(".cell.current", "data-object-id") == ids[5]

    # Reload: the page opens where ann stopped (item 6), with her grades shown.
    page.goto(f"{web.url}/queue/{qid}")
    page.wait_for_selector(".cell.current")
    assert page.get_attribute(".cell.current", "data-object-id") == ids[5]
    assert page.eval_on_selector_all(".cell.graded", "cs => cs.map(c => c.dataset.grade)") == ["A", "B", "N", "N"]

    # Undo takes back the last grade (x on item 5) and puts the selection on it.
    page.keyboard.press("u")
    _wait_saved(page, f"undone · object {ids[4]}")
    assert int(ids[4]) not in _grades(web_world, "ann")
    assert page.get_attribute(".cell.current", "data-object-id") == ids[4]

    # Moving with the arrows, then grading, grades the object under the selection.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("b")
    _wait_saved(page, f"object {ids[6]}")
    assert _grades(web_world, "ann")[int(ids[6])] == "B"

    # Another machine (a fresh browser context) resumes at the same place.
    other = page_for("ann")
    other.goto(f"{web.url}/queue/{qid}")
    other.wait_for_selector(".cell.current")
    assert other.get_attribute(".cell.current", "data-object-id") == ids[7]
    assert page.errors == [] and other.errors == []


def test_two_graders_reach_a_consensus(web, web_world, page_for):
    ann, bob = page_for("ann2"), page_for("bob2")
    qid = _queue(web, ann, kind="random", size=12, calibration_share=0, seed=7)
    for page, keys in ((ann, "aan"), (bob, "abn")):
        page.goto(f"{web.url}/queue/{qid}")
        page.wait_for_selector(".cell.current")
        ids = _cells(page)
        for k in keys:
            page.keyboard.press(k)
        _wait_saved(page, f"object {ids[2]}")
    engine = make_engine(web_world.db_url)
    with engine.connect() as conn:
        labels = dict(conn.execute(select(Label.object_id, Label.grade).join(LabelSet).where(
            LabelSet.name == "grades", Label.object_id.in_([int(i) for i in ids[:3]]))).all())
    engine.dispose()
    # (A, A) -> 3.0: A; (A, B) -> 2.5: A; (N, N) -> 0: not a lens (no grade).
    assert labels == {int(ids[0]): "A", int(ids[1]): "A", int(ids[2]): None}
    ann.goto(f"{web.url}/stats")
    text = ann.inner_text("#consensus")
    assert "objects graded" in text
    assert ann.errors == [] and bob.errors == []


def test_object_view_bands_stretches_neighbours(web, web_world, page_for):
    page = page_for("cat")
    oid = int(web_world.ids[3])
    for band in ("rgb", "g", "r", "z"):
        for stretch in ("asinh", "linear", "zscale"):
            page.goto(f"{web.url}/object/{oid}?band={band}&stretch={stretch}&zoom=2")
            page.wait_for_function("() => document.getElementById('stamp').naturalWidth > 0")
    assert page.get_attribute("#viewer-link", "href").startswith("https://www.legacysurvey.org/viewer?ra=")
    page.click("#neighbours-link")
    page.wait_for_url(f"**/object/{oid}/neighbours")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert len(page.query_selector_all(".cell img")) == 20
    assert page.errors == []


def test_html_in_names_and_notes_is_escaped(web, web_world, page_for):
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    page = page_for(hostile[:60])
    oid = int(web_world.ids[20])
    web_services = web.services
    from lensdb.services.types import NewLabel

    web_services.labels.add_labels("evil " + hostile, [NewLabel(oid, "non_lens", None, name=hostile, note=hostile)])
    qid = _queue(web, page, kind="random", size=240, calibration_share=0)
    page.goto(f"{web.url}/object/{oid}?queue={qid}")
    page.fill("#note", hostile)
    page.click("[data-grade-button=B]")
    _wait_saved(page, "saved: B")
    page.goto(f"{web.url}/object/{oid}?queue={qid}")
    assert hostile in page.inner_text(".facts")  # the set's name, as text
    assert page.inner_text("#my-note") == hostile
    assert page.inner_text(".who b") == hostile[:60]
    assert page.query_selector("img[src=x]") is None and page.query_selector("main script") is None
    assert page.errors == []
    assert np.any(web_world.ids == oid)
