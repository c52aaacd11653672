"""Defects of #24 in a real browser (Playwright driving Debian's chromium) and over HTTP: calibration items blind
on the page, in the JSON and in the object view; no keystroke lost or misapplied across a page boundary or before
the script loads; the progress counter, skipped and failed stamps; layout at 1366x768 and 1920x1080; the object
view by keyboard with a shared undo history; kappa and review lists on the statistics page; clear answers when a
ranking is used up; random samples without graded objects; neighbours keep the queue; 1-based page numbers; long
names wrap."""

from __future__ import annotations

import time
from contextlib import closing

import httpx
import pytest
from sqlalchemy import select

from lensdb.catalog.db import make_engine
from lensdb.catalog.models import Grade

H = {"X-LensDB": "1"}
VIEWPORTS = [(1366, 768), (1920, 1080)]
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def page_for(browser, web):
    """page_for(grader, width, height) -> a logged-in page; console errors collected in ``page.errors``."""
    contexts = []

    def make(grader: str, width: int = 1366, height: int = 768):
        ctx = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(ctx)
        page = ctx.new_page()
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(web.url + "/login")
        page.fill("#grader", grader)
        page.click("button[type=submit]")
        page.wait_for_url(web.url + "/")
        return page

    yield make
    for ctx in contexts:
        ctx.close()


def _queue(page, **body) -> int:
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


def _wait_grades(world, grader: str, n: int, timeout: float = 30.0) -> dict[int, str]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = _grades(world, grader)
        if len(got) >= n:
            return got
        time.sleep(0.1)
    return _grades(world, grader)


def _cells(page) -> list[str]:
    return page.eval_on_selector_all(".cell", "cs => cs.map(c => c.dataset.objectId)")


def _client(web, grader: str) -> httpx.Client:
    c = httpx.Client(base_url=web.url, timeout=60)
    assert c.post("/api/login", json={"grader": grader}, headers=H).status_code == 200
    return c


# ---------------------------------------------------------------- 1. calibration items are blind
def test_calibration_items_look_like_every_other_item(web, web_world, page_for):
    with closing(_client(web, "blind")) as c:
        q = c.post("/api/queues", json={"kind": "probe", "model": web_world.probe_name, "size": 40,
                                        "calibration_share": 0.2, "label_set": "grades-blind"}, headers=H).json()
        items = c.get(f"/api/queues/{q['queue']}/page/0").json()["items"]
        # Before grading, no item carries a score or a rank (calibration items have none, so none may).
        assert len(items) == 50 and all(it["score"] is None and it["rank"] is None for it in items)
        html = c.get(f"/queue/{q['queue']}/page/1").text
        assert 'class="score"' not in html and "score " not in html.split("<main>")[1]
        known = {int(i) for i in web_world.lenses}
        cal = next(it for it in items if int(it["object_id"]) in known)
        ranked = next(it for it in items
                      if web.services.grading.item(q["queue"], int(it["object_id"]))[0].calibration is None)
        for it in (cal, ranked):  # the object view of either says the same before grading
            view = c.get(f"/object/{it['object_id']}?queue={q['queue']}").text
            assert "blind-note" in view and "known" not in view.split("<main>")[1].lower()
        # After grading, the ranked item shows its score.
        assert c.post("/api/grade", json={"queue": q["queue"], "object_id": ranked["object_id"], "grade": "N"},
                      headers=H).status_code == 200
        after = {it["object_id"]: it for it in c.get(f"/api/queues/{q['queue']}/page/0").json()["items"]}
        assert after[ranked["object_id"]]["score"] is not None


