"""A private PostgreSQL cluster for the fault tests: created with initdb in a temporary folder, on a free loopback
port, started and stopped (or killed) with pg_ctl, without touching the shared server on 127.0.0.1:5432.

PostgreSQL refuses to run as root: as root the cluster belongs to the ``postgres`` user (``runuser``); as anyone
else it belongs to that user. The binaries are those of the newest /usr/lib/postgresql/*/bin (the same
installation, q3c included, as the shared server's).

``PrivatePostgres(without=("q3c",))`` is the same PostgreSQL as a stock server that lacks those extensions (Debian's
and the official images, the Bitnami image the chart bundles, managed services): the binaries are hard-linked (or
copied) into a private installation tree whose ``share/extension`` folder links every file of the real one except the
named extensions'. PostgreSQL finds its share folder relative to its own binary, so that server, ``initdb`` included,
offers every extension but those (``pg_available_extensions`` does not list them).
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


def _installation_without(real_bin: Path, target: Path, without: tuple[str, ...]) -> Path:
    """A private PostgreSQL installation tree under ``target`` that offers no extension named in ``without``.

    Debian's layout: ``/usr/lib/postgresql/N/{bin,lib}`` and ``/usr/share/postgresql/N``. PostgreSQL resolves its
    share and library folders relative to the real path of its binary, so the binaries are hard-linked (copied when
    /tmp is another file system) into ``target/lib/postgresql/N/bin``; ``lib`` links to the real one (a library
    without its control file is never offered), and ``share`` links every entry but ``extension``, which links every
    file except the named extensions' control and script files. Returns the new bin folder.
    """
    major = real_bin.parent.name
    real_share = Path("/usr/share/postgresql") / major
    new_bin = target / "lib" / "postgresql" / major / "bin"
    new_bin.mkdir(parents=True)
    for tool in real_bin.iterdir():
        try:
            os.link(tool.resolve(), new_bin / tool.name)
        except OSError:
            shutil.copy2(tool.resolve(), new_bin / tool.name)
    (new_bin.parent / "lib").symlink_to(real_bin.parent / "lib")
    share = target / "share" / "postgresql" / major
    share.mkdir(parents=True)
    for entry in real_share.iterdir():
        if entry.name != "extension":
            (share / entry.name).symlink_to(entry)
    (share / "extension").mkdir()
    for entry in (real_share / "extension").iterdir():
        if not any(entry.name == f"{name}.control" or entry.name.startswith(f"{name}--") for name in without):
            (share / "extension" / entry.name).symlink_to(entry)
    return new_bin


class PrivatePostgres:
    """A PostgreSQL cluster of its own (trust auth, user ``postgres``).

    Attributes:
        port: its loopback port; admin_url: SQLAlchemy URL of its ``postgres`` database.
    """

    def __init__(self, without: tuple[str, ...] = ()):
        self.bin = pg_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="lensdb-pg-"))  # under /tmp: reachable by the postgres user
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        if without:
            self.bin = _installation_without(self.bin, self.root / "install", without)
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
