"""Fixtures of the deployment tests: the helm binary, a renderable copy of the chart, rendered ci/*-values.yaml."""

from __future__ import annotations

import chart_helpers as ch
import pytest


@pytest.fixture(scope="session")
def helm(tmp_path_factory) -> str:
    """The helm binary; the tests fail (never skip) when it is missing."""
    try:
        path = ch.helm_binary()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    ch.HELM_HOME = tmp_path_factory.mktemp("helm-home")
    return path


@pytest.fixture(scope="session")
def chart(helm, tmp_path_factory):
    """A copy of the chart with dependency probes in charts/ (see chart_helpers)."""
    return ch.make_probe_chart_copy(tmp_path_factory.mktemp("chart"))


@pytest.fixture(scope="session")
def real_chart(helm, tmp_path_factory):
    """A copy of the chart with the real Milvus and PostgreSQL charts in charts/ (from ../shared/charts)."""
    try:
        return ch.make_real_chart_copy(tmp_path_factory.mktemp("real-chart"))
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def render_real(real_chart):
    """ci file name -> Rendered with the real subcharts, each rendered once per session."""
    cache: dict[str, ch.Rendered] = {}

    def get(name: str) -> ch.Rendered:
        if name not in cache:
            cache[name] = ch.render(real_chart, (name,))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def render_ci(chart):
    """ci file name -> Rendered, each rendered once per session."""
    cache: dict[str, ch.Rendered] = {}

    def get(name: str) -> ch.Rendered:
        if name not in cache:
            cache[name] = ch.render(chart, (name,))
        return cache[name]

    return get
