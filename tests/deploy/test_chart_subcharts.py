"""The chart rendered with the real subcharts (Milvus 5.0.19 / Milvus 2.6.15, Bitnami PostgreSQL 17.1.0, unpacked
from ../shared/charts): every manifest validates strictly, and what LensDB connects to (the Milvus URI, the database
URL, the password Secret) is a Service, a port and a Secret key that those charts really create.
"""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import urlsplit

import chart_helpers as ch
import pytest
from sqlalchemy.engine import make_url

CI = ch.CI_VALUES


def _lensdb_env(rendered: ch.Rendered) -> list[dict]:
    """The env of every LensDB container (the subcharts' workloads left out)."""
    ours = [w for w in rendered.workloads()
            if w["metadata"].get("labels", {}).get("helm.sh/chart", "").startswith("lensdb-")]
    envs = [ch.env_of(c) for w in ours for c in ch.containers(w)]
    assert envs
    return envs


def _service(rendered: ch.Rendered, name: str) -> dict:
    found = [d for d in rendered.docs if d["kind"] == "Service" and d["metadata"]["name"] == name]
    assert len(found) == 1, f"no Service {name}; rendered: " + ", ".join(
        d["metadata"]["name"] for d in rendered.docs if d["kind"] == "Service")
    return found[0]


def _pods_selected(rendered: ch.Rendered, service: dict) -> list[dict]:
    """The workloads whose pod labels a Service's selector matches."""
    selector = service["spec"]["selector"]
    return [w for w in rendered.workloads()
            if selector.items() <= ch.pod_spec_labels(w).items()]


@pytest.mark.parametrize("kube_version", ch.KUBE_VERSIONS)
@pytest.mark.parametrize("values", CI)
def test_every_manifest_with_the_real_subcharts_validates_strictly(render_real, values, kube_version, tmp_path):
    rendered = render_real(values)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(rendered.text)
    proc = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", kube_version, str(manifest)],
        capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    passed = [line for line in out.splitlines() if line.startswith("INFO") and "passed for resource" in line]
    assert len(passed) == len(rendered.docs), out
    if values != "external-values.yaml":  # the bundled engines really render
        charts = {d["metadata"].get("labels", {}).get("helm.sh/chart", "").split("-")[0] for d in rendered.docs}
        assert {"milvus", "postgresql", "lensdb"} <= charts


@pytest.mark.parametrize(("values", "milvus_component"), [("standalone-values.yaml", "standalone"),
                                                         ("cluster-values.yaml", "proxy")])
def test_lensdb_points_at_the_services_the_real_charts_create(render_real, values, milvus_component):
    rendered = render_real(values)
    for env in _lensdb_env(rendered):
        uri = urlsplit(env["LENSDB_MILVUS_URI"]["value"])
        milvus = _service(rendered, uri.hostname)
        assert uri.port in [p["port"] for p in milvus["spec"]["ports"]]
        # standalone: the standalone pod; cluster: the proxies (the only Milvus component that serves clients)
        pods = _pods_selected(rendered, milvus)
        assert [ch.pod_spec_labels(w)["component"] for w in pods] == [milvus_component], pods

        url = make_url(env["LENSDB_DATABASE_URL"]["value"])
        pg = _service(rendered, url.host)
        assert url.port in [p["port"] for p in pg["spec"]["ports"]]
        primaries = _pods_selected(rendered, pg)
        assert [w["kind"] for w in primaries] == ["StatefulSet"]
        assert ch.pod_spec_labels(primaries[0])["app.kubernetes.io/component"] == "primary"
        # The password LensDB reads is the one PostgreSQL's pod is given (same Secret, same key).
        ref = env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]
        pg_env = {e["name"]: e for c in ch.containers(primaries[0]) for e in c.get("env", [])}
        refs = [e["valueFrom"]["secretKeyRef"] for e in pg_env.values() if "secretKeyRef" in e.get("valueFrom", {})]
        mounted = [v for v in ch.pod_spec(primaries[0]).get("volumes", []) if "secret" in v]
        assert ref in refs or any(v["secret"]["secretName"] == ref["name"] for v in mounted), (ref, refs, mounted)


NAMING_CASES = {
    # release, extra --set values
    "plain release": ("lens", ()),
    # (A release named "milvus-postgresql" makes both real charts name their Service "milvus-postgresql": a
    # collision of the upstream charts' own naming, which no wiring on LensDB's side can resolve.)
    "release named like a chart": ("milvus-prod", ()),
    "fullnameOverride": ("lens", ("milvus.fullnameOverride=vectors", "postgresql.fullnameOverride=catalogue")),
    "nameOverride": ("lens", ("milvus.nameOverride=mv", "postgresql.nameOverride=pg")),
    "replication": ("lens", ("postgresql.architecture=replication",)),
    "custom ports": ("lens", ("milvus.service.port=29530", "postgresql.primary.service.ports.postgresql=6432")),
}


@pytest.mark.parametrize("case", sorted(NAMING_CASES))
def test_service_names_follow_the_real_charts_naming(real_chart, case):
    release, sets = NAMING_CASES[case]
    rendered = ch.render(real_chart, release=release, sets=sets)
    services = {d["metadata"]["name"]: d for d in rendered.docs if d["kind"] == "Service"}
    secrets = {d["metadata"]["name"]: d for d in rendered.docs if d["kind"] == "Secret"}
    for env in _lensdb_env(rendered):
        uri = urlsplit(env["LENSDB_MILVUS_URI"]["value"])
        assert uri.hostname in services, (uri.hostname, sorted(services))
        assert uri.port in [p["port"] for p in services[uri.hostname]["spec"]["ports"]]
        url = make_url(env["LENSDB_DATABASE_URL"]["value"])
        assert url.host in services, (url.host, sorted(services))
        assert url.port in [p["port"] for p in services[url.host]["spec"]["ports"]]
        # No existingSecret here: the Secret the PostgreSQL chart generates, with the key LensDB reads.
        ref = env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] in secrets and ref["key"] in secrets[ref["name"]]["data"], (ref, sorted(secrets))


def test_kube_version_floor(real_chart):
    """The chart installs on 1.29 (the oldest API it uses, see Chart.yaml) and refuses 1.28 before rendering."""
    assert ch.render(real_chart, ("standalone-values.yaml",), kube_version="1.29.0").docs
    with pytest.raises(ch.HelmError, match=r"requires kubeVersion: >=1\.29"):
        ch.render(real_chart, ("standalone-values.yaml",), kube_version="1.28.0")
