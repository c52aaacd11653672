"""``helm install`` with the chart's defaults: the bundled Bitnami PostgreSQL has no q3c extension, and the migration
Job must still succeed. The chart is rendered with the real subcharts (../shared/charts); the migration Job's own
command and environment then run against a PostgreSQL without q3c that the test starts (tests/pg_cluster.py), as
the database user the bundled chart creates (not a superuser)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import chart_helpers as ch
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DOCKERFILE = ch.REPO / "deploy" / "docker" / "Dockerfile"


def _entrypoint() -> list[str]:
    """The image's ENTRYPOINT (exec form), which a container without ``command`` runs."""
    m = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", DOCKERFILE.read_text(), flags=re.M)
    assert m, "the Dockerfile has an exec-form ENTRYPOINT"
    return json.loads(m.group(1))


def test_migration_job_with_the_defaults_succeeds_on_postgresql_without_q3c(real_chart, pg_without_q3c, tmp_path):
    rendered = ch.render(real_chart)  # the chart's defaults: bundled Milvus and Bitnami PostgreSQL
    pg = [w for w in rendered.workloads() if w["kind"] == "StatefulSet"
          and any("bitnami/postgresql" in c["image"] for c in ch.containers(w))]
    assert pg, "the defaults bundle Bitnami's PostgreSQL image (which ships no q3c)"
    jobs = [w for w in rendered.workloads() if w["kind"] == "Job" and w["metadata"]["name"].endswith("-migrations")]
    assert len(jobs) == 1
    (container,) = ch.containers(jobs[0])
    assert "command" not in container or container["command"] is None
    argv = [*_entrypoint(), *container["args"]]
    assert argv[0] == "lensdb"

    env = {name: e.get("value") for name, e in ch.env_of(container).items()}
    url = make_url(env["LENSDB_DATABASE_URL"])
    # The bundled chart's database and its owner (a plain user, as Bitnami creates it), on the test's server.
    admin = create_engine(pg_without_q3c.admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{url.username}" LOGIN'))
            conn.execute(text(f'CREATE DATABASE "{url.database}" OWNER "{url.username}"'))
            assert conn.execute(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'q3c'")).scalar() == 0
    finally:
        admin.dispose()
    env["LENSDB_DATABASE_URL"] = url.set(host="127.0.0.1", port=pg_without_q3c.port).render_as_string(
        hide_password=False)
    env["PGPASSWORD"] = "from-the-secret"  # trust auth on the test server: any password
    env["HOME"] = str(tmp_path)
    env["LENSDB_DATA_DIR"] = str(tmp_path / "data")
    env = {k: v for k, v in env.items() if v is not None}
    run_env = {"PATH": os.environ["PATH"], **env}
    lensdb = str(Path(sys.executable).with_name("lensdb"))
    proc = subprocess.run([lensdb, *argv[1:]], env=run_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    notices = [line for line in proc.stderr.splitlines() if "q3c" in line]
    assert len(notices) == 1 and "skipped" in notices[0], proc.stderr
    assert "Traceback" not in proc.stderr

    # The catalogue is at head and cone search works through the portable index.
    proc = subprocess.run([lensdb, "db", "current"], env=run_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "up to date" in proc.stdout, proc.stdout + proc.stderr
    engine = create_engine(env["LENSDB_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_sources_sky_pixel'")
                                ).scalar() == 1
            assert conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'q3c'")).scalar() == 0
    finally:
        engine.dispose()
