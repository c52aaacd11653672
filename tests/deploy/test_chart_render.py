"""Render the chart for every ci/*-values.yaml with a real helm, lint it, and validate every manifest strictly.

Also checks what every pod must have (probes where a server runs, resources, a restrictive security context), that
the API's Service / HPA / PDB select its pods, the migration hook's phases, the GPU jobs' scheduling, and that the
indexed Jobs' completion indices map one-to-one onto the shards of the work.
"""

from __future__ import annotations

import subprocess
import sys

import chart_helpers as ch
import numpy as np
import pytest

CI = ch.CI_VALUES


def test_ci_values_cover_the_three_setups():
    assert {"standalone-values.yaml", "cluster-values.yaml", "external-values.yaml"} <= set(CI)


@pytest.mark.parametrize("values", CI)
def test_helm_lint_strict_is_clean(chart, values):
    proc = ch.run_helm("lint", "--strict", str(chart), "-f", str(ch.CI_DIR / values),
                       "--kube-version", ch.RENDER_KUBE_VERSION)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out


@pytest.mark.parametrize("kube_version", ch.KUBE_VERSIONS)
@pytest.mark.parametrize("values", CI)
def test_every_manifest_validates_strictly(render_ci, values, kube_version, tmp_path):
    rendered = render_ci(values)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(rendered.text)
    proc = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", kube_version, str(manifest)],
        capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    # Every document was checked against a schema: none skipped as unknown.
    passed = [line for line in out.splitlines() if line.startswith("INFO") and "passed for resource" in line]
    assert len(passed) == len(rendered.docs), out
    assert "WARN" not in out, out


def test_app_chart_renders_fully_without_any_dependency(chart, tmp_path):
    """With external services the app chart needs nothing from the subcharts: it renders the same objects
    from a copy whose Chart.yaml declares no dependencies at all."""
    bare = ch.make_probe_chart_copy(tmp_path, with_dependencies=False)
    with_probes = ch.render(chart, ("external-values.yaml",))
    without = ch.render(bare, ("external-values.yaml",))
    assert with_probes.probe_values("milvus") is None and with_probes.probe_values("postgresql") is None
    assert without.docs == with_probes.docs
    assert without.kinds() == sorted([
        "ConfigMap", "Deployment", "Job", "Job", "Job", "PodDisruptionBudget", "Service", "ServiceAccount",
    ])


@pytest.mark.parametrize("values", CI)
def test_every_pod_has_resources_and_a_restrictive_security_context(render_ci, values):
    rendered = render_ci(values)
    assert rendered.workloads()
    for workload in rendered.workloads():
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = ch.pod_spec(workload)
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] > 0 and pod_sc["runAsGroup"] > 0, name
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["enableServiceLinks"] is False, name  # else LENSDB_* service variables leak into settings
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in ch.containers(workload):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["privileged"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"], name
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][part]), f"{name} {c['name']} {part}"
            # The root file system is read-only: /tmp is a size-limited emptyDir.
            tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], name
            assert volumes[tmp[0]["name"]]["emptyDir"].get("sizeLimit"), name


@pytest.mark.parametrize("values", CI)
def test_long_running_pods_have_grpc_health_probes(render_ci, values):
    rendered = render_ci(values)
    servers = [w for w in rendered.workloads() if w["kind"] != "Job"]
    assert servers, "the API Deployment should render"
    for workload in servers:
        for c in ch.containers(workload):
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in c, f"{workload['metadata']['name']}: no {probe}"
                spec = c[probe]
                if "grpc" in spec:  # the kubelet's native grpc.health.v1 probe
                    assert spec["grpc"]["port"] == ports["grpc"]
                    # Liveness must not fail when a backend is down (that is readiness' job).
                    alive = "lensdb.liveness" if probe != "readinessProbe" else None
                    assert spec["grpc"].get("service") == alive, f"{probe} asks the wrong health service"
                elif "httpGet" in spec:  # the inspection page: liveness /healthz, readiness /readyz (the catalogue)
                    assert spec["httpGet"]["port"] in ("http", ports["http"])
                    assert spec["httpGet"]["path"] == ("/readyz" if probe == "readinessProbe" else "/healthz")
                else:  # TLS: the kubelet's gRPC probe is plaintext only
                    assert spec["tcpSocket"]["port"] in ("grpc", ports["grpc"])
                    env = ch.env_of(c)
                    assert "LENSDB_TLS_CERT" in env and "LENSDB_TLS_KEY" in env


