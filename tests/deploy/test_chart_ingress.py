"""The page and the API from outside the cluster: optional Ingresses (host, class, TLS from an existing Secret or
from cert-manager, annotations; gRPC backend annotations of the common controllers), the page's token from a Secret,
and the survey root in every pod. Each combination renders and validates strictly at Kubernetes 1.29 and 1.37."""

from __future__ import annotations

import subprocess
import sys

import chart_helpers as ch
import pytest

WEB = ("web.enabled=true", "web.auth.existingSecret=lensdb-web-token")

COMBINATIONS = {
    "page, TLS from an existing Secret": (*WEB, "web.ingress.enabled=true", "web.ingress.host=lensdb.example.org",
                                          "web.ingress.className=nginx",
                                          "web.ingress.tls.secretName=lensdb-example-org-tls"),
    "page, TLS from cert-manager": (*WEB, "web.ingress.enabled=true", "web.ingress.host=lensdb.example.org",
                                    "web.ingress.annotations.cert-manager\\.io/cluster-issuer=letsencrypt"),
    "page, no TLS, insecure": ("web.enabled=true", "web.insecure=true", "web.ingress.enabled=true",
                               "web.ingress.host=lensdb.lab.internal", "web.ingress.tls.enabled=false"),
    **{f"API via {c}": (*WEB, "api.ingress.enabled=true", "api.ingress.host=api.example.org",
                        f"api.ingress.controller={c}") for c in ("nginx", "traefik", "haproxy", "alb", "gke", "none")},
    "API via nginx, TLS to the pods": ("api.ingress.enabled=true", "api.ingress.host=api.example.org",
                                       "api.tls.enabled=true", "api.tls.existingSecret=lensdb-api-cert"),
    "survey root": (*WEB, "surveyRoot=/data/survey", "embed.enabled=true", "embed.runId=r1",
                    "embed.inputs={/data/survey}"),
}


def _validate(rendered: ch.Rendered, kube_version: str, tmp_path) -> None:
    manifest = tmp_path / f"manifest-{kube_version}.yaml"
    manifest.write_text(rendered.text)
    proc = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", kube_version,
                           str(manifest)], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    passed = [line for line in out.splitlines() if line.startswith("INFO") and "passed for resource" in line]
    assert len(passed) == len(rendered.docs), out


def _ingress(rendered: ch.Rendered, component: str) -> dict:
    found = [d for d in rendered.docs if d["kind"] == "Ingress" and d["metadata"]["name"].endswith(f"-{component}")]
    assert len(found) == 1, [d["metadata"]["name"] for d in rendered.docs if d["kind"] == "Ingress"]
    return found[0]


def _service(rendered: ch.Rendered, name: str) -> dict:
    (svc,) = [d for d in rendered.docs if d["kind"] == "Service" and d["metadata"]["name"] == name]
    return svc


