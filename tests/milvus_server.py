"""The real Milvus standalone server (PyPI ``milvus`` 2.3.5: the C++ engine, the Go coordinators, embedded etcd and
local storage) as a subprocess for the tests and the benchmarks.

``milvus-server`` binds fixed default ports (19530 for the proxy, 2379/2380 for its embedded etcd, 53100... for the
coordinators), so two runs on one machine collide. :class:`MilvusServer` gives every port explicitly, on free
loopback ports chosen once, so that a restart comes back at the same address with the same data folder:

- the proxy, root/query/index/data coordinator and node ports, through ``milvus-server``'s flags;
- the embedded etcd's client and peer ports, through an etcd config file named by ``ETCD_CONFIG_PATH`` (Milvus
  reads its settings from the environment too): the ``--etcd-port`` flag alone only tells Milvus where to connect,
  while the embedded etcd itself would still listen on 2379 and 2380;
- the metrics/health port is probed by ``milvus-server`` itself upwards from 9091 (it cannot be set).

The server runs in its own process group, which :meth:`MilvusServer.kill` ends as a whole (``milvus-server`` is a
Python wrapper around the ``milvus`` binary).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from lite_server import free_port

#: ``milvus-server`` flags of the ports it listens on (besides the proxy's ``--proxy-port``).
PORT_FLAGS = ("--etcd-port", "--root-coord-port", "--proxy-internal-port", "--query-coord-port",
              "--query-node-port", "--index-coord-port", "--index-node-port", "--data-coord-port",
              "--data-node-port")


def milvus_server_executable() -> str:
    """``milvus-server`` of this interpreter's environment (installed by the test extra)."""
    exe = shutil.which("milvus-server", path=str(Path(sys.executable).parent)) or shutil.which("milvus-server")
    if not exe:
        raise FileNotFoundError("milvus-server not found: pip install -e '.[test]' installs it (PyPI 'milvus')")
    return exe


#: The readiness probe: list the collections with a fresh client (exit status 0 when the server answers).
_PROBE = """
import logging, sys
logging.disable(logging.CRITICAL)
from pymilvus import MilvusClient
client = MilvusClient(uri=sys.argv[1], timeout=5)
client.list_collections(timeout=5)
"""


class MilvusServer:
    """A real Milvus standalone on free loopback ports, with its own data folder.

    Args:
        time_tick_ms: the coordinators' and proxy's time-tick interval (Milvus default 200 ms). A Strong-consistency
            request waits for the next tick, so with the default every search and query of the tests would wait
            about 200 ms (measured: 276 ms per Strong search against 2 ms Bounded); 50 ms keeps the same semantics
            at a quarter of the wait. ``None`` keeps Milvus's default (the benchmark measures the server as shipped).

    Attributes:
        data_dir: the server's data (etcd, segments, logs); kept across :meth:`kill` / :meth:`start`.
        port: the proxy's port (what clients connect to); uri: ``http://127.0.0.1:<port>``.
    """

    def __init__(self, data_dir: Path, time_tick_ms: int | None = 50):
        self.data_dir = Path(data_dir)
        self.time_tick_ms = time_tick_ms
        self.port = free_port()
        self.ports = {flag: free_port() for flag in PORT_FLAGS}
        self.etcd_peer_port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def _etcd_config(self) -> Path:
        client = f"http://127.0.0.1:{self.ports['--etcd-port']}"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        path = self.data_dir.parent / f"{self.data_dir.name}-etcd.yaml"
        path.write_text(f"name: lensdb-test\nlisten-client-urls: {client}\nadvertise-client-urls: {client}\n"
                        f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
                        f"initial-cluster: lensdb-test={peer}\n")
        return path

    def start(self, timeout: float = 180.0) -> MilvusServer:
        """Start (or restart) the server and wait until it lists collections; raises RuntimeError otherwise.

        The first start goes through ``milvus-server``, which unpacks the binary and writes ``configs/milvus.yaml``
        with our ports. A restart runs that binary directly on the same configuration, as the wrapper does: the
        wrapper test-binds each port first without SO_REUSEADDR, so while the killed server's connections linger
        in TIME_WAIT (up to a minute) it would silently move the proxy to another port.
        """
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, ETCD_CONFIG_PATH=str(self._etcd_config()))
        if self.time_tick_ms is not None:
            tick = str(self.time_tick_ms)
            env.update(PROXY_TIMETICKINTERVAL=tick, ROOTCOORD_TIMETICKINTERVAL=tick, COMMON_TIMETICKINTERVAL=tick)
        binary = self.data_dir / "bin" / "milvus"
        if (self.data_dir / "configs" / "milvus.yaml").is_file() and binary.is_file():
            argv = [str(binary), "run", "standalone"]
            env.update(DEPLOY_MODE="STANDALONE", METRICS_PORT=str(free_port()),
                       MILVUS_RUN_DIR=str(self.data_dir / "run"),
                       LD_LIBRARY_PATH=":".join([str(binary.parent), os.environ.get("LD_LIBRARY_PATH", "")]))
        else:
            argv = [milvus_server_executable(), "--data", str(self.data_dir), "--proxy-port", str(self.port)]
            for flag, port in self.ports.items():
                argv += [flag, str(port)]
        out = open(self.data_dir.parent / f"{self.data_dir.name}-server.log", "ab")  # noqa: SIM115 - kept by the child
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                     cwd=self.data_dir)
        out.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Poll with a fresh client in a fresh process each time, so that no connection state of this process (gRPC
        sub-channels, pymilvus's connection registry) can make a restarted server look down."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"milvus-server exited with status {self.proc.returncode}; see {self.log_dir}")
            probe = subprocess.run([sys.executable, "-c", _PROBE, self.uri], capture_output=True, text=True,
                                   timeout=60)
            if probe.returncode == 0:
                return
            last = (probe.stderr.strip().splitlines() or ["?"])[-1][:200]
            time.sleep(1.0)
        self.kill()
        raise RuntimeError(f"Milvus at {self.uri} did not answer within {timeout:g} s ({last}); see {self.log_dir}")

    def kill(self, sig: int = signal.SIGKILL, grace: float = 5.0) -> None:
        """End the whole process group (SIGKILL by default: a crash, nothing flushed) and wait for it; after
        ``grace`` seconds a SIGTERM becomes a SIGKILL (Milvus's orderly stop can take half a minute)."""
        if self.proc is None:
            return
        for s in (sig, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, s)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace if s != signal.SIGKILL else 60)
                break
            except subprocess.TimeoutExpired:
                continue
        # the wrapper may exit before the milvus binary of its group: make sure nothing of the group is left
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None
        self._wait_ports_free()

    def stop(self) -> None:
        """SIGTERM to the group, then SIGKILL after 5 s."""
        self.kill(signal.SIGTERM)

    def _wait_ports_free(self, timeout: float = 30.0) -> None:
        """Wait until the proxy port can be bound again, so that a restart on the same ports succeeds."""
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", self.port))
                    return
                except OSError:
                    time.sleep(0.2)

    def remove(self) -> None:
        """Stop the server and delete its data folder (about 0.5 GB: the unpacked binary, etcd and segments)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> MilvusServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill(signal.SIGTERM)