# ---------------------------------------------------------------- 2. keys across a page boundary, early keys
def test_fast_typing_across_a_page_boundary_lands_on_the_next_stamps(web, web_world, page_for):
    page = page_for("fast")
    qid = _queue(page, kind="random", size=130, calibration_share=0, seed=31, label_set="grades-fast")
    page.goto(f"{web.url}/queue/{qid}/page/1")
    page.wait_for_selector(".cell.current")
    first = _cells(page)
    assert len(first) == 100
    page.click(".cell:last-child img")
    # n on the last stamp, then a and b at once: they are meant for the next page's first two stamps.
    page.keyboard.press("n")
    page.keyboard.press("a")
    page.keyboard.press("b")
    page.wait_for_url(f"{web.url}/queue/{qid}/page/2")
    got = _wait_grades(web_world, "fast", 3)
    page.wait_for_selector(".cell.current")
    second = _cells(page)
    assert got == {int(first[-1]): "N", int(second[0]): "A", int(second[1]): "B"}
    page.wait_for_function("id => document.querySelector('.cell.current').dataset.objectId === id", arg=second[2])
    assert page.errors == []


def test_keys_pressed_before_the_script_loads_are_kept(web, web_world, page_for):
    page = page_for("early")
    qid = _queue(page, kind="random", size=10, calibration_share=0, seed=32, label_set="grades-early")

    def slow(route):
        time.sleep(1.5)
        route.continue_()

    page.route("**/static/grade.js", slow)
    page.goto(f"{web.url}/queue/{qid}/page/1", wait_until="commit")
    page.wait_for_function("() => Array.isArray(window.lensdbEarlyKeys) && document.querySelector('.cell')")
    assert page.evaluate("() => window.lensdbGrid === undefined")  # the grading script is not there yet
    page.keyboard.press("a")
    page.keyboard.press("n")
    page.wait_for_function("() => window.lensdbGrid && window.lensdbGrid.ready")
    got = _wait_grades(web_world, "early", 2)
    ids = _cells(page)
    assert got == {int(ids[0]): "A", int(ids[1]): "N"}


# ---------------------------------------------------------------- 3. progress, skipped, failed saves
def test_progress_moves_skips_show_and_a_failed_save_is_marked(web, web_world, page_for):
    page = page_for("prog")
    qid = _queue(page, kind="random", size=20, calibration_share=0, seed=33, label_set="grades-prog")
    page.goto(f"{web.url}/queue/{qid}")
    page.wait_for_selector(".cell.current")
    ids = _cells(page)
    assert page.inner_text("#progress") == "0"
    for k in ("a", "s", "n"):
        page.keyboard.press(k)
    page.wait_for_function("() => document.getElementById('progress').textContent === '3'")
    assert page.get_attribute(f".cell[data-object-id='{ids[1]}']", "class").split().count("skipped") == 1
    assert page.inner_text(f".cell[data-object-id='{ids[1]}'] .mark") == "–"
    page.reload()
    page.wait_for_selector(".cell.current")
    assert "skipped" in page.get_attribute(f".cell[data-object-id='{ids[1]}']", "class")
    assert "skipped" not in page.get_attribute(f".cell[data-object-id='{ids[4]}']", "class")
    # A save that fails is marked on its own stamp; the selection stays where the grader went on to.
    page.route("**/api/grade", lambda route: route.fulfill(status=503, content_type="application/json",
                                                            body='{"error": "the catalogue does not answer"}'))
    page.keyboard.press("b")
    page.wait_for_selector(f".cell.failed[data-object-id='{ids[3]}']")
    assert page.inner_text(f".cell[data-object-id='{ids[3]}'] .mark") == "!"
    assert page.get_attribute(".cell.current", "data-object-id") == ids[4]
    assert "not saved" in page.inner_text("#status")


