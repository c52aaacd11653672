"""Dependency wiring: what the chart declares, the values it hands the Milvus and PostgreSQL subcharts, and that
LensDB connects to the Services those charts create.

The upstream charts are not downloadable here, so each is stood in for by a probe chart of the same name that
only reports the values it receives (chart_helpers). The Service names are the upstream charts' contract:
zilliztech/milvus-helm names its client Service (standalone pod or cluster proxy) with ``milvus.fullname`` on
port ``service.port`` (19530); Bitnami's postgresql names its primary Service and its generated Secret with
``common.names.fullname`` on port 5432 (``<fullname>-primary`` in replication mode). Both fullnames follow Helm's
convention, so the expected names below are written out by hand for each naming case.
"""

from __future__ import annotations

import chart_helpers as ch
import pytest
import yaml


def _app_envs(rendered: ch.Rendered) -> list[dict]:
    envs = [ch.env_of(c) for w in rendered.workloads() for c in ch.containers(w)]
    assert envs
    return envs


def test_chart_declares_milvus_and_postgresql_as_optional_dependencies():
    meta = ch.chart_metadata()
    assert meta["apiVersion"] == "v2"
    deps = {d["name"]: d for d in meta["dependencies"]}
    assert set(deps) == {"milvus", "postgresql"}
    assert deps["milvus"]["repository"] == "https://zilliztech.github.io/milvus-helm/"
    assert deps["milvus"]["condition"] == "milvus.enabled"
    assert deps["postgresql"]["repository"] == "oci://registry-1.docker.io/bitnamicharts"
    assert deps["postgresql"]["condition"] == "postgresql.enabled"
    defaults = yaml.safe_load((ch.CHART_DIR / "values.yaml").read_text())
    for dep in deps.values():
        block, key = dep["condition"].split(".")
        assert isinstance(defaults[block][key], bool)
    assert {"externalMilvus", "externalPostgresql"} <= set(defaults)


def test_helm_refuses_missing_dependency_charts_so_the_tests_use_probes(helm):
    """Why the probes exist: helm will not render a chart whose declared dependencies are not in charts/,
    even disabled ones. (Where `helm dependency build` has vendored the real charts, they must render.)"""
    vendored = sorted((ch.CHART_DIR / "charts").glob("*.tgz")) if (ch.CHART_DIR / "charts").is_dir() else []
    proc = ch.run_helm("template", "lensdb", str(ch.CHART_DIR), "-f", str(ch.CI_DIR / "external-values.yaml"))
    if vendored:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode != 0
        assert "missing in charts/ directory: milvus, postgresql" in proc.stderr


@pytest.mark.parametrize(("values", "cluster"), [("standalone-values.yaml", False), ("cluster-values.yaml", True)])
def test_values_passed_to_the_milvus_chart(render_ci, values, cluster):
    milvus = render_ci(values).probe_values("milvus")
    assert milvus is not None, "milvus.enabled: the Milvus chart must render"
    assert milvus["cluster"]["enabled"] is cluster
    if cluster:
        assert milvus["etcd"]["replicaCount"] == 3 and milvus["minio"]["mode"] == "distributed"
        assert milvus["pulsarv3"]["enabled"] is True
    else:  # the official standalone recipe: one etcd, standalone MinIO, no Pulsar
        assert milvus["etcd"]["replicaCount"] == 1 and milvus["minio"]["mode"] == "standalone"
        assert milvus["pulsarv3"]["enabled"] is False


@pytest.mark.parametrize("values", ["standalone-values.yaml", "cluster-values.yaml"])
def test_values_passed_to_the_postgresql_chart(render_ci, values):
    pg = render_ci(values).probe_values("postgresql")
    assert pg is not None
    assert pg["auth"]["existingSecret"] == "lensdb-postgresql-credentials"
    assert pg["auth"]["username"] == "lensdb" and pg["auth"]["database"] == "lensdb"
    assert pg["auth"]["secretKeys"]["userPasswordKey"] == "password"
    assert pg["architecture"] == "standalone"
    # The app reads the password from the same Secret and key the PostgreSQL chart uses.
    for env in _app_envs(render_ci(values)):
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "lensdb-postgresql-credentials", "key": "password"}


