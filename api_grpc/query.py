"""``lensdb query similar | cone | object | candidates | cutout | models | health``: the client on the command line.

Each action prints a table (or JSON with ``--json``); ``similar`` and ``candidates`` also save their hits as a
PNG grid of cutouts with ``--grid``. Imports of grpc and numpy happen when an action runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def register(cmds) -> None:
    """Add the query actions to the ``lensdb query`` sub-parser set."""
    s = cmds.add_parser("similar", help="objects similar to an object, a position, a vector or an image",
                        description="Similarity search. Give one query: --id, --ra/--dec (nearest source), "
                                    "--vector FILE.npy (raw representation) or --image FILE.npy ((3, S, S) g, r, z "
                                    "nanomaggies, embedded by the server's encoder).")
    query = s.add_mutually_exclusive_group(required=True)
    query.add_argument("--id", type=int, dest="object_id", help="query object id")
    query.add_argument("--ra", type=float, help="query position RA, degrees (with --dec)")
    query.add_argument("--vector", metavar="NPY", help="query representation (.npy)")
    query.add_argument("--image", metavar="NPY", help="query cutout (.npy, (3, S, S) nanomaggies)")
    query.add_argument("--positive", type=int, nargs="+", metavar="ID",
                       help="few-shot query: several objects to find more of (with --negative, --method)")
    s.add_argument("--negative", type=int, nargs="+", default=[], metavar="ID",
                   help="few-shot query: objects whose like to avoid (with --positive)")
    s.add_argument("--method", choices=("centroid", "probe"), default="",
                   help="few-shot query: centroid of the examples (default) or a query probe fitted on the fly")
    s.add_argument("--dec", type=float, help="query position Dec, degrees")
    s.add_argument("--match-radius", type=float, default=0.0, metavar="ARCSEC",
                   help="position queries: nearest source within this (default: the server's, 5 arcsec)")
    s.add_argument("-k", type=int, default=10, help="hits (default 10)")
    s.add_argument("--survey", action="append", default=[], help="south or north (repeatable)")
    s.add_argument("--mag", action="append", default=[], metavar="BAND:LO:HI",
                   help="magnitude range, e.g. r:17:20 or z::19 (repeatable)")
    s.add_argument("--window", type=float, metavar="MAG", help="|mag_r - query's mag_r| < MAG")
    s.add_argument("--cone", metavar="RA,DEC,ARCSEC", help="only hits in this cone")
    s.add_argument("--type", action="append", default=[], dest="types", help="Tractor type (repeatable)")
    s.add_argument("--exclude", action="append", default=[], type=int, metavar="ID", help="never return ID")
    s.add_argument("--exclude-labelled", action="store_true", help="drop objects that carry a label")
    s.add_argument("--label-set", help="with --exclude-labelled: only labels of this set")
    s.add_argument("--dedupe-px", type=float, metavar="PX", help="drop hits within PX pixels of a better one (96)")
    s.add_argument("--encoder-version", metavar="V", help="vectors to search (default: the server's)")
    s.add_argument("--include-query", action="store_true", help="keep the query object among the hits")
    _output(s, grid=True)
    s.set_defaults(func=run_similar)

    c = cmds.add_parser("cone", help="catalogue sources in a cone", description="Sources within RADIUS arcsec "
                        "of (RA, DEC) degrees, nearest first.")
    c.add_argument("ra", type=float)
    c.add_argument("dec", type=float)
    c.add_argument("radius", type=float, metavar="RADIUS_ARCSEC")
    c.add_argument("--limit", type=int, default=0, help="at most this many (default: the server's page size)")
    _output(c)
    c.set_defaults(func=run_cone)

    o = cmds.add_parser("object", help="catalogue rows of objects", description="Catalogue rows (and labels with "
                        "--labels) of the given object ids.")
    o.add_argument("ids", nargs="+", type=int, metavar="ID")
    o.add_argument("--labels", action="store_true", help="also list their labels")
    _output(o)
    o.set_defaults(func=run_object)

    k = cmds.add_parser("candidates", help="a model's top candidates", description="The best-ranked candidates of "
                        "a model's stored ranking (predictions), with filters.")
    k.add_argument("model", metavar="MODEL", help="model id or name")
    k.add_argument("-n", type=int, default=20, help="candidates (default 20)")
    k.add_argument("--survey", action="append", default=[], help="south or north (repeatable)")
    k.add_argument("--mag", action="append", default=[], metavar="BAND:LO:HI", help="magnitude range (repeatable)")
    k.add_argument("--type", action="append", default=[], dest="types", help="Tractor type (repeatable)")
    k.add_argument("--exclude-labelled", action="store_true", help="drop candidates already labelled or graded")
    k.add_argument("--min-score", type=float, help="only scores >= this")
    _output(k, grid=True)
    k.set_defaults(func=run_candidates)

    u = cmds.add_parser("cutout", help="save an object's cutout", description="Save the cutout of ID: a .png in "
                        "the Legacy Survey viewer's stretch, or a .npy of the (3, S, S) g, r, z nanomaggies.")
    u.add_argument("object_id", type=int, metavar="ID")
    u.add_argument("--out", required=True, metavar="FILE", help="output .png or .npy")
    u.add_argument("--crop", type=int, default=0, help="centre crop, pixels (default: as stored)")
    u.set_defaults(func=run_cutout)

    m = cmds.add_parser("models", help="list classifier models", description="Probes and fine-tuned models with "
                        "their metrics.")
    _output(m)
    m.set_defaults(func=run_models)

    a = cmds.add_parser("unusual", help="the most unusual objects (an anomaly ranking of the vectors)",
                        description="The K most unusual stored objects, most unusual first: cosine distance to the "
                                    "10th nearest neighbour (knn) or an isolation forest (iforest) on the vectors.")
    a.add_argument("-k", type=int, default=100, help="objects (default 100)")
    a.add_argument("--method", choices=("knn", "iforest"), default="knn", help="anomaly score (default knn)")
    a.add_argument("--neighbours", type=int, default=0, help="knn: which neighbour's distance (default 10)")
    a.add_argument("--exclude", action="append", default=[], type=int, metavar="ID", help="never return ID")
    a.add_argument("--encoder-version", metavar="V", help="vectors to rank (default: the server's)")
    _output(a, grid=True)
    a.set_defaults(func=run_unusual)

    h = cmds.add_parser("health", help="the server's health status", description="grpc.health.v1 status of the "
                        "server (service '' = all) and of each LensDB service; exit status 1 unless all SERVING.")
    h.set_defaults(func=run_health)


def _output(p, grid: bool = False) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", metavar="FILE", help="also write the rows to FILE, the format by its ending: .fits, "
                   ".vot (VOTable), .ecsv, .csv, .tsv, .parquet, or .reg (DS9 regions: a circle per object)")
    if grid:
        p.add_argument("--grid", metavar="PNG", help="also save the hits' cutouts as a PNG grid")
        p.add_argument("--crop", type=int, default=0, help="grid: centre crop, pixels (default: as stored)")


def _client(args):
    from lensdb.api_grpc.client import LensDBClient
    from lensdb.api_grpc.tokens import read_token

    ca = None
    if args.tls_ca:
        with open(args.tls_ca, "rb") as f:
            ca = f.read()
    return LensDBClient(args.target, token=read_token(args.token_file), root_certificates=ca,
                        server_name=args.server_name, timeout=args.timeout)


def _mag(specs: Sequence[str]) -> dict:
    from lensdb.core.errors import InvalidInput

    out = {}
    for spec in specs:
        parts = spec.split(":")
        if len(parts) != 3:
            raise InvalidInput(f"--mag {spec!r}: use BAND:LO:HI, e.g. r:17:20 or z::19")
        try:
            out[parts[0]] = tuple(float(v) if v else None for v in parts[1:])
        except ValueError:
            raise InvalidInput(f"--mag {spec!r}: bounds must be numbers") from None
    return out


def table(rows: list[dict], columns: Sequence[str], out=None) -> None:
    """Print ``rows`` as an aligned table of ``columns`` (floats with 6 significant digits, None as '-')."""
    out = out or sys.stdout

    def cell(v) -> str:
        return "-" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _emit(args, rows: list[dict], columns: Sequence[str]) -> None:
    from lensdb.core.exports import export_rows, viewer_url

    for row in rows:  # every listed object links to the Legacy Survey viewer
        if row.get("ra") is not None and row.get("dec") is not None:
            row["viewer"] = viewer_url(row["ra"], row["dec"])
    columns = (*columns, "viewer")
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
    else:
        table(rows, columns)
    if getattr(args, "out", None):
        path = export_rows(rows, args.out, columns=[c for c in columns if not rows or c in rows[0]])
        print(f"# wrote {len(rows)} row(s) to {path}", file=sys.stderr)


def run_similar(args: argparse.Namespace, settings) -> int:
    import numpy as np

    from lensdb.api_grpc.client import Filters
    from lensdb.core.errors import InvalidInput

    if (args.ra is None) != (args.dec is None):
        raise InvalidInput("give both --ra and --dec")
    cone = None
    if args.cone:
        try:
            cone = tuple(float(v) for v in args.cone.split(","))
        except ValueError:
            cone = ()
        if len(cone) != 3:
            raise InvalidInput(f"--cone {args.cone!r}: use RA,DEC,ARCSEC")
    flt = Filters(surveys=args.survey, mag=_mag(args.mag), window=args.window, cone=cone, types=args.types,
                  exclude=args.exclude, exclude_labelled=args.exclude_labelled, label_set=args.label_set,
                  dedupe_px=args.dedupe_px)
    if (args.negative or args.method) and not args.positive:
        raise InvalidInput("--negative and --method go with --positive (a few-shot query)")
    query = {"object_id": args.object_id, "ra": args.ra, "dec": args.dec, "match_radius_arcsec": args.match_radius}
    if args.positive:
        query.update(positives=args.positive, negatives=args.negative, method=args.method)
    if args.vector:
        query["vector"] = np.load(args.vector)
    if args.image:
        query["image"] = np.load(args.image)
    with _client(args) as api:
        res = api.similar(k=args.k, filters=flt, encoder_version=args.encoder_version,
                          include_query=args.include_query, **query)
        rows = [h.__dict__ for h in res.hits]
        if not args.json:
            q = (f"object {res.query_object_id}" if res.query_object_id is not None
                 else f"{len(args.positive)} example(s), not like {len(args.negative)}" if args.positive
                 else "the given query")
            sep = f" ({res.match_separation_arcsec:.2f} arcsec from the position)" \
                if res.match_separation_arcsec is not None else ""
            print(f"# {len(rows)} objects similar to {q}{sep}; encoder {res.encoder_version}")
        _emit(args, rows, ("rank", "object_id", "similarity", "ra", "dec", "survey", "mag_g", "mag_r", "mag_z",
                           "source_type"))
        if args.grid and res.hits:
            path = api.save_grid(res.ids, args.grid, crop=args.crop,
                                 titles=[f"{h.rank}: {h.similarity:.3f}" for h in res.hits])
            print(f"# grid: {path}", file=sys.stderr)
    return 0


def run_unusual(args: argparse.Namespace, settings) -> int:
    with _client(args) as api:
        res = api.unusual(args.k, method=args.method, neighbours=args.neighbours,
                          encoder_version=args.encoder_version, exclude_ids=args.exclude)
        rows = [{"rank": h.rank, "score": h.score, "object_id": h.object.object_id, "ra": h.object.ra,
                 "dec": h.object.dec, "survey": h.object.survey,
                 **{b: getattr(h.object, b) if h.object.HasField(b) else None for b in ("mag_g", "mag_r", "mag_z")},
                 "source_type": h.object.source_type} for h in res.hits]
        if not args.json:
            print(f"# {len(rows)} most unusual objects ({res.method}); encoder {res.encoder_version}")
        _emit(args, rows, ("rank", "object_id", "score", "ra", "dec", "survey", "mag_g", "mag_r", "mag_z",
                           "source_type"))
        if args.grid and rows:
            path = api.save_grid([r["object_id"] for r in rows], args.grid, crop=args.crop,
                                 titles=[f"{r['rank']}: {r['score']:.3f}" for r in rows])
            print(f"# grid: {path}", file=sys.stderr)
    return 0


def _object_row(o) -> dict:
    def opt(name):
        return getattr(o, name) if o.HasField(name) else None

    return {"object_id": o.object_id, "survey": o.survey, "ra": o.ra, "dec": o.dec, "mag_g": opt("mag_g"),
            "mag_r": opt("mag_r"), "mag_z": opt("mag_z"), "type": o.source_type, "z_phot": opt("z_phot_median"),
            "shard": o.shard, "row": o.row,
            "labels": ",".join(f"{lb.label_set}:{lb.label_class}{':' + lb.grade if lb.grade else ''}"
                               for lb in o.labels)}


def run_cone(args: argparse.Namespace, settings) -> int:
    with _client(args) as api:
        res = api.cone(args.ra, args.dec, args.radius, limit=args.limit)
    rows = [{"sep_arcsec": m.separation_arcsec, **_object_row(m.object)} for m in res.matches]
    _emit(args, rows, ("sep_arcsec", "object_id", "survey", "ra", "dec", "mag_g", "mag_r", "mag_z", "type"))
    if res.truncated and not args.json:
        print(f"# more sources lie within {args.radius:g} arcsec; raise --limit", file=sys.stderr)
    return 0


def run_object(args: argparse.Namespace, settings) -> int:
    with _client(args) as api:
        res = api.objects(args.ids, with_labels=args.labels)
    rows = [_object_row(o) for o in res.objects]
    columns = ["object_id", "survey", "ra", "dec", "mag_g", "mag_r", "mag_z", "type", "z_phot", "shard", "row"]
    _emit(args, rows, columns + (["labels"] if args.labels else []))
    if res.missing:
        print(f"# not in the catalogue: {', '.join(map(str, res.missing))}", file=sys.stderr)
    return 0 if not res.missing else 1


def run_candidates(args: argparse.Namespace, settings) -> int:
    with _client(args) as api:
        cands = list(api.iter_candidates(args.model, args.n, surveys=args.survey, mag=_mag(args.mag),
                                         types=args.types, exclude_labelled=args.exclude_labelled,
                                         min_score=args.min_score))
        rows = [{"rank": c.rank, "object_id": c.object.object_id, "score": c.score, "ra": c.object.ra,
                 "dec": c.object.dec, "survey": c.object.survey,
                 "mag_r": c.object.mag_r if c.object.HasField("mag_r") else None,
                 "labels": ",".join(c.label_classes), "grade": c.grade or None} for c in cands]
        _emit(args, rows, ("rank", "object_id", "score", "ra", "dec", "survey", "mag_r", "labels", "grade"))
        if args.grid and rows:
            path = api.save_grid([r["object_id"] for r in rows], args.grid, crop=args.crop,
                                 titles=[f"{r['rank']}: {r['score']:.3f}" for r in rows])
            print(f"# grid: {path}", file=sys.stderr)
    return 0


def run_cutout(args: argparse.Namespace, settings) -> int:
    from pathlib import Path

    import numpy as np

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _client(args) as api:
        if out.suffix.lower() == ".npy":
            np.save(out, api.cutout(args.object_id, crop=args.crop))
        else:
            out.write_bytes(api.cutout_png(args.object_id, crop=args.crop))
    print(out)
    return 0


def run_models(args: argparse.Namespace, settings) -> int:
    from google.protobuf.json_format import MessageToDict

    with _client(args) as api:
        models = api.models()
    rows = []
    for m in models:
        metrics = MessageToDict(m.metrics)
        tp = f"{metrics['val_tp']:g}@{metrics.get('top_n', 0):g}" if "val_tp" in metrics else None
        rows.append({"id": m.id, "name": m.name, "kind": m.kind, "encoder_version": m.encoder_version,
                     "tp_at_n": tp, "predictions": m.n_predictions, "metrics": metrics if args.json else None})
    _emit(args, rows, ("id", "name", "kind", "encoder_version", "tp_at_n", "predictions"))
    return 0


def run_health(args: argparse.Namespace, settings) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from lensdb.api_grpc.servicers import SERVICE_NAMES

    with _client(args) as api:
        stub = health_pb2_grpc.HealthStub(api.channel)
        rows = []
        for name in ("", *SERVICE_NAMES):
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=args.timeout).status
                text = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
            except grpc.RpcError as exc:
                text = f"error {exc.code().name}"
            rows.append({"service": name or "(all)", "status": text})
    table(rows, ("service", "status"))
    return 0 if all(r["status"] == "SERVING" for r in rows) else 1