# ---------------------------------------------------------------- 4. layout and keys of the grid
@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
def test_grid_layout_and_keys(web, web_world, page_for, width, height):
    page = page_for(f"lay{width}", width, height)
    qid = _queue(page, kind="random", size=150, calibration_share=0, seed=34, label_set=f"grades-lay{width}")
    page.goto(f"{web.url}/queue/{qid}")
    page.wait_for_selector(".cell.current")
    legend = page.locator("#key-legend").bounding_box()
    assert legend and legend["y"] + legend["height"] <= height, legend
    # The full key list opens from the keyboard (no hover tooltip).
    assert page.locator("#help").is_hidden()
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("?")
    assert page.locator("#help").is_hidden()
    # Move to the last stamp: it is in view and nothing covers it.
    for _ in range(12):
        page.keyboard.press("ArrowDown")
    for _ in range(30):
        page.keyboard.press("ArrowRight")
    assert page.get_attribute(".cell.current", "data-position") == "99"
    box = page.locator(".cell.current").bounding_box()
    header = page.locator("header").bounding_box()
    assert box["y"] >= header["y"] + header["height"] - 1 and box["y"] + box["height"] <= height, (box, header)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    page.keyboard.press("PageDown")
    page.wait_for_url(f"{web.url}/queue/{qid}/page/2")
    page.wait_for_selector(".cell.current")
    page.keyboard.press("PageUp")
    page.wait_for_url(f"{web.url}/queue/{qid}/page/1")
    page.wait_for_selector(".cell.current")
    oid = page.get_attribute(".cell.current", "data-object-id")
    page.keyboard.press("O")  # uppercase, as the README writes it
    page.wait_for_url(f"**/object/{oid}?queue={qid}*")
    assert page.errors == []


# ---------------------------------------------------------------- 5. the object view by keyboard
@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
def test_object_view_by_keyboard_with_the_grid_undo(web, web_world, page_for, width, height):
    grader = f"obj{width}"
    page = page_for(grader, width, height)
    qid = _queue(page, kind="random", size=10, calibration_share=0, seed=35, label_set=f"grades-obj{width}")
    page.goto(f"{web.url}/queue/{qid}")
    page.wait_for_selector(".cell.current")
    ids = _cells(page)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/object/{ids[0]}?queue={qid}*")
    page.wait_for_function("() => window.lensdbGrid === undefined && document.getElementById('grade-one')")
    for sel in ("[data-grade-button=A]", "[data-grade-button=N]"):
        b = page.locator(sel).bounding_box()
        assert b["y"] + b["height"] <= height, (sel, b)  # above the fold
    page.keyboard.press("b")
    page.wait_for_function("() => document.getElementById('my-grade').textContent === 'B'")
    assert _grades(web_world, grader) == {int(ids[0]): "B"}
    page.keyboard.press("Escape")
    page.wait_for_url(f"{web.url}/queue/{qid}/page/1")
    page.wait_for_selector(".cell.current")
    page.keyboard.press("u")  # the grade given in the object view is in the grid's undo history
    page.wait_for_function("t => document.getElementById('status').textContent.includes(t)",
                           arg=f"undone · object {ids[0]}")
    assert _grades(web_world, grader) == {}
    # U and S in the object view: undo there, skip returns to the grid.
    page.goto(f"{web.url}/object/{ids[1]}?queue={qid}")
    page.wait_for_selector("#grade-one")
    page.keyboard.press("a")
    page.wait_for_function("() => document.getElementById('my-grade').textContent === 'A'")
    page.keyboard.press("Backspace")
    page.wait_for_function("() => document.getElementById('my-grade').textContent === 'none yet'")
    assert _grades(web_world, grader) == {}
    page.keyboard.press("s")
    page.wait_for_url(f"{web.url}/queue/{qid}/page/1")
    assert page.errors == []


# ---------------------------------------------------------------- 6. statistics: kappa, review lists
def test_statistics_page_shows_kappa_and_review_lists(web, web_world, page_for):
    ann, bob = _client(web, "kap-a"), _client(web, "kap-b")
    q = ann.post("/api/queues", json={"kind": "random", "size": 6, "calibration_share": 0, "seed": 36,
                                      "label_set": "grades-kap"}, headers=H).json()["queue"]
    ids = [it["object_id"] for it in ann.get(f"/api/queues/{q}/page/0").json()["items"]]
    for c, grades in ((ann, "AANNBA"), (bob, "ANNNBB")):
        for oid, g in zip(ids, grades, strict=True):
            assert c.post("/api/grade", json={"queue": q, "object_id": oid, "grade": g}, headers=H).status_code == 200
    page = page_for("kap-viewer")
    page.goto(f"{web.url}/stats?label_set=grades-kap")
    text = page.inner_text("#cohen")
    assert "kap-a · kap-b" in text and "Cohen's kappa" in text
    # Consensus: (A,A) 3 -> A; (A,N) 1.5 -> B; (N,N) N; (B,B) B; (A,B) 2.5 -> A.
    a_ids = page.eval_on_selector_all("#review-A .cell img", "is => is.map(i => i.alt.split(' ')[1])")
    split = page.eval_on_selector_all("#review-disagreement .cell img", "is => is.map(i => i.alt.split(' ')[1])")
    assert sorted(a_ids) == sorted([ids[0], ids[5]]) and sorted(split) == sorted([ids[1], ids[5]])
    page.click("#review-disagreement button")
    page.wait_for_url("**/queue/*/page/*")
    page.wait_for_selector(".cell.current")
    assert sorted(_cells(page)) == sorted([ids[1], ids[5]])
    # The label-set form offers the grading sets (their consensus) too.
    page.goto(web.url + "/")
    assert "grades-kap" in page.eval_on_selector_all("#source-set option", "os => os.map(o => o.value)")
    assert page.errors == []
    ann.close()
    bob.close()