def test_external_setup_renders_no_dependency_and_connects_to_the_given_servers(render_ci):
    rendered = render_ci("external-values.yaml")
    assert rendered.probe_values("milvus") is None and rendered.probe_values("postgresql") is None
    for env in _app_envs(rendered):
        assert env["LENSDB_MILVUS_URI"]["value"] == "https://milvus.vectors.svc.cluster.local:19530"
        assert env["LENSDB_MILVUS_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "lensdb-milvus-token",
                                                                           "key": "token"}
        assert env["LENSDB_DATABASE_URL"]["value"] == (
            "postgresql+psycopg2://lensdb_app@postgres.databases.svc.cluster.local:5432/lensdb?sslmode=require")
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "lensdb-db-credentials",
                                                                  "key": "password"}


NAMING_CASES = {
    # release, extra --set values, Milvus host, PostgreSQL host
    "plain release": ("lens", (), "lens-milvus", "lens-postgresql"),
    "release named like the charts": ("milvus-postgresql", (), "milvus-postgresql", "milvus-postgresql"),
    "fullnameOverride": ("lens", ("milvus.fullnameOverride=vectors", "postgresql.fullnameOverride=catalogue"),
                         "vectors", "catalogue"),
    "nameOverride": ("lens", ("milvus.nameOverride=mv", "postgresql.nameOverride=pg"), "lens-mv", "lens-pg"),
    "replication": ("lens", ("postgresql.architecture=replication",), "lens-milvus", "lens-postgresql-primary"),
}


@pytest.mark.parametrize("case", sorted(NAMING_CASES))
def test_app_connects_to_the_service_names_the_subcharts_create(chart, case):
    release, sets, milvus_host, pg_host = NAMING_CASES[case]
    rendered = ch.render(chart, release=release, sets=sets)
    assert rendered.probe_values("milvus") is not None and rendered.probe_values("postgresql") is not None
    for env in _app_envs(rendered):
        assert env["LENSDB_MILVUS_URI"]["value"] == f"http://{milvus_host}:19530"
        assert "LENSDB_MILVUS_TOKEN" not in env
        assert env["LENSDB_DATABASE_URL"]["value"] == f"postgresql+psycopg2://lensdb@{pg_host}:5432/lensdb"
        # No existingSecret: the Secret the PostgreSQL chart generates, named like its fullname.
        secret = env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]
        assert secret == {"name": pg_host.removesuffix("-primary"), "key": "password"}


def test_custom_service_ports_are_followed(chart):
    rendered = ch.render(chart, sets=("milvus.service.port=29530", "postgresql.primary.service.ports.postgresql=6432"))
    env = _app_envs(rendered)[0]
    assert env["LENSDB_MILVUS_URI"]["value"] == "http://lensdb-milvus:29530"
    assert env["LENSDB_DATABASE_URL"]["value"] == "postgresql+psycopg2://lensdb@lensdb-postgresql:6432/lensdb"
    assert rendered.probe_values("milvus")["service"]["port"] == 29530


def test_bundled_postgres_superuser_uses_the_admin_password_key(chart):
    rendered = ch.render(chart, sets=("postgresql.auth.username=", "postgresql.auth.existingSecret=pg-admin"))
    env = _app_envs(rendered)[0]
    assert env["LENSDB_DATABASE_URL"]["value"] == "postgresql+psycopg2://postgres@lensdb-postgresql:5432/lensdb"
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "pg-admin", "key": "postgres-password"}


def test_external_postgres_without_a_secret_sets_no_password(chart):
    rendered = ch.render(chart, sets=("postgresql.enabled=false", "externalPostgresql.host=db.internal"))
    for env in _app_envs(rendered):
        assert "PGPASSWORD" not in env
        assert env["LENSDB_DATABASE_URL"]["value"] == "postgresql+psycopg2://lensdb@db.internal:5432/lensdb"
    assert rendered.probe_values("postgresql") is None and rendered.probe_values("milvus") is not None


def test_database_url_is_one_lensdb_accepts(render_ci):
    """The rendered settings go through LensDB's own configuration loader and SQLAlchemy's URL parser."""
    from sqlalchemy.engine import make_url

    from lensdb.core.config import load_settings

    for values in ch.CI_VALUES:
        env = {k: v["value"] for k, v in _app_envs(render_ci(values))[0].items() if "value" in v}
        settings = load_settings(env={k: v for k, v in env.items() if k != "LENSDB_CONFIG"})
        url = make_url(settings.database_url)
        assert url.drivername == "postgresql+psycopg2" and url.password is None and url.port in (5432,)
        assert settings.milvus_uri == env["LENSDB_MILVUS_URI"]
        assert str(settings.data_dir) == env["LENSDB_DATA_DIR"]
