"""The README's first command installs only the base dependencies: every third-party module the shipped packages
import must come from one of them (or from what they require), not from the test extras."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lensdb", "ingest", "encoder", "vectordb", "catalog", "classifiers", "api_grpc")
#: Developer tools that need the test extra, and say so when it is missing.
DEV_TOOLS = {"api_grpc/codegen.py"}  # regenerates the committed stubs with the pinned grpcio-tools


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: set[str]) -> set[str]:
    """The distributions ``names`` install, with everything they require (extras left out)."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requires if "extra ==" not in r]
    return seen


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def _base_installs() -> set[str]:
    """What ``pip install -e .`` installs: the base dependencies and what they require."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return _closure({_name(r) for r in project["dependencies"]})


def test_shipped_code_imports_only_base_dependencies():
    installed = _base_installs()
    dists = metadata.packages_distributions()
    missing = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if str(path.relative_to(ROOT)) in DEV_TOOLS:
                continue
            for module in _imports(path):
                if module in PACKAGES or module in sys.stdlib_module_names or module == "__future__":
                    continue
                owners = {d.lower().replace("_", "-") for d in dists.get(module, [])}
                if not owners & installed:
                    missing.setdefault(module, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"imported but not installed by `pip install -e .` (add to [project] dependencies): {missing}"


def test_the_check_sees_a_test_only_module():
    # pytest comes only with the test extra: the same lookup must not find it among the base installs
    installed = _base_installs()
    owners = {d.lower() for d in metadata.packages_distributions()["pytest"]}
    assert owners and not owners & installed
    assert {"numpy", "torch"} <= installed