# ---------------------------------------------------------------- 7. a used-up ranking, random samples
def test_used_up_ranking_says_what_to_run_and_random_skips_graded(web, web_world):
    with closing(_client(web, "used")) as c:
        r = c.post("/api/queues", json={"kind": "probe", "model": web_world.probe_name, "min_score": 1.0,
                                        "label_set": "grades-used"}, headers=H)
        assert r.status_code == 400
        msg = r.json()["error"]
        assert "lensdb grading round" in msg and "lensdb probe score" in msg and "similarity queue" in msg
        q = c.post("/api/queues", json={"kind": "random", "size": 30, "calibration_share": 0, "seed": 5,
                                        "label_set": "grades-used"}, headers=H).json()["queue"]
        first = [it["object_id"] for it in c.get(f"/api/queues/{q}/page/0").json()["items"]]
        for oid in first:
            c.post("/api/grade", json={"queue": q, "object_id": oid, "grade": "N"}, headers=H)
        again = c.post("/api/queues", json={"kind": "random", "size": 30, "calibration_share": 0, "seed": 5,
                                            "label_set": "grades-used"}, headers=H).json()["queue"]
        second = [it["object_id"] for it in c.get(f"/api/queues/{again}/page/0").json()["items"]]
        assert second and not set(first) & set(second)


# ---------------------------------------------------------------- 9. neighbours, page numbers, long names
def test_neighbours_keep_the_queue_pages_count_from_one_and_long_names_wrap(web, web_world, page_for):
    page = page_for("n" * 255)
    qid = _queue(page, kind="random", size=5, calibration_share=0, seed=37, label_set="grades-nb", name="q" * 255)
    page.goto(f"{web.url}/queue/{qid}")
    page.wait_for_selector(".cell.current")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1366
    oid = _cells(page)[0]
    page.goto(f"{web.url}/object/{oid}/neighbours?queue={qid}")
    hrefs = page.eval_on_selector_all(".cell a", "as => as.map(a => a.getAttribute('href'))")
    assert hrefs and all(h.endswith(f"?queue={qid}") for h in hrefs)
    captions = page.eval_on_selector_all(".cell figcaption", "fs => fs.map(f => f.textContent.trim())")
    assert captions[0] == "#1" and all("0.0" not in c for c in captions)
    page.click("#similar-queue button")
    page.wait_for_url("**/queue/*/page/*")
    assert "grades-nb" in page.inner_text(".pager")
    r = page.goto(f"{web.url}/queue/{qid}/page/3")
    assert r.status == 400 and "has pages 1 to 1" in page.inner_text("main")
    assert page.goto(f"{web.url}/queue/{qid}/page/1").status == 200


