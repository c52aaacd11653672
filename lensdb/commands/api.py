"""``lensdb serve`` (the gRPC API server) and ``lensdb query ...`` (a command-line client of it)."""

from __future__ import annotations

import argparse
import logging
import os

log = logging.getLogger("lensdb.api")

SERVE_HELP = """\
Serve the LensDB gRPC API (package lensdb.v1: Search, Catalogue, Probes, Labels, Cutouts) over the configured
database and Milvus, with the standard grpc.health.v1 health service (SERVING while the backends answer;
'lensdb.liveness' while the process runs), server reflection, and Prometheus metrics on --metrics-port.

Reads:  the relational database, the Milvus collection(s), the survey shards (cutouts), and the encoder
        checkpoint for queries by uploaded cutout (default <data-dir>/encoder/checkpoint.pt when present).
Auth:   a bearer token from $LENSDB_API_TOKEN (or --token-file, or [serve] token); clients send metadata
        'authorization: Bearer <token>'. Health checks never need it. No token = no authentication; an empty
        token file or variable is an error, never 'no authentication'.
TLS:    --tls-cert/--tls-key, or $LENSDB_TLS_CERT/$LENSDB_TLS_KEY (PEM files).
Prints one JSON line {"grpc_port": ..., "metrics_port": ...} once listening (port 0 = a free port).
SIGTERM/SIGINT stop it gracefully: health turns NOT_SERVING, calls in flight get --grace seconds.
Other tunables come from the config file: the server's (thread pool, message sizes, health checks) from [serve],
what requests may ask (page sizes, id counts, radii, the default encoder version) from [service]."""

QUERY_HELP = """\
Query a running LensDB server and print tables (or --json). The server is --target (default
$LENSDB_API_TARGET, else localhost:50051); the token comes from $LENSDB_API_TOKEN or --token-file; --tls-ca
switches TLS on. 'similar' and 'candidates' can also save their hits as a PNG grid of cutouts (--grid)."""


def register(sub) -> None:
    """Add ``serve`` and ``query`` to the lensdb parser."""
    from lensdb.api_grpc.config import ServeConfig

    d = ServeConfig()
    fmt = argparse.RawDescriptionHelpFormatter
    s = sub.add_parser("serve", help="run the gRPC API server", description=SERVE_HELP, formatter_class=fmt)
    s.add_argument("--host", help=f"interface to listen on (default {d.host}; 0.0.0.0 for all)")
    s.add_argument("--port", type=int, help=f"gRPC port (default {d.port}; 0 = any free port)")
    s.add_argument("--metrics-port", type=int, help=f"Prometheus /metrics port (default {d.metrics_port}; 0 = off)")
    s.add_argument("--metrics-host", help=f"interface of /metrics (default {d.metrics_host}: the metrics need no "
                   "token, so they stay on loopback unless asked; 0.0.0.0 for a Prometheus elsewhere)")
    s.add_argument("--encoder-version", metavar="V", help="vectors searched by default (default: the "
                   "checkpoint's version, else the only collection)")
    s.add_argument("--checkpoint", metavar="CKPT", help="encoder checkpoint for cutout queries")
    s.add_argument("--token-file", metavar="FILE", help="file holding the bearer token (else $LENSDB_API_TOKEN)")
    s.add_argument("--tls-cert", metavar="PEM", help="TLS certificate (else $LENSDB_TLS_CERT)")
    s.add_argument("--tls-key", metavar="PEM", help="TLS private key (else $LENSDB_TLS_KEY)")
    s.add_argument("--max-workers", type=int, help=f"RPC threads (default {d.max_workers})")
    s.add_argument("--max-concurrent-rpcs", type=int,
                   help=f"RPCs at once; more get RESOURCE_EXHAUSTED (default {d.max_concurrent_rpcs})")
    s.add_argument("--log-format", choices=("json", "text"), help=f"log lines (default {d.log_format})")
    s.add_argument("--grace", type=float, dest="grace_s", help=f"seconds for calls in flight on shutdown "
                   f"(default {d.grace_s:g})")
    s.set_defaults(func=run_serve)

    from lensdb.api_grpc import query

    q = sub.add_parser("query", help="query a running LensDB server", description=QUERY_HELP, formatter_class=fmt)
    q.add_argument("--target", default=os.environ.get("LENSDB_API_TARGET") or "localhost:50051",
                   help="server host:port (default $LENSDB_API_TARGET or localhost:50051)")
    q.add_argument("--token-file", metavar="FILE", help="file holding the bearer token (else $LENSDB_API_TOKEN)")
    q.add_argument("--tls-ca", metavar="PEM", help="CA certificate to trust; switches TLS on")
    q.add_argument("--server-name", help="TLS: name on the server certificate, when not the target's host")
    q.add_argument("--timeout", type=float, default=60.0, help="deadline of each call, seconds (default 60)")
    query.register(q.add_subparsers(dest="query_command", metavar="ACTION", required=True))


def run_serve(args: argparse.Namespace, settings) -> int:
    """Handle ``lensdb serve``: start, print the ports, wait for SIGTERM/SIGINT, stop gracefully."""
    import json
    import signal
    import threading

    from lensdb.api_grpc.config import ServeConfig
    from lensdb.api_grpc.logs import use_json
    from lensdb.api_grpc.server import LensDBServer
    from lensdb.api_grpc.tokens import read_token
    from lensdb.services.config import ServiceConfig

    service_config = ServiceConfig.from_settings(settings, encoder_version=args.encoder_version,
                                                 checkpoint=args.checkpoint)
    config = ServeConfig.from_settings(
        settings, host=args.host, port=args.port, metrics_port=args.metrics_port, metrics_host=args.metrics_host,
        token=read_token(args.token_file),
        tls_cert=args.tls_cert or os.environ.get("LENSDB_TLS_CERT") or None,
        tls_key=args.tls_key or os.environ.get("LENSDB_TLS_KEY") or None, max_workers=args.max_workers,
        max_concurrent_rpcs=args.max_concurrent_rpcs, log_format=args.log_format, grace_s=args.grace_s)
    if config.log_format == "json":
        use_json()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    server = LensDBServer(settings, config, service_config=service_config).start()
    print(json.dumps({"grpc_port": server.port, "metrics_port": server.metrics_port}), flush=True)
    try:
        while not stop.wait(1.0):  # a timed wait lets the signal handler run promptly
            pass
    finally:
        server.stop()
    return 0