def test_jobs_are_bounded_instead_of_probed(render_ci):
    """A Job's pod serves nothing to probe: its health is its exit status, bounded by retries and deadlines."""
    for values in CI:
        for job in render_ci(values).all("Job"):
            spec = job["spec"]
            assert ch.pod_spec(job)["restartPolicy"] == "Never"
            assert "backoffLimit" in spec or "backoffLimitPerIndex" in spec
            if job["metadata"]["labels"]["app.kubernetes.io/component"] != "migrations":
                rules = spec["podFailurePolicy"]["rules"]
                assert rules[0] == {"action": "Ignore",
                                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}


def test_api_is_served_by_a_service_on_grpc_and_metrics_ports(render_ci):
    for values in CI:
        rendered = render_ci(values)
        deploy, svc = rendered.one("Deployment", "api"), rendered.one("Service", "api")
        pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
        assert deploy["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert svc["spec"]["selector"].items() <= pod_labels.items()
        assert {p["name"]: p["targetPort"] for p in svc["spec"]["ports"]} == {"grpc": "grpc", "metrics": "metrics"}
        args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
        ports = {p["name"]: p["containerPort"] for p in deploy["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert args[0] == "serve"
        assert args[args.index("--port") + 1] == str(ports["grpc"])
        assert args[args.index("--metrics-port") + 1] == str(ports["metrics"])
        assert args[args.index("--host") + 1] == "0.0.0.0"
        assert args[args.index("--metrics-host") + 1] == "0.0.0.0"  # the Service's metrics port reaches it


def test_api_autoscaling_and_disruption_budget(render_ci, chart):
    rendered = render_ci("cluster-values.yaml")
    deploy, hpa = rendered.one("Deployment", "api"), rendered.one("HorizontalPodAutoscaler", "api")
    assert "replicas" not in deploy["spec"], "the HPA owns the replica count"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deploy["metadata"]["name"]}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    pdb = rendered.one("PodDisruptionBudget", "api")
    assert pdb["spec"] == {"minAvailable": 2, "selector": deploy["spec"]["selector"]}

    fixed = render_ci("standalone-values.yaml")
    assert fixed.one("Deployment", "api")["spec"]["replicas"] == 1
    assert not fixed.all("HorizontalPodAutoscaler")
    assert fixed.one("PodDisruptionBudget", "api")["spec"]["maxUnavailable"] == 1

    scaled = ch.render(chart, sets=("api.replicas=5",))
    assert scaled.one("Deployment", "api")["spec"]["replicas"] == 5
    with pytest.raises(ch.HelmError, match="minReplicas .* must not exceed maxReplicas"):
        ch.render(chart, sets=("api.autoscaling.enabled=true", "api.autoscaling.minReplicas=5",
                               "api.autoscaling.maxReplicas=2"))


def test_api_token_and_tls_come_from_existing_secrets(render_ci):
    deploy = render_ci("cluster-values.yaml").one("Deployment", "api")
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    env = ch.env_of(c)
    assert env["LENSDB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "lensdb-api-token", "key": "token"}
    tls = {v["name"]: v for v in deploy["spec"]["template"]["spec"]["volumes"]}["tls"]
    assert tls["secret"]["secretName"] == "lensdb-api-tls"
    mount = {m["name"]: m for m in c["volumeMounts"]}["tls"]
    assert env["LENSDB_TLS_CERT"]["value"] == f"{mount['mountPath']}/tls.crt"
    assert env["LENSDB_TLS_KEY"]["value"] == f"{mount['mountPath']}/tls.key"


@pytest.mark.parametrize(("values", "phases"), [
    ("external-values.yaml", "pre-install,pre-upgrade"),
    # The bundled database is created by the install itself: the first migration runs after it.
    ("standalone-values.yaml", "post-install,pre-upgrade"),
])
def test_migration_job_is_a_hook_that_needs_no_release_object(render_ci, values, phases):
    job = render_ci(values).one("Job", "migrations")
    notes = job["metadata"]["annotations"]
    assert notes["helm.sh/hook"] == phases
    assert "before-hook-creation" in notes["helm.sh/hook-delete-policy"]
    spec = ch.pod_spec(job)
    assert spec["containers"][0]["args"][:2] == ["db", "upgrade"]
    # A pre-install hook runs before the release's ServiceAccount, ConfigMap and PVC exist.
    assert spec["serviceAccountName"] == "default"
    for volume in spec["volumes"]:
        assert set(volume) - {"name"} <= {"emptyDir", "secret"}, volume
    env = ch.env_of(spec["containers"][0])
    assert "LENSDB_CONFIG" not in env
    assert env["LENSDB_DATABASE_URL"]["value"].startswith("postgresql+psycopg2://")


def test_gpu_jobs_request_gpus_on_gpu_nodes_with_the_cuda_image(render_ci):
    rendered = render_ci("cluster-values.yaml")
    expected_gpus = {"embed": 1, "similarity": 1, "train": 8}
    for component, gpus in expected_gpus.items():
        job = rendered.one("Job", component)
        spec = ch.pod_spec(job)
        c = spec["containers"][0]
        assert c["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert c["image"].endswith("-cuda")
        assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        shm = {v["name"]: v for v in spec["volumes"]}["dshm"]
        assert shm["emptyDir"]["medium"] == "Memory"
        assert any(m["mountPath"] == "/dev/shm" for m in c["volumeMounts"])
    # The API and the migrations stay on the CPU image without GPUs.
    for component in ("api",):
        c = ch.pod_spec(rendered.one("Deployment", component))["containers"][0]
        assert "nvidia.com/gpu" not in c["resources"]["limits"] and not c["image"].endswith("-cuda")
    # A CPU-only similarity run (gpus: 0) gets the CPU image and no GPU.
    cpu = ch.pod_spec(render_ci("external-values.yaml").one("Job", "similarity"))
    assert "nvidia.com/gpu" not in cpu["containers"][0]["resources"]["limits"]
    assert not cpu["containers"][0]["image"].endswith("-cuda") and "nodeSelector" not in cpu


def test_training_job_runs_one_torchrun_process_per_gpu(render_ci):
    for values in ("cluster-values.yaml", "external-values.yaml"):
        job = render_ci(values).one("Job", "train")
        assert job["spec"]["completions"] == 1 and job["spec"]["parallelism"] == 1
        c = ch.pod_spec(job)["containers"][0]
        gpus = c["resources"]["limits"]["nvidia.com/gpu"]
        assert c["command"] == ["torchrun"]
        assert f"--nproc_per_node={gpus}" in c["args"] and "--standalone" in c["args"]
        module = c["args"].index("-m")
        assert c["args"][module + 1:module + 4] == ["lensdb.cli", "encoder", "train"]
    resumed = ch.pod_spec(render_ci("external-values.yaml").one("Job", "train"))["containers"][0]["args"]
    assert "--resume" in resumed


def _indexed_jobs(render_ci):
    for values in CI:
        for job in render_ci(values).all("Job"):
            if job["spec"].get("completionMode") == "Indexed":
                yield values, job


def test_indexed_jobs_exist_for_embedding_and_similarity(render_ci):
    components = {job["metadata"]["labels"]["app.kubernetes.io/component"] for _, job in _indexed_jobs(render_ci)}
    assert components == {"embed", "similarity"}


def test_job_completion_indices_map_one_to_one_onto_shards(render_ci):
    """Pod i of an indexed Job gets ``--shard i/N`` with N = completions; the N pods cover the work exactly once."""
    from lensdb.core.partition import parse_partition as parse_shard
    from lensdb.vectordb.similarity.builder import shard_chunks

    checked = 0
    for values, job in _indexed_jobs(render_ci):
        n = job["spec"]["completions"]
        assert 1 <= job["spec"]["parallelism"] <= n
        c = ch.pod_spec(job)["containers"][0]
        env = ch.env_of(c)
        # The index reaches the container through the Downward API, so the kubelet can expand $(...) in args.
        assert env["LENSDB_SHARD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == (
            "metadata.annotations['batch.kubernetes.io/job-completion-index']")
        assert c["args"].count("--shard") == 1
        template = c["args"][c["args"].index("--shard") + 1]
        assert template == f"$(LENSDB_SHARD_INDEX)/{n}"
        shards = [parse_shard(ch.expand_kubelet_vars(template, {"LENSDB_SHARD_INDEX": str(i)})) for i in range(n)]
        assert shards == [(i, n) for i in range(n)], values
        # The shards partition the work: every similarity chunk belongs to exactly one pod, for skewed costs too.
        rng = np.random.default_rng(n)
        for n_chunks in (1, n - 1, n, 3 * n + 1):
            costs = rng.lognormal(0.0, 1.5, size=max(n_chunks, 1))
            owned = [c for i, total in shards for c in shard_chunks(costs, i, total)]
            assert sorted(owned) == list(range(len(costs))), (values, n_chunks)
        checked += 1
    assert checked >= 4


def test_job_names_carry_the_run_id_and_fit_kubernetes_limits(render_ci):
    for values in CI:
        for job in render_ci(values).all("Job"):
            name = job["metadata"]["name"]
            assert len(name) <= 63
            component = job["metadata"]["labels"]["app.kubernetes.io/component"]
            if component != "migrations":
                run_id = job["metadata"]["labels"]["lensdb.io/run-id"]
                assert name.endswith(f"-{component}-{run_id}")


def test_config_file_is_mounted_and_rolls_the_api(render_ci, chart):
    rendered = render_ci("external-values.yaml")
    cm = rendered.one("ConfigMap", "config")
    assert "[similarity]" in cm["data"]["lensdb.toml"]
    deploy = rendered.one("Deployment", "api")
    assert "checksum/config" in deploy["spec"]["template"]["metadata"]["annotations"]
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    mount = {m["name"]: m for m in c["volumeMounts"]}["config"]
    assert ch.env_of(c)["LENSDB_CONFIG"]["value"] == f"{mount['mountPath']}/lensdb.toml"
    volumes = {v["name"]: v for v in deploy["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == cm["metadata"]["name"]
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "lensdb-survey-data"
    assert not rendered.all("PersistentVolumeClaim")


def test_data_volume_is_shared_by_the_api_and_the_jobs(render_ci):
    rendered = render_ci("cluster-values.yaml")
    pvc = rendered.one("PersistentVolumeClaim", "data")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for workload in rendered.workloads():
        if workload["metadata"]["labels"]["app.kubernetes.io/component"] == "migrations":
            continue
        spec = ch.pod_spec(workload)
        data = {v["name"]: v for v in spec["volumes"]}["data"]
        assert data["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
        c = spec["containers"][0]
        mount = {m["name"]: m for m in c["volumeMounts"]}["data"]
        assert ch.env_of(c)["LENSDB_DATA_DIR"]["value"] == mount["mountPath"]


@pytest.mark.parametrize("values", CI)
def test_install_notes_render_and_name_the_endpoints(chart, values, render_ci):
    # `install --dry-run=client` renders NOTES.txt without a cluster (helm template does not render it).
    proc = ch.run_helm("install", "lensdb", str(chart), "--dry-run=client", "--namespace", "lensdb",
                       "-f", str(ch.CI_DIR / values))
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:", 1)[1]
    env = ch.env_of(ch.containers(render_ci(values).one("Deployment", "api"))[0])
    assert env["LENSDB_MILVUS_URI"]["value"] in notes and env["LENSDB_DATABASE_URL"]["value"] in notes
    for job in render_ci(values).all("Job"):
        if job["metadata"]["labels"]["app.kubernetes.io/component"] != "migrations":
            assert f"get job {job['metadata']['name']}" in notes


def test_inspection_page_has_a_service_and_needs_a_token(render_ci, chart):
    rendered = render_ci("cluster-values.yaml")
    deploy, svc = rendered.one("Deployment", "web"), rendered.one("Service", "web")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {"http": (80, "http")}
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    args = c["args"]
    assert args[0] == "web" and args[args.index("--host") + 1] == "0.0.0.0"
    assert args[args.index("--port") + 1] == str({p["name"]: p["containerPort"] for p in c["ports"]}["http"])
    assert "--insecure" not in args
    env = ch.env_of(c)
    assert env["LENSDB_WEB_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "lensdb-web-token", "key": "token"}
    # Off by default; on without a token only when asked to be insecure.
    assert not ch.render(chart).all("Deployment", "web")
    with pytest.raises(ch.HelmError, match="web.auth.existingSecret"):
        ch.render(chart, sets=("web.enabled=true",))
    open_page = ch.render(chart, sets=("web.enabled=true", "web.insecure=true")).one("Deployment", "web")
    assert "--insecure" in open_page["spec"]["template"]["spec"]["containers"][0]["args"]
