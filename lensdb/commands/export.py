"""``lensdb export``: a model's candidates out in the field's formats (FITS, VOTable, ECSV, CSV, parquet, DS9)."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Write a scored model's top candidates (from the 'candidates' view: rank, score, object_id, survey, ra, dec,
mag_g/r/z, source_type, known_lens) with a Legacy Survey viewer link per object, to one or more files. The
format follows each file's ending: .fits (FITS table), .vot (VOTable), .ecsv, .csv, .tsv, .parquet, or .reg (a
DS9 region file, one circle per candidate labelled 'rank: object_id', to overlay on your images). Positions
are ICRS degrees, magnitudes AB; units are written where the format keeps them. Reads only the catalogue.

Score the model first ('lensdb probe score MODEL'). Search results export the same way from 'lensdb query
similar ... --out FILE'.
"""


def register(sub) -> None:
    p = sub.add_parser("export", help="export a model's candidates to FITS/VOTable/ECSV/CSV/parquet/DS9",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="model id or name")
    p.add_argument("--out", "-o", action="append", required=True, metavar="FILE",
                   help="output file (repeatable); the format by its ending")
    p.add_argument("-n", type=int, default=1000, help="candidates, best first (default 1000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    from lensdb.catalog import queries
    from lensdb.catalog.db import make_engine, require_current
    from lensdb.core.errors import InvalidInput, NotFound
    from lensdb.core.exports import export_rows, viewer_url

    if args.n < 1:
        raise InvalidInput(f"-n must be at least 1, got {args.n}")
    engine = make_engine(settings.database_url)
    try:
        require_current(engine)
        models = queries.models_matching(engine, args.model)
        if not models:
            raise NotFound(f"no model {args.model!r}; 'lensdb probe list' shows the models")
        model = models[0]
        rows = queries.candidate_rows(engine, model["id"], args.n)
    finally:
        engine.dispose()
    if not rows:
        raise InvalidInput(f"model {model['name']!r} has no predictions; score it first ('lensdb probe score')")
    for r in rows:
        r["viewer"] = viewer_url(r["ra"], r["dec"])
    for out in args.out:
        path = export_rows(rows, out)
        print(f"wrote {len(rows)} candidate(s) of {model['name']} to {path}")
    return 0
