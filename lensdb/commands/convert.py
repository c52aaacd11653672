"""``lensdb convert``: a survey team's FITS cutouts or numpy arrays, plus a catalogue table, into LensDB shards."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

DESCRIPTION = """\
Convert your own survey into LensDB's shards (HDF5, the layout 'lensdb ingest' reads).

Images (one of):
  CUTOUTS...     FITS files, one per object, or folders of them: a (3, S, S) image of g, r, z planes in
                 nanomaggies with a celestial WCS, as the Legacy Survey cutout service writes them (plane order
                 from BANDS / BAND0..2 when present; BUNIT, when present, must say nanomaggy)
  --cube FILE    a FITS cube (N, 3, S, S), one object per plane triple
  --npy FILE     a numpy array (N, 3, S, S), read memory-mapped
Catalogue (optional): --table FILE in any format astropy reads (FITS, VOTable, ECSV, CSV, TSV, parquet), one
  row per object. Rows match per-object files through a 'file' column (names relative to the table's or the
  cutouts' folder), else in file-name order; they match a cube or array in order. Counts must agree.
  Columns are found by their usual names, case-insensitively (ra/RAJ2000, dec/DEJ2000, flux_g or mag_g, ebv,
  psfsize_g, psfdepth_g, source_type/type, release, brickid, objid, survey, z_phot_*); --col ROLE=NAME maps
  any other name.

Columns you do not have get these defaults (each stated with its consequence):
{defaults}

Output: OUT/images_npix<S>_<start>_<end>.h5 shards of --shard-rows objects, and OUT/convert.json recording
the inputs. Everything checkable from headers and the table (planes, units, sizes, positions, row counts,
ids) is checked for every object before anything is written; NaN or infinite pixels are refused as each
shard is written (--fill-nan replaces NaN pixels). A bad input is one error naming the file and the problem.
Shards are written in OUT/.staging and renamed when whole: a killed run is resumed by running the same
command (finished shards are skipped). Memory stays bounded (--chunk-rows objects at a time).

Next: lensdb ingest OUT --survey-root OUT (see the README, "Your own survey").
Exit status: 0 done, 2 bad input (nothing of it written).
"""


def register(sub) -> None:
    """Add ``convert`` to the lensdb parser."""
    from lensdb.ingest.convert import DEFAULTS, ConvertConfig

    d = ConvertConfig()
    defaults = "\n".join(textwrap.fill(f"{k:<18} {v.value}. Consequence: {v.consequence}.", 110,
                                       initial_indent="  ", subsequent_indent=" " * 21) for k, v in DEFAULTS.items())
    p = sub.add_parser("convert", help="convert FITS cutouts / numpy arrays + a table into shards",
                       description=DESCRIPTION.format(defaults=defaults),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cutouts", nargs="*", metavar="CUTOUTS", help="FITS cutouts, one per object, or folders of them")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="OUT", help="output folder of the shards")
    p.add_argument("--table", type=Path, metavar="FILE", help="catalogue table (any astropy format)")
    p.add_argument("--cube", type=Path, metavar="FILE", help="FITS cube (N, 3, S, S) instead of per-object files")
    p.add_argument("--npy", type=Path, metavar="FILE", help="numpy .npy array (N, 3, S, S) instead of FITS")
    p.add_argument("--col", action="append", metavar="ROLE=NAME",
                   help="table column for a role, e.g. --col ra=RAJ2000 --col mag_z=zmag (repeatable)")
    p.add_argument("--release", type=int, default=d.release,
                   help=f"release code of the object ids when the table has none (default {d.release})")
    p.add_argument("--survey", choices=("south", "north"), default=d.survey,
                   help=f"survey of objects without a survey column (default {d.survey})")
    p.add_argument("--shard-rows", type=int, default=d.shard_rows, metavar="N",
                   help=f"objects per shard (default {d.shard_rows:,})")
    p.add_argument("--chunk-rows", type=int, default=d.chunk_rows, metavar="N",
                   help=f"objects read and written at a time (default {d.chunk_rows})")
    p.add_argument("--fill-nan", type=float, metavar="VALUE",
                   help="replace NaN pixels by VALUE (e.g. 0); planes with no finite pixel are still refused "
                        "(default: NaN pixels are an error)")
    p.add_argument("--dtype", choices=("float32", "float16"), default=d.dtype, help="stored pixel type")
    p.add_argument("--compression", choices=("gzip", "lzf"), help="HDF5 compression of the images (default none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    from tqdm import tqdm

    from lensdb.core.tables import parse_mapping
    from lensdb.ingest.convert import DEFAULTS, ConvertConfig, convert

    config = ConvertConfig(release=args.release, survey=args.survey, shard_rows=args.shard_rows,
                           chunk_rows=args.chunk_rows, fill_nan=args.fill_nan, dtype=args.dtype,
                           compression=args.compression, columns=parse_mapping(args.col))
    bar = tqdm(total=0, unit=" obj", unit_scale=True, desc="converted", file=sys.stderr, dynamic_ncols=True,
               disable=True if args.no_progress else None)

    def progress(event: str, n: int) -> None:
        if event == "start":
            bar.total = n
            bar.refresh()
        else:
            bar.update(n)

    try:
        report = convert(args.out, table=args.table, cutouts=args.cutouts, cube=args.cube, npy=args.npy,
                         config=config, progress=progress)
    finally:
        bar.close()
    for name in report.defaults:
        print(f"default   {name}: {DEFAULTS[name].value} ({DEFAULTS[name].consequence})")
    print(report.summary())
    print(f"next: lensdb --survey-root {report.out_dir} ingest {report.out_dir}")
    return 0
