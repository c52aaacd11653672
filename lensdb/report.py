"""A self-contained HTML report folder (``index.html`` + ``figures/``) that opens from disk in any browser.

``lensdb demo`` ends by writing one to show what the simulated lens hunt found: similarity-search and candidate
grids, plots, tables of figures and the SQL queries to run next. The page uses inline CSS and one small inline
script only (no server, no network, no CDN or web fonts), every figure is copied next to the page and linked by a
relative path, so the folder can be moved or zipped. All caller text is HTML-escaped: nothing passes as raw HTML.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from lensdb.core.errors import InvalidInput

#: Image types a browser shows inline; other files are refused.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif", ".webp")
FIGURES_DIR = "figures"

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d232a;
       background: #f6f7f9; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 3em; background: #fff; }
h1 { margin-bottom: 0.1em; } .subtitle { color: #5a6470; margin-top: 0; }
h2 { border-bottom: 2px solid #dde2e8; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #c8ced6; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef1f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.3em; }
figure { margin: 1.2em 0; } figcaption { color: #3c4650; font-size: 0.92em; margin-top: 0.3em; }
img { max-width: 100%; height: auto; border: 1px solid #e3e7ec; }
img.wide { width: 100%; image-rendering: pixelated; }
pre { background: #f3f5f7; border: 1px solid #d9dee4; padding: 0.8em; overflow-x: auto; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; }
nav ol { padding-left: 1.4em; } .missing { color: #b00020; font-weight: 600; }
footer { color: #6b7580; font-size: 0.85em; border-top: 1px solid #dde2e8; margin-top: 3em; padding-top: 0.6em; }
"""

