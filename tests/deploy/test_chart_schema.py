"""values.schema.json: it is a valid schema, it describes every key of values.yaml, and helm rejects bad values
with it (and with the templates' own guards) before anything reaches a cluster."""

from __future__ import annotations

import json

import chart_helpers as ch
import jsonschema
import pytest
import yaml

SCHEMA = json.loads((ch.CHART_DIR / "values.schema.json").read_text())
DEFAULTS = yaml.safe_load((ch.CHART_DIR / "values.yaml").read_text())
#: Blocks handed to the subcharts: the schema checks only the keys LensDB itself reads from them.
SUBCHART_BLOCKS = {"milvus", "postgresql", "global"}
COMPONENTS = ("api", "web", "migrations", "embed", "similarity", "train")


def test_schema_is_a_valid_draft7_schema():
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_defaults_and_ci_values_satisfy_the_schema():
    validator = jsonschema.Draft7Validator(SCHEMA)
    assert not list(validator.iter_errors(DEFAULTS))
    for name in ch.CI_VALUES:
        merged = _merge(DEFAULTS, yaml.safe_load((ch.CI_DIR / name).read_text()))
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(merged)]
        assert not errors, (name, errors)


def _merge(base, override):
    """Helm's coalescing of a values file over the defaults (maps merge, null deletes, the rest replaces)."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(base.get(key), value)
    return out


def _schema_at(schema, path):
    for key in path:
        if "$ref" in schema:
            schema = SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[1]]
        props = schema.get("properties", {})
        assert key in props, f"values.yaml key {'.'.join(path)} is not described in values.schema.json"
        schema = props[key]
    if "$ref" in schema:
        schema = SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_values_key_is_described_and_typos_are_rejected():
    def walk(node, path):
        schema = _schema_at(SCHEMA, path)
        if not isinstance(node, dict) or (path and path[0] in SUBCHART_BLOCKS):
            return
        if schema.get("type") == "object" and "properties" in schema:
            # Closed objects: a misspelt key is an error, not a silently ignored setting.
            assert schema.get("additionalProperties") is False, f"{'.'.join(path) or '<top>'} is not closed"
            for key, value in node.items():
                walk(value, (*path, key))

    walk(DEFAULTS, ())


def test_every_component_block_has_the_same_common_keys():
    common = {"enabled", "gpus", "resources", "nodeSelector", "tolerations", "affinity", "podAnnotations",
              "podLabels", "priorityClassName", "extraEnv", "extraArgs"}
    for component in COMPONENTS:
        assert common <= set(DEFAULTS[component]), component
        assert common <= set(SCHEMA["properties"][component]["properties"]), component


BAD_VALUES = {
    "negative replicas": (["api.replicas=-1"], "/api/replicas"),
    "unknown pull policy": (["image.pullPolicy=Sometimes"], "/image/pullPolicy"),
    "misspelt top-level key": (["apii.replicas=2"], "apii"),
    "misspelt component key": (["api.replica=2"], "replica"),
    "log level": (["logLevel=VERBOSE"], "/logLevel"),
    "root user": (["podSecurityContext.runAsUser=0"], "/podSecurityContext/runAsUser"),
    "root allowed": (["podSecurityContext.runAsNonRoot=false"], "/podSecurityContext/runAsNonRoot"),
    "privilege escalation": (["securityContext.allowPrivilegeEscalation=true"],
                             "/securityContext/allowPrivilegeEscalation"),
    "external Milvus without uri": (["milvus.enabled=false"], "/externalMilvus/uri"),
    "external Milvus uri without scheme": (["milvus.enabled=false", "externalMilvus.uri=milvus:19530"],
                                           "/externalMilvus/uri"),
    "external PostgreSQL without host": (["postgresql.enabled=false"], "/externalPostgresql/host"),
    "plaintext database password": (["postgresql.enabled=false", "externalPostgresql.host=db",
                                     "externalPostgresql.password=hunter2"], "password"),
    "bad sslmode": (["postgresql.enabled=false", "externalPostgresql.host=db",
                     "externalPostgresql.sslmode=maybe"], "/externalPostgresql/sslmode"),
    "embedding without run id": (["embed.enabled=true", "embed.inputs[0]=/data/shards"], "/embed/runId"),
    "embedding without inputs": (["embed.enabled=true", "embed.runId=r1"], "/embed/inputs"),
    "zero shards": (["embed.shards=0"], "/embed/shards"),
    "web port out of range": (["web.port=70000"], "/web/port"),
    "misspelt web key": (["web.insecur=true"], "insecur"),
    "run id not a DNS label": (["embed.enabled=true", "embed.runId=Run_1", "embed.inputs[0]=/d"], "/embed/runId"),
    "similarity without encoder version": (["similarity.enabled=true", "similarity.runId=s1"],
                                           "/similarity/encoderVersion"),
    "training without GPUs": (["train.enabled=true", "train.runId=t1", "train.inputs[0]=/d", "train.gpus=0"],
                              "/train/gpus"),
    "training without inputs": (["train.enabled=true", "train.runId=t1"], "/train"),
    "negative GPUs": (["embed.gpus=-1"], "/embed/gpus"),
    "TLS without a secret": (["api.tls.enabled=true"], "/api/tls/existingSecret"),
    "both PDB bounds": (["api.podDisruptionBudget.minAvailable=1", "api.podDisruptionBudget.maxUnavailable=1"],
                        "/api/podDisruptionBudget"),
    "HPA without a metric": (["api.autoscaling.enabled=true", "api.autoscaling.targetCPUUtilizationPercentage=null"],
                             "/api/autoscaling"),
    "bad resource quantity": (["api.resources.limits.memory=lots"], "/api/resources/limits/memory"),
    "port out of range": (["api.port=70000"], "/api/port"),
    "relative mount path": (["persistence.mountPath=data"], "/persistence/mountPath"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_schema_rejects_bad_values(chart, case):
    sets, where = BAD_VALUES[case]
    with pytest.raises(ch.HelmError) as err:
        ch.render(chart, sets=tuple(sets))
    message = str(err.value)
    assert "don't meet the specifications of the schema" in message, message
    assert where in message, message


def test_schema_accepts_good_variants(chart):
    rendered = ch.render(chart, sets=(
        "api.podDisruptionBudget.minAvailable=50%",
        "api.autoscaling.enabled=true", "api.autoscaling.targetCPUUtilizationPercentage=null",
        "api.autoscaling.targetMemoryUtilizationPercentage=75",
        "api.extraEnv[0].name=GRPC_VERBOSITY", "api.extraEnv[0].value=debug",
        "api.resources.limits.memory=8Gi",
        "embed.enabled=true", "embed.runId=2026-11-26a", "embed.inputs[0]=/data/shards", "embed.shards=64",
        "embed.nodeSelector.pool=a100",
        "train.enabled=true", "train.runId=t1", "train.inputs[0]=/data/a.h5", "train.extraArgs={--epochs,100}",
    ))
    # --set turns 100 into a number; the chart passes every extra argument as text.
    train_args = ch.pod_spec(rendered.one("Job", "train"))["containers"][0]["args"]
    assert train_args[-2:] == ["--epochs", "100"]
    assert rendered.one("PodDisruptionBudget", "api")["spec"]["minAvailable"] == "50%"
    hpa = rendered.one("HorizontalPodAutoscaler", "api")
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["memory"]
    job = rendered.one("Job", "embed")
    assert job["spec"]["completions"] == 64
    # A component's own nodeSelector adds to the GPU node selector.
    assert ch.pod_spec(job)["nodeSelector"] == {"pool": "a100", "nvidia.com/gpu.present": "true"}


@pytest.mark.parametrize(("sets", "message"), [
    (("api.autoscaling.enabled=true", "api.autoscaling.minReplicas=4", "api.autoscaling.maxReplicas=3"),
     "must not exceed maxReplicas"),
])
def test_template_guards_catch_what_the_schema_cannot(chart, sets, message):
    with pytest.raises(ch.HelmError, match=message):
        ch.render(chart, sets=sets)