# ---------------------------------------------------------------- flags, notes, arc marks
def test_flag_note_and_arc_mark_are_kept_and_listed(web, web_world, page_for):
    page = page_for("arc")
    qid = _queue(page, kind="random", size=5, calibration_share=0, seed=38, label_set="grades-arc")
    page.goto(f"{web.url}/queue/{qid}")
    page.wait_for_selector(".cell.current")
    oid = _cells(page)[0]
    page.goto(f"{web.url}/object/{oid}?queue={qid}&zoom=4")
    page.wait_for_function("() => document.getElementById('stamp').naturalWidth > 0")
    page.click("#stamp", position={"x": 60, "y": 100})  # zoom 4: cutout pixel (15, 25)
    assert "arc marked at 15, 25" in page.inner_text("#arc-text")
    page.select_option("#flag", "discuss")
    page.fill("#note", "a ring or a spiral arm?")
    page.click("[data-grade-button=B]")
    page.wait_for_function("() => document.getElementById('my-grade').textContent === 'B'")
    engine = make_engine(web_world.db_url)
    with engine.connect() as conn:
        row = conn.execute(select(Grade.grade, Grade.flag, Grade.note, Grade.arc_x, Grade.arc_y)
                           .where(Grade.grader == "arc", Grade.object_id == int(oid))).one()
    engine.dispose()
    assert tuple(row) == ("B", "discuss", "a ring or a spiral arm?", 15.0, 25.0)
    page.reload()  # the mark is shown where it was put
    page.wait_for_function("() => !document.getElementById('arc-mark').hidden")
    box = page.locator("#arc-mark").evaluate("e => [parseFloat(e.style.left), parseFloat(e.style.top)]")
    assert box == [60, 100]
    page.goto(f"{web.url}/stats?label_set=grades-arc")
    text = page.inner_text("#flags")
    assert "discuss" in text and "a ring or a spiral arm?" in text and oid in text
    with closing(_client(web, "arc2")) as c:
        for body, msg in (({"flag": "weird"}, "flag 'weird' is not one of"), ({"arc": [1]}, "arc must be [x, y]"),
                          ({"arc": [-1, 3]}, "arc_x must lie in"), ({"arc": ["x", 3]}, "arc_x must be a number")):
            r = c.post("/api/grade", json={"queue": qid, "object_id": oid, "grade": "A", **body}, headers=H)
            assert r.status_code == 400 and msg in r.json()["error"], r.text
    assert page.errors == []


# ---------------------------------------------------------------- stamp size without dropped rows
def test_stamps_are_whole_pixel_magnifications(web, web_world, page_for):
    page = page_for("size")
    qid = _queue(page, kind="random", size=6, calibration_share=0, seed=39, label_set="grades-size")
    page.goto(f"{web.url}/queue/{qid}")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    side = web_world.images.shape[-1]  # the stored cutout side (40 px here)
    sizes = page.eval_on_selector_all(".cell img", "is => is.map(i => [i.naturalWidth, i.clientWidth])")
    assert all(n % side == 0 and n == c for n, c in sizes), sizes  # shown at natural size, whole multiples
    page.select_option("#stamp-size", "192")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth === 200)")
    page.reload()  # the choice is remembered
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth === 200)")
    with closing(_client(web, "size2")) as c:
        r = c.get(f"/stamp/{_cells(page)[0]}.png?px=5")
        assert r.status_code == 400 and "px must lie in" in r.json()["error"]


# ---------------------------------------------------------------- field guide and training with feedback
def test_field_guide_and_training_with_feedback_kept_apart(web, web_world, page_for):
    page = page_for("trainee")
    page.goto(f"{web.url}/guide")
    assert "ring galaxies" in page.inner_text("#tutorial")
    first_group = page.locator(".guide-group").first
    assert first_group.locator("h2").inner_text() == "known lenses"
    lens_stamps = first_group.locator("img").evaluate_all("is => is.map(i => i.alt.split(' ')[1])")
    known = {str(int(i)) for i in web_world.lenses}
    assert lens_stamps and set(lens_stamps) <= known
    page.click("#training-form button")
    page.wait_for_url("**/queue/*/page/1")
    page.wait_for_selector(".cell.current")
    ids = _cells(page)
    assert "grades-training" in page.inner_text(".pager")
    first = ids[0]
    page.keyboard.press("a")
    cell = f".cell[data-object-id='{first}']"
    page.wait_for_selector(f"{cell}.feedback-right, {cell}.feedback-wrong")
    status = page.inner_text("#status")
    expected = "a known lens" if first in known else "a known non-lens"
    assert expected in status and ("right" in status) == (first in known)
    # Training grades never enter a campaign set: they are calibration grades of grades-training only.
    engine = make_engine(web_world.db_url)
    from lensdb.catalog.models import LabelSet

    with engine.connect() as conn:
        rows = conn.execute(select(LabelSet.name, Grade.calibration).join(LabelSet, LabelSet.id == Grade.label_set_id)
                            .where(Grade.grader == "trainee")).all()
    engine.dispose()
    assert rows and all(name == "grades-training" and cal in ("lens", "non_lens") for name, cal in rows)
    assert page.errors == []


