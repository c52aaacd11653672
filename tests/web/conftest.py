"""Fixtures of the inspection page's tests: the API tests' small survey (SQLite + a Milvus Lite file), the page
served by a real uvicorn on a free port, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api_grpc"))

from api_world import build_world  # noqa: E402
from web_helpers import start_web  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def web_world(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("web-world")
    return build_world(tmp, f"sqlite:///{tmp / 'lensdb.sqlite'}", str(tmp / "milvus.db"))


@pytest.fixture(scope="session")
def web(web_world):
    """The page, without a token."""
    server, services = start_web(web_world)
    yield server
    server.stop()
    services.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (bash .ci/run does)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()
