"""``lensdb web``: the inspection page, where people look at candidates and grade them."""

from __future__ import annotations

import argparse
import logging

from lensdb.core.config import Settings

log = logging.getLogger(__name__)

HELP = """\
Serve the inspection page: queues of candidates (a probe's ranking, objects similar to some you choose, a label
set, a random control sample) in pages of 5 x 20 stamps, graded with the keyboard (A clear lens, B probable,
N or X not a lens, S or space skip, arrows to move, U to undo, Enter to open one object with each band alone,
three stretches, zoom, its catalogue values, the Legacy Survey viewer and its nearest neighbours). Every grade is
saved at once under the grader's own session (press ? on any page for every key; /guide has a field guide and
training with feedback); log in with the same name anywhere to resume where you stopped. Several
graders grade the same set: the statistics page shows their consensus, agreement and calibration (blind known
lenses and non-lenses), and runs the next active-learning round.

Open http://127.0.0.1:8080 after 'lensdb web' (embedded defaults: the SQLite and Milvus Lite files of the data
folder; run 'lensdb demo' first for a survey to grade). A login token comes from $LENSDB_WEB_TOKEN or
--token-file; without one the page listens on loopback only (unless --insecure)."""


def register(sub) -> None:
    from lensdb.web.config import WebConfig

    d = WebConfig()
    p = sub.add_parser("web", help="serve the inspection page (grade candidates in a browser)", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", help=f"interface to listen on (default {d.host}; 0.0.0.0 for all, with a token)")
    p.add_argument("--port", type=int, help=f"HTTP port (default {d.port}; 0 = any free port)")
    p.add_argument("--token-file", metavar="FILE", help="file holding the login token (else $LENSDB_WEB_TOKEN)")
    p.add_argument("--insecure", action="store_true", default=None,
                   help="serve a non-loopback interface without a token (anyone who reaches it can grade)")
    p.add_argument("--encoder-version", metavar="V", help="vectors for similarity queues (default: the only one)")
    p.set_defaults(func=run_web)


def run_web(args: argparse.Namespace, settings: Settings) -> int:
    from lensdb.api_grpc.tokens import read_token
    from lensdb.services import Services
    from lensdb.services.config import ServiceConfig
    from lensdb.web.config import TOKEN_ENV, WebConfig
    from lensdb.web.server import WebServer

    config = WebConfig.from_settings(settings, host=args.host, port=args.port, insecure=args.insecure,
                                     token=read_token(args.token_file, TOKEN_ENV))
    service = ServiceConfig.from_settings(settings, encoder_version=args.encoder_version)
    with Services.open(settings, service) as services:
        from lensdb.catalog.db import require_current

        require_current(services.backends.engine)
        server = WebServer(services, config)
        print(f"inspection page: http://{'127.0.0.1' if config.host in ('0.0.0.0', '') else config.host}:"
              f"{config.port}  (Ctrl-C to stop)", flush=True)
        server.serve_forever()
    return 0