# Marks images that did not load; written so that it cannot itself raise (nothing but DOM calls).
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.getElementsByTagName("img");
  for (var i = 0; i < imgs.length; i++) {
    var im = imgs[i];
    if (im.complete && im.naturalWidth === 0 && im.parentNode) {
      var note = document.createElement("p");
      note.className = "missing";
      note.textContent = "image missing: " + im.getAttribute("src");
      im.parentNode.insertBefore(note, im.nextSibling);
    }
  }
});
"""


@dataclass(frozen=True)
class Figure:
    """An image file shown with a caption (the caption is also the image's ``alt`` text).

    ``wide`` shows it at the page's full width with sharp pixels (cutout grids at native resolution are small).
    """

    path: Path
    caption: str
    wide: bool = False


@dataclass(frozen=True)
class Link:
    """A table cell that links out (for example to the Legacy Survey viewer)."""

    text: str
    url: str


@dataclass(frozen=True)
class Table:
    """A table; cells are shown with ``str()`` (a :class:`Link` as a link), so callers format floats themselves."""

    header: Sequence[str]
    rows: Sequence[Sequence[object]]
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """One section of the report: plain text (blank lines separate paragraphs), links (text, http(s) URL),
    figures, tables, code blocks."""

    title: str
    text: str = ""
    figures: Sequence[Figure] = ()
    tables: Sequence[Table] = ()
    code: Sequence[tuple[str, str]] = ()
    links: Sequence[tuple[str, str]] = ()


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")


def section_id(index: int, section: Section) -> str:
    """The anchor of the ``index``-th section (1-based), unique even when titles repeat."""
    slug = _slug(section.title)
    return f"s{index}-{slug}" if slug else f"s{index}"


def lensdb_version() -> str:
    """``lensdb.__version__``, else the installed distribution's version, else ``"dev"``."""
    import lensdb

    version = getattr(lensdb, "__version__", None)
    if version:
        return str(version)
    try:
        return metadata.version("lensdb")
    except metadata.PackageNotFoundError:
        return "dev"


def _plan_figures(sections: Sequence[Section]) -> list[tuple[Path, str]]:
    """Checks every figure and picks its file name under ``figures/``; raises before anything is written."""
    plan = []
    for i, section in enumerate(sections, 1):
        for j, figure in enumerate(section.figures, 1):
            src = Path(figure.path)
            if not src.is_file():
                raise InvalidInput(f"report figure {src} (section {i} {section.title!r}) does not exist")
            suffix = src.suffix.lower()
            if suffix not in IMAGE_SUFFIXES:
                raise InvalidInput(f"report figure {src} (section {i} {section.title!r}) is not an image "
                                   f"({', '.join(IMAGE_SUFFIXES)})")
            plan.append((src, f"s{i:02d}-f{j:02d}-{_slug(src.stem) or 'figure'}{suffix}"))
    return plan


def _atomic_write(dest: Path, write: Callable[[Path], object]) -> None:
    """Lets ``write`` fill a temporary file next to ``dest``, then renames it over ``dest``."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _table_html(table: Table) -> str:
    def cell(value: object) -> str:
        if isinstance(value, Link):
            return f'<td><a href="{_esc(value.url)}" rel="noopener">{_esc(value.text)}</a></td>'
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        return f'<td class="num">{_esc(value)}</td>' if numeric else f"<td>{_esc(value)}</td>"

    caption = f"<caption>{_esc(table.caption)}</caption>" if table.caption else ""
    head = "".join(f"<th>{_esc(h)}</th>" for h in table.header)
    body = "\n".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in table.rows)
    return f"<table>{caption}\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"


def _section_html(index: int, section: Section, names: Sequence[str]) -> str:
    parts = [f'<section id="{section_id(index, section)}">', f"<h2>{_esc(section.title)}</h2>"]
    for para in re.split(r"\n\s*\n", section.text.strip()):
        if para.strip():
            parts.append(f"<p>{_esc(para.strip())}</p>")
    for text, url in section.links:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"report link {url!r} (section {section.title!r}) is not an http(s) URL")
        parts.append(f'<p class="link"><a href="{_esc(url)}">{_esc(text)}</a></p>')
    for figure, name in zip(section.figures, names, strict=True):
        wide = ' class="wide"' if figure.wide else ""
        parts.append(f'<figure><img{wide} src="{FIGURES_DIR}/{name}" alt="{_esc(figure.caption)}">'
                     f"<figcaption>{_esc(figure.caption)}</figcaption></figure>")
    parts.extend(_table_html(table) for table in section.tables)
    for caption, code in section.code:
        parts.append(f'<figure class="code"><figcaption>{_esc(caption)}</figcaption>'
                     f"<pre><code>{_esc(code)}</code></pre></figure>")
    parts.append("</section>")
    return "\n".join(parts)


def render_html(title: str, sections: Sequence[Section], figure_names: Sequence[str],
                summary: Sequence[tuple[str, str]] = (), subtitle: str = "") -> str:
    """The page's HTML; ``figure_names`` are the files under ``figures/``, in section then figure order."""
    head = [f"<h1>{_esc(title)}</h1>"]
    if subtitle:
        head.append(f'<p class="subtitle">{_esc(subtitle)}</p>')
    if summary:
        rows = "\n".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in summary)
        head.append(f'<table class="summary">\n{rows}\n</table>')
    toc = "\n".join(f'<li><a href="#{section_id(i, s)}">{_esc(s.title)}</a></li>' for i, s in enumerate(sections, 1))
    head.append(f"<nav><h2>Contents</h2><ol>\n{toc}\n</ol></nav>")
    body, start = [], 0
    for i, section in enumerate(sections, 1):
        body.append(_section_html(i, section, figure_names[start:start + len(section.figures)]))
        start += len(section.figures)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    footer = f"<footer>Generated {stamp} by LensDB {_esc(lensdb_version())}.</footer>"
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>", "</head>", "<body>", "<main>", *head, *body, footer, "</main>",
        f"<script>{_SCRIPT}</script>", "</body>", "</html>", "",
    ])


def write_report(out_dir: Path, title: str, sections: Sequence[Section], summary: Sequence[tuple[str, str]] = (),
                 subtitle: str = "") -> Path:
    """Writes ``out_dir/index.html`` and copies the figures into ``out_dir/figures/``.

    Re-writing into an existing folder replaces the page (atomically) and removes figures it no longer uses.

    Args:
        out_dir: report folder (created if missing).
        title: page title.
        sections: the sections, in order; each gets an anchor and an entry in the table of contents.
        summary: key/value pairs shown in a table at the top.
        subtitle: a line under the title.

    Returns:
        The path of ``index.html``.

    Raises:
        InvalidInput: a figure file does not exist or is not an image; nothing has been written then.
    """
    plan = _plan_figures(sections)
    out_dir = Path(out_dir)
    fig_dir = out_dir / FIGURES_DIR
    fig_dir.mkdir(parents=True, exist_ok=True)
    for src, name in plan:
        dest = fig_dir / name
        if not (dest.exists() and os.path.samefile(src, dest)):
            _atomic_write(dest, lambda tmp, src=src: shutil.copyfile(src, tmp))
    page = render_html(title, sections, [name for _, name in plan], summary, subtitle)
    index = out_dir / "index.html"
    _atomic_write(index, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    keep = {name for _, name in plan}
    for stale in fig_dir.iterdir():
        if stale.name not in keep and (stale.is_file() or stale.is_symlink()):
            stale.unlink()
    return index
