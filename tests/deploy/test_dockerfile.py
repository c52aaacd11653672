"""The image definition (deploy/docker/Dockerfile): hadolint, its structure, and the commands it runs.

No Docker engine runs here, so the image is not built. What can be checked without one is checked: the
Dockerfile lints clean, its variants, user, entry point and pins agree with the chart and pyproject.toml, the
build context lets in every package, and every command that the image's ENTRYPOINT/CMD and the chart's
Deployment and Jobs would run works through the installed ``lensdb`` console script (``--help``, and a full
parse of the exact arguments the chart passes).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import chart_helpers as ch
import pytest
import yaml

DOCKERFILE = ch.REPO / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ch.REPO / ".dockerignore"
PYPROJECT = tomllib.loads((ch.REPO / "pyproject.toml").read_text())
BIN = Path(sys.executable).parent
#: The chart's workloads, one container each; test_every_chart_workload_is_covered keeps this list complete.
COMPONENTS = ("api", "web", "migrations", "embed", "similarity", "train")


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    out, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # a comment line inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """[(FROM arguments, instructions of the stage)], global ARGs under the pseudo-stage ''."""
    result: list[tuple[str, list]] = [("", [])]
    for word, rest in instructions():
        if word == "FROM":
            result.append((rest, []))
        else:
            result[-1][1].append((word, rest))
    return result


def global_args() -> dict[str, str]:
    return dict(rest.split("=", 1) for word, rest in stages()[0][1] if word == "ARG" and "=" in rest)


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1][1]


def exec_form(word: str) -> list[str]:
    values = [rest for w, rest in final_stage() if w == word]
    assert len(values) == 1, f"the final stage needs exactly one {word}"
    parsed = json.loads(values[0])  # exec form: no shell between the kubelet/Docker and lensdb
    assert isinstance(parsed, list) and all(isinstance(x, str) for x in parsed)
    return parsed


def test_hadolint_is_clean():
    try:
        hadolint = ch.find_tool("LENSDB_HADOLINT", "hadolint")
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    proc = subprocess.run([hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_variants_are_chosen_by_a_build_argument():
    args = global_args()
    assert args["VARIANT"] == "cpu"
    bases = {rest.split()[-1]: rest.split()[0] for rest, _ in stages()[1:] if " AS " in rest.upper()}
    assert bases["python-cpu"] == "${PYTHON_IMAGE}" and args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    assert bases["python-cuda"] == "${CUDA_IMAGE}" and args["CUDA_IMAGE"].startswith("nvidia/cuda:")
    assert bases["build"] == bases["runtime"] == "python-${VARIANT}"
    assert stages()[-1][0].endswith("AS runtime"), "the runtime stage is the last one (the image)"
    cuda_stage = next(body for head, body in stages() if head.endswith("AS python-cuda"))
    assert any("python3.11" in rest for word, rest in cuda_stage if word == "RUN")
    build = next(body for head, body in stages() if head.endswith("AS build"))
    install = " ".join(rest for word, rest in build if word == "RUN")
    assert '"/src[gpu]"' in install and "download.pytorch.org/whl/cpu" in install


def test_python_and_pins_agree_with_pyproject():
    deps = {re.split(r"[=<>!~ ]", d, maxsplit=1)[0]: d for d in PYPROJECT["project"]["dependencies"]}
    build = dict(rest.split("=", 1) for head, body in stages() if head.endswith("AS build")
                 for word, rest in body if word == "ARG" and "=" in rest)
    assert deps["torch"] == f"torch=={build['TORCH_VERSION']}"
    assert deps["torchvision"] == f"torchvision=={build['TORCHVISION_VERSION']}"
    assert "gpu" in PYPROJECT["project"]["optional-dependencies"]
    assert any(d.startswith("faiss-gpu") for d in PYPROJECT["project"]["optional-dependencies"]["gpu"])
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def test_runs_as_the_fixed_non_root_user_the_chart_expects():
    users = [rest for word, rest in final_stage() if word == "USER"]
    assert users, "the image must not run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) > 0 and int(gid) > 0, "numeric, so runAsNonRoot can check it"
    defaults = yaml.safe_load((ch.CHART_DIR / "values.yaml").read_text())["podSecurityContext"]
    assert (defaults["runAsUser"], defaults["runAsGroup"], defaults["fsGroup"]) == (int(uid), int(gid), int(gid))
    created = " ".join(rest for word, rest in final_stage() if word == "RUN")
    assert f"--uid {uid}" in created and f"--gid {gid}" in created
    # The user comes after everything that needs root.
    words = [word for word, _ in final_stage()]
    assert max(i for i, w in enumerate(words) if w in ("RUN", "COPY")) < words.index("USER")


def test_entrypoint_is_lensdb_serving_by_default():
    assert exec_form("ENTRYPOINT") == ["lensdb"]
    assert exec_form("CMD") == ["serve"]
    exposed = {int(p) for word, rest in final_stage() if word == "EXPOSE" for p in rest.split()}
    values = yaml.safe_load((ch.CHART_DIR / "values.yaml").read_text())["api"]
    assert exposed == {values["port"], values["metricsPort"]} == {50051, 9090}
    env = " ".join(rest for word, rest in final_stage() if word == "ENV")
    assert "PATH=/opt/venv/bin:$PATH" in env and "LENSDB_DATA_DIR=/data" in env


def test_runtime_writes_only_to_tmp_and_needs_no_passwd_entry(render_ci):
    """Under readOnlyRootFilesystem only /tmp is writable, and a cluster may pick a UID the image does not know:
    torch's compile caches call getpass.getuser(), which needs USER (or a passwd entry; seen failing on a GPU
    node with `KeyError: getpwuid(): uid not found`)."""
    env = dict(item.split("=", 1) for word, rest in final_stage() if word == "ENV" for item in shlex.split(rest))
    assert env["USER"]
    for var in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        assert env[var].startswith("/tmp/"), var
    for values in ch.CI_VALUES:
        for workload in render_ci(values).workloads():
            for c in ch.containers(workload):
                assert ch.env_of(c)["HOME"]["value"] == "/tmp"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        candidates = [path] + [str(Path(*Path(path).parts[:i])) for i in range(1, len(Path(path).parts))]
        if any(fnmatch.fnmatch(c, pat) or (pat.startswith("**/") and fnmatch.fnmatch(Path(c).name, pat[3:]))
               or pat == "**" for c in candidates):
            ignored = not negate
    return ignored


def test_build_context_lets_in_every_package_and_nothing_local():
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    folders = set(PYPROJECT["tool"]["setuptools"]["package-dir"].values())
    for package in folders:
        assert not _ignored(f"{package}/__init__.py", patterns), f"{package} is not in the build context"
    assert not _ignored("pyproject.toml", patterns)
    assert not _ignored(PYPROJECT["project"]["readme"], patterns)
    assert not _ignored("catalog/migrations/versions/0001_initial_schema.py", patterns)
    for local in (".venv/bin/python", ".git/HEAD", ".tools/bin/helm", "tests/conftest.py", "lensdb-data/x.h5",
                  "lensdb/__pycache__/cli.cpython-311.pyc", "deploy/helm/lensdb/values.yaml"):
        assert _ignored(local, patterns), local


# ---- The commands the image runs ------------------------------------------------------------------------------

#: The ci file that turns every component on.
ALL_COMPONENTS = "cluster-values.yaml"


def test_every_chart_workload_is_covered(render_ci):
    seen = set()
    for values in ch.CI_VALUES:
        for workload in render_ci(values).workloads():
            seen.add(workload["metadata"]["labels"]["app.kubernetes.io/component"])
            assert len(ch.containers(workload)) == 1
    assert seen == set(COMPONENTS)
    assert {w["metadata"]["labels"]["app.kubernetes.io/component"]
            for w in render_ci(ALL_COMPONENTS).workloads()} == set(COMPONENTS)


def lensdb_argv(container: dict) -> list[str]:
    """The ``lensdb`` arguments a container runs: after the image's ENTRYPOINT, or after torchrun's ``-m``."""
    env = {name: "0" for name in ch.env_of(container)}  # e.g. the completion index of the first pod
    args = [ch.expand_kubelet_vars(a, env) for a in container.get("args", [])]
    command = container.get("command")
    if command is None:
        assert exec_form("ENTRYPOINT") == ["lensdb"]
        return args
    assert command == ["torchrun"], f"unexpected command {command}"
    module = args.index("-m")
    assert args[module + 1] == "lensdb.cli"
    return args[module + 2:]


def _container(render_ci, component: str) -> dict:
    workloads = [w for w in render_ci(ALL_COMPONENTS).workloads()
                 if w["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    assert len(workloads) == 1
    return ch.containers(workloads[0])[0]


def _command_path(argv: list[str]) -> list[str]:
    from lensdb.cli import build_parser

    parser, path = build_parser(), []
    for token in argv:
        subparsers = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subparsers or token not in subparsers[0].choices:
            break
        parser = subparsers[0].choices[token]
        path.append(token)
    return path


def _check_lensdb_command(argv: list[str]) -> None:
    """``lensdb ARGV --help`` through the console script, then a full parse of ARGV by the real parser."""
    from lensdb.cli import build_parser

    script = BIN / "lensdb"
    assert script.exists(), f"the lensdb console script is not installed in {BIN} (pip install -e .)"
    shown = shlex.join(["lensdb", *argv])
    proc = subprocess.run([str(script), *argv, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"`{shown} --help` failed:\n{proc.stderr.strip()}"
    path = _command_path(argv)
    assert path, f"`{shown}`: {argv[0]!r} is not a lensdb sub-command"
    assert proc.stdout.startswith(f"usage: lensdb {' '.join(path)}"), proc.stdout[:300]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse reports the problem on stderr
        pytest.fail(f"lensdb's parser rejects `{shown}` (exit {exc.code})")
    assert callable(getattr(args, "func", None)), f"`{shown}` selects no command"


def test_image_default_command_works():
    """ENTRYPOINT + CMD: what `docker run IMAGE` and the API Deployment start."""
    argv = exec_form("ENTRYPOINT")[1:] + exec_form("CMD")
    _check_lensdb_command(argv)


@pytest.mark.parametrize("component", COMPONENTS)
def test_chart_commands_work_in_the_installed_cli(render_ci, component):
    _check_lensdb_command(lensdb_argv(_container(render_ci, component)))


def test_training_command_starts_under_torchrun(render_ci):
    """The training Job's exact torchrun line (one process here instead of one per GPU) reaches lensdb."""
    container = _container(render_ci, "train")
    torchrun = BIN / "torchrun"
    assert torchrun.exists(), f"torchrun is not installed in {BIN}"
    args = [re.sub(r"^--nproc_per_node=\d+$", "--nproc_per_node=1", a) for a in container["args"]]
    proc = subprocess.run([str(torchrun), *args, "--help"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "usage: lensdb encoder train" in proc.stdout
