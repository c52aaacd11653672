"""Render the LensDB Helm chart with a real helm binary, and pick apart what it renders.

The chart's dependencies (Milvus, PostgreSQL) cannot be downloaded here, and helm refuses to render a chart whose
``Chart.yaml`` dependencies are missing from ``charts/``, enabled or not. So the tests render a copy of the chart
whose ``charts/`` holds a *probe* chart per dependency: a chart of the same name (and a version inside the declared
range) whose only template is a ConfigMap holding the values it was given. With the dependency disabled nothing
of it renders, so the app chart renders exactly as it would with the real subchart; with it enabled the probe
shows the values the real subchart would receive. No upstream chart code is copied.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "deploy" / "helm" / "lensdb"
CI_DIR = CHART_DIR / "ci"
CI_VALUES = sorted(p.name for p in CI_DIR.glob("*-values.yaml"))
INSTALL_SCRIPT = "deploy/tools/install-tools.sh"
PROBE_LABEL = "lensdb.test/subchart-probe"
#: The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.29.0", "1.37.0")
RENDER_KUBE_VERSION = "1.29.0"
#: The real subcharts, packed (see their README): unpacked into a copy of the chart at test time, never committed.
SHARED_CHARTS = Path(os.environ.get("LENSDB_SHARED_CHARTS", str(REPO.parent / "shared" / "charts")))

POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def find_tool(env_var: str, name: str) -> str:
    """Path of a tool installed by the install script (or named by ``env_var``), else a failure message."""
    path = os.environ.get(env_var) or str(REPO / ".tools" / "bin" / name)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise FileNotFoundError(
            f"{name} not found at {path}: run 'bash {INSTALL_SCRIPT}' (installs it into .tools/bin) "
            f"or set {env_var} to a {name} binary"
        )
    return path


def helm_binary() -> str:
    return find_tool("LENSDB_HELM", "helm")


def _lower_bound(constraint: str) -> str:
    """A version inside a ``>=X <Y`` style range: its lower bound X."""
    match = re.search(r">=\s*v?([0-9]+\.[0-9]+\.[0-9]+)", constraint)
    if not match:
        raise ValueError(f"dependency version {constraint!r} has no '>=X.Y.Z' lower bound to stand in for it")
    return match.group(1)


def chart_metadata() -> dict:
    return yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())


def write_probe_chart(charts_dir: Path, name: str, version: str) -> None:
    """A chart named like a dependency that renders one ConfigMap with the values it receives."""
    root = charts_dir / name
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: {name}\nversion: {version}\ndescription: test probe standing in for {name}\n"
    )
    (root / "templates" / "probe.yaml").write_text(
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        f"  name: {{{{ .Release.Name }}}}-probe-{name}\n"
        "  labels:\n"
        f"    {PROBE_LABEL}: {name}\n"
        "data:\n"
        "  values.json: {{ toJson .Values | quote }}\n"
    )


def make_probe_chart_copy(dest: Path, *, with_dependencies: bool = True) -> Path:
    """Copy the chart to ``dest``; fill ``charts/`` with probes, or drop the dependencies from Chart.yaml."""
    chart = dest / "lensdb"
    shutil.copytree(CHART_DIR, chart, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    meta = chart_metadata()
    if with_dependencies:
        for dep in meta.get("dependencies", []):
            write_probe_chart(chart / "charts", dep["name"], _lower_bound(str(dep["version"])))
    else:
        meta.pop("dependencies", None)
        (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return chart


def make_real_chart_copy(dest: Path) -> Path:
    """Copy the chart to ``dest`` and unpack the real Milvus and PostgreSQL charts into its ``charts/`` (what
    ``helm dependency build`` would fetch). Raises FileNotFoundError naming what is missing."""
    import tarfile

    chart = dest / "lensdb"
    shutil.copytree(CHART_DIR, chart, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    (chart / "charts").mkdir()
    for dep in chart_metadata().get("dependencies", []):
        found = sorted(SHARED_CHARTS.glob(f"{dep['name']}-*.tgz"))
        if not found:
            raise FileNotFoundError(f"the real {dep['name']} chart is not in {SHARED_CHARTS} (a {dep['name']}-*.tgz); "
                                    "set LENSDB_SHARED_CHARTS to the folder holding the packed subcharts")
        with tarfile.open(found[-1]) as tar:
            tar.extractall(chart / "charts", filter="data")
    return chart


class HelmError(RuntimeError):
    """helm exited non-zero; the message is its stderr."""


#: Helm's cache/config/data folders for the tests (set by conftest to a temporary folder), so that a developer's
#: own repositories and plugins never change what the tests see.
HELM_HOME: Path | None = None


def run_helm(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if HELM_HOME is not None:
        env.update(HELM_CACHE_HOME=str(HELM_HOME / "cache"), HELM_CONFIG_HOME=str(HELM_HOME / "config"),
                   HELM_DATA_HOME=str(HELM_HOME / "data"))
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=timeout, env=env)


@dataclass
class Rendered:
    """The documents of one ``helm template`` run."""

    text: str
    docs: list[dict] = field(default_factory=list)

    @property
    def app(self) -> list[dict]:
        """The LensDB chart's own objects (no dependency probes)."""
        return [d for d in self.docs if PROBE_LABEL not in d["metadata"].get("labels", {})]

    def probe_values(self, dependency: str) -> dict | None:
        """The values the dependency chart received, or None when it did not render (disabled)."""
        for d in self.docs:
            if d["metadata"].get("labels", {}).get(PROBE_LABEL) == dependency:
                return json.loads(d["data"]["values.json"])
        return None

    def kinds(self) -> list[str]:
        return sorted(d["kind"] for d in self.app)

    def one(self, kind: str, component: str | None = None) -> dict:
        found = self.all(kind, component)
        assert len(found) == 1, f"expected one {kind} {component or ''}, found {[d['metadata']['name'] for d in found]}"
        return found[0]

    def all(self, kind: str, component: str | None = None) -> list[dict]:
        return [d for d in self.app if d["kind"] == kind and (
            component is None or d["metadata"]["labels"].get("app.kubernetes.io/component") == component)]

    def workloads(self) -> list[dict]:
        return [d for d in self.app if d["kind"] in POD_KINDS]


def pod_spec(workload: dict) -> dict:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def pod_spec_labels(workload: dict) -> dict:
    """The labels of a workload's pods."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"].get("metadata", {}).get("labels", {})


def containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_of(container: dict) -> dict[str, dict]:
    """name -> EnvVar of a container."""
    return {e["name"]: e for e in container.get("env", [])}


def render(chart: Path, values_files: tuple[str, ...] = (), sets: tuple[str, ...] = (), release: str = "lensdb",
           namespace: str = "lensdb", kube_version: str = RENDER_KUBE_VERSION) -> Rendered:
    """``helm template`` the chart copy; raises HelmError with helm's message when it fails."""
    args = ["template", release, str(chart), "--namespace", namespace, "--kube-version", kube_version]
    for f in values_files:
        args += ["-f", str(f if os.path.isabs(f) else CI_DIR / f)]
    for s in sets:
        args += ["--set", s]
    proc = run_helm(*args)
    if proc.returncode != 0:
        raise HelmError(proc.stderr.strip() or proc.stdout.strip())
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return Rendered(proc.stdout, docs)


def expand_kubelet_vars(arg: str, env: dict[str, str]) -> str:
    """Expand ``$(VAR)`` the way the kubelet does for command and args (unknown references stay as written)."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), arg)
