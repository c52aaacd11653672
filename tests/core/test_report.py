"""The HTML report: what it writes, what it refuses, and that a real browser shows it without errors."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from chromium import INSTALL_HINT, find_chromium, load_page

from lensdb.core.errors import InvalidInput
from lensdb.report import Figure, Section, Table, section_id, write_report

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EVIL = "<script>alert('x')</script> & co"


def _png(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(3, 2), dpi=60)
    try:
        ax.imshow(rng.random((16, 16)), cmap="gray")
        ax.set_title(f"panel {seed}")
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def _sections(src: Path) -> list[Section]:
    pngs = [_png(src / name, i) for i, name in enumerate(["grid.png", "candidates.png", "roc.png"])]
    return [
        Section(f"Similarity search {EVIL}", text="First paragraph with <b>tags</b>.\n\nSecond & last paragraph.",
                figures=[Figure(pngs[0], f"query and neighbours {EVIL}"), Figure(pngs[1], "candidates", wide=True)]),
        Section("Scores", figures=[Figure(pngs[2], "ROC curve")],
                tables=[Table(["model", "AUC", "n"], [["resnet <18>", "0.981", 512], ["knn", "0.95", 1024]],
                              caption="areas under the curve")],
                code=[("top candidates", "SELECT id, score FROM candidates WHERE score > 0.9 AND grade <> 'C';")]),
    ]


def _referenced(page: str) -> list[str]:
    return re.findall(r'<img[^>]* src="([^"]+)"', page)


def test_report_writes_escaped_page_with_copied_figures(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    sections = _sections(src)
    out = tmp_path / "report"
    index = write_report(out, f"Lens hunt {EVIL}", sections, summary=[("objects", "600"), ("key & <value>", EVIL)],
                         subtitle="simulated survey")
    assert index == out / "index.html" and index.is_file()
    page = index.read_text(encoding="utf-8")

    srcs = _referenced(page)
    assert len(srcs) == 3 and len(set(srcs)) == 3
    assert all(s.startswith("figures/") and s.endswith(".png") for s in srcs)
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(s.removeprefix("figures/") for s in srcs)
    for s in srcs:
        assert (out / s).read_bytes().startswith(b"\x89PNG")
    assert (out / srcs[2]).read_bytes() == (src / "roc.png").read_bytes()
    assert str(tmp_path) not in page  # only relative links: the folder can move
    assert page.count('<img class="wide" src=') == 1  # shown full width, sharp pixels

    assert "<script>alert" not in page and "<b>tags</b>" not in page and "resnet <18>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert "Second &amp; last paragraph." in page and "<td>resnet &lt;18&gt;</td>" in page
    assert "grade &lt;&gt; &#x27;C&#x27;;</code></pre>" in page
    assert 'alt="query and neighbours &lt;script&gt;' in page and 'loading=' not in page
    assert "https://" not in page and "http://" not in page  # nothing fetched from the network
    assert re.search(r"<footer>Generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by LensDB \S+\.</footer>", page)

    ids = re.findall(r'<section id="([^"]+)"', page)
    links = re.findall(r'<li><a href="#([^"]+)"', page)
    assert ids == links == [section_id(i, s) for i, s in enumerate(sections, 1)]
    assert len(set(ids)) == 2


def test_missing_figure_is_refused_before_anything_is_written(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    ok = _png(src / "ok.png", 1)
    out = tmp_path / "report"
    sections = [Section("fine", figures=[Figure(ok, "ok")]),
                Section("broken one", figures=[Figure(src / "no-such-grid.png", "gone")])]
    with pytest.raises(InvalidInput, match=r"no-such-grid\.png.*broken one"):
        write_report(out, "t", sections)
    assert not out.exists()

    write_report(out, "t", sections[:1])
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(InvalidInput, match="no-such-grid.png"):
        write_report(out, "changed", sections)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_rewrite_removes_stale_figures(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    out = tmp_path / "report"
    write_report(out, "first", _sections(src))
    assert len(list((out / "figures").iterdir())) == 3

    only = _png(src / "only.png", 7)
    index = write_report(out, "second", [Section("one figure", figures=[Figure(only, "the only one")])])
    page = index.read_text(encoding="utf-8")
    names = [p.name for p in (out / "figures").iterdir()]
    assert [s.removeprefix("figures/") for s in _referenced(page)] == names and len(names) == 1
    assert "second" in page and "first" not in page
    assert sorted(p.name for p in out.iterdir()) == ["figures", "index.html"]  # no temporary files left


def _chromium() -> None:
    try:
        find_chromium()
    except RuntimeError:
        pytest.fail(f"headless Chromium not found on PATH: {INSTALL_HINT}")


def test_report_renders_in_headless_chromium(tmp_path):
    _chromium()
    src = tmp_path / "src"
    src.mkdir()
    index = write_report(tmp_path / "report", f"Lens hunt {EVIL}", _sections(src), summary=[("objects", "600")])
    result = load_page(index)
    assert result.problems == []
    assert result.console_errors == [] and result.failed_loads == []
    assert len(result.images) == 3
    assert all(complete and width > 0 for _, complete, width in result.images)
    assert result.title == f"Lens hunt {EVIL}"


def test_chromium_checker_reports_broken_pages(tmp_path):
    """The checker must be able to fail: a broken image, a console error and an exception are all reported."""
    _chromium()
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title></head><body>'
                    '<img src="figures/absent.png" alt="absent">'
                    '<script>console.error("report check", 42); missingFunction();</script></body></html>',
                    encoding="utf-8")
    result = load_page(page)
    assert result.title == "broken"
    assert result.images == [("figures/absent.png", True, 0)]
    assert any("console.error: report check 42" in e for e in result.console_errors)
    assert any("missingFunction" in e for e in result.console_errors)
    assert any("absent.png" in e and "ERR_FILE_NOT_FOUND" in e for e in result.failed_loads)
    assert len(result.problems) >= 4


def test_report_marks_missing_images_without_errors_of_its_own(tmp_path):
    """A figure deleted after writing shows up as a failed load, never as a script error from the page itself."""
    _chromium()
    src = tmp_path / "src"
    src.mkdir()
    index = write_report(tmp_path / "report", "t", [Section("s", figures=[Figure(_png(src / "a.png", 3), "a")])])
    for fig in (index.parent / "figures").iterdir():
        fig.unlink()
    result = load_page(index)
    assert [src for src, _, width in result.images if width == 0] == ["figures/s01-f01-a.png"]
    assert not any(e.startswith(("console.", "uncaught")) for e in result.console_errors)
    assert any("s01-f01-a.png" in e for e in result.failed_loads)
    assert "image missing: figures/s01-f01-a.png" in result.text