# ---------------------------------------------------------------- retirement by the skill model
def test_settled_objects_are_marked_and_passed_over(web, web_world, page_for):
    from lensdb.catalog import grading as store

    page = page_for("ret3")
    qid = _queue(page, kind="random", size=6, calibration_share=0, seed=40, label_set="grades-ret")
    page.goto(f"{web.url}/queue/{qid}")
    page.wait_for_selector(".cell.current")
    ids = [int(i) for i in _cells(page)]
    # Two graders with a perfect calibration record (skills 21/22) both call ids[1] not a lens: its lens
    # probability falls from the prior 0.05 to about 1e-4, under the retirement threshold 0.001.
    cal = [int(o) for o in web_world.ids[200:240]]
    engine = make_engine(web_world.db_url)
    for g in ("ret1", "ret2"):
        writes = [store.GradeWrite(o, "A" if k < 20 else "N", calibration="lens" if k < 20 else "non_lens")
                  for k, o in enumerate(cal)]
        store.write_grades(engine, "grades-ret", g, [*writes, store.GradeWrite(ids[1], "N")])
    engine.dispose()
    with closing(_client(web, "ret3")) as c:
        items = c.get(f"/api/queues/{qid}/page/0").json()["items"]
        assert [it["retired"] for it in items] == [None, "not", None, None, None, None]
        stats = c.get("/api/stats", params={"label_set": "grades-ret"}).json()["skill"]
        assert stats["not"] == 1 and {k["grader"] for k in stats["graders"]} == {"ret1", "ret2"}
    page.reload()
    page.wait_for_selector(".cell.current")
    assert "retired" in page.get_attribute(f".cell[data-object-id='{ids[1]}']", "class")
    page.keyboard.press("a")  # grades ids[0]; the selection passes over the settled ids[1]
    page.wait_for_function("id => document.querySelector('.cell.current').dataset.objectId === id", arg=str(ids[2]))
    assert page.errors == []


def test_arc_mark_by_keyboard_in_the_grid(web, web_world, page_for):
    page = page_for("arckey")
    qid = _queue(page, kind="random", size=4, calibration_share=0, seed=41, label_set="grades-arckey")
    page.goto(f"{web.url}/queue/{qid}")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    oid = page.get_attribute(".cell.current", "data-object-id")
    page.keyboard.press("m")
    for _ in range(10):
        page.keyboard.press("ArrowRight")  # 0.5 + 10/40 = 0.75 of the stamp
    page.keyboard.press("Shift+ArrowDown")  # 0.5 + 5/40 = 0.625
    page.keyboard.press("m")
    assert page.get_attribute(f".cell[data-object-id='{oid}']", "data-arc-fx") == "0.7500"
    page.keyboard.press("a")
    got = _wait_grades(web_world, "arckey", 1)
    assert got == {int(oid): "A"}
    engine = make_engine(web_world.db_url)
    with engine.connect() as conn:
        arc = conn.execute(select(Grade.arc_x, Grade.arc_y).where(Grade.grader == "arckey")).one()
    engine.dispose()
    side = web_world.images.shape[-1]
    assert tuple(arc) == (0.75 * side, 0.625 * side)
    with closing(_client(web, "arckey2")) as c:
        r = c.post("/api/grade", json={"queue": qid, "object_id": oid, "grade": "A", "arc_frac": [1.5, 0]},
                   headers=H)
        assert r.status_code == 400 and "arc_frac must hold two numbers in [0, 1]" in r.json()["error"]
    assert page.errors == []
