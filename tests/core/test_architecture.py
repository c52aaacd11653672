"""The floor plan: one installed namespace (``lensdb``), and what ships imports nothing outside it.

The repository's folders (``core/``, ``catalog/``, ``ingest/``, ...) install as subpackages of ``lensdb`` through
setuptools' ``package-dir``; these tests build the real wheel and look inside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _build_wheel(out: Path) -> Path:
    """Build LensDB's wheel from a copy of what pip would see (the package folders and the metadata), so that
    concurrent builds and the repository's own ``build/`` folder do not meet."""
    src = out / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "lensdb-data")
    for folder in set(SETUPTOOLS["package-dir"].values()):
        shutil.copytree(REPO / folder, src / folder, ignore=ignore)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = out.glob("lensdb-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel unpacked as site-packages would hold it."""
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


def test_every_package_folder_is_listed_and_mapped():
    listed = set(SETUPTOOLS["packages"])
    mapping = SETUPTOOLS["package-dir"]
    found = set()
    for folder in mapping.values():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            prefix = next(k for k, v in mapping.items() if v == folder)
            found.add(".".join([prefix, *rel.parts]))
    assert found == listed, f"folders with __init__.py not in [tool.setuptools] packages: {sorted(found - listed)}; " \
                            f"listed without a folder: {sorted(listed - found)}"
    # Every top-level folder that holds Python code of LensDB's is mapped (tests and benchmarks are not shipped).
    code_folders = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert code_folders == set(mapping.values())


def test_wheel_adds_only_lensdb_to_site_packages(wheel):
    with zipfile.ZipFile(wheel) as zf:
        top = {name.split("/")[0] for name in zf.namelist()}
        names = set(zf.namelist())
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"lensdb"}, top
    # The data the packages read at run time travel with them.
    for needed in ("lensdb/catalog/migrations/versions/0001_initial_schema.py", "lensdb/catalog/migrations/env.py",
                   "lensdb/catalog/migrations/script.py.mako", "lensdb/catalog/data/training_lenses.tsv",
                   "lensdb/api_grpc/proto/lensdb/v1/search.proto", "lensdb/core/errors.py", "lensdb/cli.py",
                   "lensdb/catalog/SQL.md", "lensdb/catalog/migrations/versions/0005_survey_roots.py"):
        assert needed in names, needed
    # Every .proto of the protocol ships, so that clients in other languages can generate their stubs from the wheel.
    protos = sorted(p.name for p in (REPO / "api_grpc" / "proto" / "lensdb" / "v1").glob("*.proto"))
    assert len(protos) >= 6
    for proto in protos:
        assert f"lensdb/api_grpc/proto/lensdb/v1/{proto}" in names, proto


def test_installed_modules_import_without_the_repository(installed, tmp_path):
    """Every module of the wheel imports from site-packages alone: no module leans on a top-level ``ingest`` or
    ``catalog`` that only a checkout of the repository has on ``sys.path``."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import lensdb\n"
        "bad = []\n"
        "for m in pkgutil.walk_packages(lensdb.__path__, 'lensdb.'):\n"
        "    if m.name.startswith('lensdb.catalog.migrations.'):\n"
        "        continue  # alembic runs these scripts itself\n"
        "    importlib.import_module(m.name)\n"
        "for name in ('core', 'catalog', 'ingest', 'encoder', 'vectordb', 'classifiers', 'api_grpc', 'services'):\n"
        "    if name in sys.modules:\n"
        "        bad.append(name)\n"
        "print(len(list(pkgutil.walk_packages(lensdb.__path__, 'lensdb.'))))\n"
        "assert not bad, f'top-level modules imported: {bad}'\n"
        "assert lensdb.__file__.startswith(sys.argv[1]), lensdb.__file__\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(installed)
    # -I would drop PYTHONPATH; -P keeps the working folder (an empty one) off sys.path.
    result = subprocess.run([sys.executable, "-P", "-c", code, str(installed)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert int(result.stdout.split()[-1]) > 100


# ---- The floor plan: import-linter contracts ([tool.importlinter] in pyproject.toml) on what ships -------------

def _lint(site: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run the project's import-linter contracts on an unpacked wheel (the layout Python sees once installed)."""
    code = ("import sys\nfrom importlinter.cli import lint_imports\n"
            f"sys.exit(lint_imports(config_filename={str(REPO / 'pyproject.toml')!r}, no_logo=True, no_cache=True))")
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-P", "-c", code], cwd=site, env=env, capture_output=True, text=True,
                          timeout=600)


def test_import_contracts_hold(installed, tmp_path):
    result = _lint(installed, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


#: (module file in the wheel, a forbidden import added to it, the contract that must break)
VIOLATIONS = [
    ("lensdb/core/units.py", "from lensdb.catalog import models", "layers"),
    ("lensdb/catalog/queries.py", "from lensdb.vectordb import schema", "layers"),
    ("lensdb/services/config.py", "from lensdb.api_grpc import errors", "layers"),
    ("lensdb/ingest/reader.py", "from lensdb.services import paging", "layers"),
    ("lensdb/encoder/moco.py", "from lensdb.catalog import queries", "the encoder knows no labels"),
    ("lensdb/ingest/schema.py", "from lensdb.vectordb import naming", "shards go to the catalogue only"),
    ("lensdb/services/paging.py", "import grpc", "no protocol below the faces"),
    ("lensdb/web/config.py", "from lensdb.catalog import grading", "the inspection page speaks to the services"),
    ("lensdb/web/server.py", "from lensdb.api_grpc import errors", "layers"),
]


@pytest.mark.parametrize("path, line, contract", VIOLATIONS)
def test_a_forbidden_import_breaks_its_contract(installed, tmp_path, path, line, contract):
    site = tmp_path / "site"
    shutil.copytree(installed, site)
    target = site / path
    target.write_text(target.read_text() + f"\n{line}  # added by the test\n")
    result = _lint(site, tmp_path)
    assert result.returncode == 1, result.stdout
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken and path.removesuffix(".py").replace("/", ".") in broken, result.stdout


def test_no_import_cycles(installed):
    """No module reaches itself through its imports (imports needed only for type checking excepted): a cycle
    hidden by an import inside a function is a cycle all the same."""
    code = (
        "import grimp\n"
        "g = grimp.build_graph('lensdb', exclude_type_checking_imports=True)\n"
        "cycles = sorted({tuple(sorted((a, b))) for a in g.modules for b in g.find_modules_directly_imported_by(a)\n"
        "                 if g.find_shortest_chain(importer=b, imported=a)})\n"
        "print(len(g.modules), cycles)\n"
    )
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(installed)}
    result = subprocess.run([sys.executable, "-P", "-c", code], cwd=installed, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    count, cycles = result.stdout.split(" ", 1)
    assert int(count) > 100 and cycles.strip() == "[]", result.stdout
