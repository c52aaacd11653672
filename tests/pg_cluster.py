"""A private PostgreSQL cluster for the fault tests: created with initdb in a temporary folder, on a free loopback
port, started and stopped (or killed) with pg_ctl, without touching the shared server on 127.0.0.1:5432.

PostgreSQL refuses to run as root: as root the cluster belongs to the ``postgres`` user (``runuser``); as anyone
else it belongs to that user. The binaries are those of the newest /usr/lib/postgresql/*/bin (the same
installation, q3c included, as the shared server's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from lite_server import free_port


def pg_bin() -> Path:
    """The newest PostgreSQL's bin folder."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise FileNotFoundError("no /usr/lib/postgresql/*/bin/initdb: install PostgreSQL (.ci/run does)")
    return found[-1].parent


class PrivatePostgres:
    """A PostgreSQL cluster of its own (trust auth, user ``postgres``).

    Attributes:
        port: its loopback port; admin_url: SQLAlchemy URL of its ``postgres`` database.
    """

    def __init__(self):
        self.bin = pg_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="lensdb-pg-"))  # under /tmp: reachable by the postgres user
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(self.bin / tool), *args]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def start(self) -> PrivatePostgres:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", opts, "-w", "start")
        return self

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server; ``immediate`` aborts every backend without a clean shutdown (a crash, as a kill)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