@pytest.mark.parametrize("case", sorted(COMBINATIONS))
def test_each_combination_renders_and_validates_strictly(chart, case, tmp_path):
    rendered = ch.render(chart, ("external-values.yaml",), sets=COMBINATIONS[case])
    for kube_version in ch.KUBE_VERSIONS:
        _validate(rendered, kube_version, tmp_path)
    ingresses = [d for d in rendered.docs if d["kind"] == "Ingress"]
    if case == "survey root":
        assert not ingresses
        return
    assert len(ingresses) == 1
    ing = ingresses[0]
    (rule,) = ing["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    # The backend is a Service the chart renders, on a port name it has.
    svc = _service(rendered, backend["name"])
    assert backend["port"]["name"] in [p["name"] for p in svc["spec"]["ports"]]
    assert path["path"] == "/" and path["pathType"] == "Prefix"


def test_page_ingress_with_an_existing_tls_secret_and_the_token_from_a_secret(chart):
    rendered = ch.render(chart, ("external-values.yaml",), sets=COMBINATIONS["page, TLS from an existing Secret"])
    ing = _ingress(rendered, "web")
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [{"hosts": ["lensdb.example.org"], "secretName": "lensdb-example-org-tls"}]
    assert ing["spec"]["rules"][0]["host"] == "lensdb.example.org"
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "http"}
    web = rendered.one("Deployment", "web")
    env = ch.env_of(ch.containers(web)[0])
    assert env["LENSDB_WEB_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "lensdb-web-token", "key": "token"}
    assert "--insecure" not in ch.containers(web)[0]["args"]


def test_page_ingress_with_cert_manager_gets_its_annotation_and_a_secret_name(chart):
    rendered = ch.render(chart, ("external-values.yaml",), sets=COMBINATIONS["page, TLS from cert-manager"])
    ing = _ingress(rendered, "web")
    assert ing["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert "ingressClassName" not in ing["spec"]  # the cluster's default class
    assert ing["spec"]["tls"] == [{"hosts": ["lensdb.example.org"], "secretName": "lensdb-web-tls"}]


def test_page_ingress_without_tls(chart):
    rendered = ch.render(chart, ("external-values.yaml",), sets=COMBINATIONS["page, no TLS, insecure"])
    assert "tls" not in _ingress(rendered, "web")["spec"]


GRPC_ANNOTATIONS = {
    # controller: (annotations on the Ingress, annotations on the API Service)
    "nginx": ({"nginx.ingress.kubernetes.io/backend-protocol": "GRPC"}, None),
    "haproxy": ({"haproxy.org/server-proto": "h2"}, None),
    "alb": ({"alb.ingress.kubernetes.io/backend-protocol-version": "GRPC"}, None),
    "traefik": (None, {"traefik.ingress.kubernetes.io/service.serversscheme": "h2c"}),
    "gke": (None, {"cloud.google.com/app-protocols": '{"grpc":"HTTP2"}'}),
    "none": (None, None),
}


@pytest.mark.parametrize("controller", sorted(GRPC_ANNOTATIONS))
def test_api_ingress_tells_each_controller_to_speak_grpc(chart, controller):
    rendered = ch.render(chart, ("external-values.yaml",), sets=COMBINATIONS[f"API via {controller}"])
    ing = _ingress(rendered, "api")
    on_ingress, on_service = GRPC_ANNOTATIONS[controller]
    assert ing["metadata"].get("annotations") == on_ingress
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "grpc"}
    assert ing["spec"]["tls"] == [{"hosts": ["api.example.org"], "secretName": "lensdb-api-tls"}]
    svc = _service(rendered, ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"])
    assert svc["metadata"].get("annotations") == on_service


def test_api_ingress_to_tls_pods_uses_grpcs(chart):
    rendered = ch.render(chart, ("external-values.yaml",), sets=COMBINATIONS["API via nginx, TLS to the pods"])
    assert _ingress(rendered, "api")["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/backend-protocol": "GRPCS"}


def test_survey_root_reaches_every_lensdb_pod(chart):
    rendered = ch.render(chart, ("external-values.yaml",), sets=COMBINATIONS["survey root"])
    pods = [w for w in rendered.workloads()
            if w["metadata"].get("labels", {}).get("helm.sh/chart", "").startswith("lensdb-")]
    kinds = {w["metadata"]["labels"]["app.kubernetes.io/component"] for w in pods}
    assert {"api", "web", "migrations", "embed"} <= kinds
    for w in pods:
        for c in ch.containers(w):
            assert ch.env_of(c)["LENSDB_SURVEY_ROOT"] == {"name": "LENSDB_SURVEY_ROOT", "value": "/data/survey"}
    own = ch.render(chart, ("external-values.yaml",), sets=(*COMBINATIONS["survey root"], "web.surveyRoot=/web/survey"))
    for w in own.workloads():
        want = "/web/survey" if w["metadata"]["labels"]["app.kubernetes.io/component"] == "web" else "/data/survey"
        assert all(ch.env_of(c)["LENSDB_SURVEY_ROOT"]["value"] == want for c in ch.containers(w))
    plain = ch.render(chart, ("external-values.yaml",), sets=WEB)
    for w in plain.workloads():
        for c in ch.containers(w):
            assert "LENSDB_SURVEY_ROOT" not in ch.env_of(c)


@pytest.mark.parametrize(("sets", "message"), [
    ((*WEB, "web.ingress.enabled=true"), "host"),
    (("api.ingress.enabled=true",), "host"),
    (("api.ingress.enabled=true", "api.ingress.host=a.example.org", "api.ingress.controller=istio"), "controller"),
    ((*WEB, "web.ingress.enabled=true", "web.ingress.host=x.org", "web.ingress.tls=yes"), "tls"),
])
def test_bad_ingress_settings_are_refused_by_name(chart, sets, message):
    with pytest.raises(ch.HelmError, match=message):
        ch.render(chart, ("external-values.yaml",), sets=sets)


def test_the_deploy_readme_ingress_commands_render(chart, tmp_path):
    """The --set flags of deploy/README.md's Ingress commands, together, render and validate."""
    import re

    text = (ch.REPO / "deploy" / "README.md").read_text()
    section = text[text.index("## The page and the API from outside"):]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    sets = [v.strip("'") for v in re.findall(r"--set(?:-string)? (\S+)", block)]
    assert any(s.startswith("web.ingress.host=") for s in sets) and any(s.startswith("api.ingress.") for s in sets)
    rendered = ch.render(chart, ("external-values.yaml",), sets=tuple(sets))
    for kube_version in ch.KUBE_VERSIONS:
        _validate(rendered, kube_version, tmp_path)
    web = _ingress(rendered, "web")
    assert web["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert web["spec"]["tls"][0]["secretName"] == "lensdb-example-org-tls"
    assert _ingress(rendered, "api")["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/backend-protocol": "GRPC"}
