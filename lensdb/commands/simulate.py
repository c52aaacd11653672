"""``lensdb simulate``: write a simulated DESI Legacy Surveys DR9 survey (shards + truth table) and/or a preview."""

from __future__ import annotations

import argparse
import logging

from lensdb.core.config import load_section
from lensdb.ingest.simulate.config import COMPRESSIONS, DTYPES, SimulateConfig

log = logging.getLogger(__name__)

DESCRIPTION = """\
Simulate a DESI Legacy Surveys DR9-like survey in the released shard format, for tests, demos and benchmarks.

Each object is a g, r, z cutout (nanomaggies, 0.262"/px) of a central galaxy with 0-4 neighbours, stars and faint
background galaxies, PSF and noise drawn from the paper's Table 2 lognormal fits (north noisier), Galactic extinction
from its E(B-V) fit. A fraction are strong lenses (SIE + shear, lensed blue sources: arcs, rings, doubles, quads) and
lens look-alikes (ring galaxies, spirals, blue companions, mergers).

Writes into OUT (default <data-dir>/survey):
  images_npix{S}_{start:09d}_{end:09d}.h5   shards: images (N,3,S,S) + catalogue columns (ra, dec, release, brickid,
                                            objid, flux, ebv, psfsize, psfdepth, source_type, survey, z_phot_*, ...)
  truth.csv                                 object_id, survey, class (galaxy, lens, ring, spiral, companion,
                                            merger), lens parameters (empty for non-lenses)
  lenses.csv                                the survey's own known-lens list (name, ra, dec of its lenses), for
                                            'lensdb labels import'
  survey.json                               settings, counts, shard list
Re-running with the same settings skips finished shards and gives identical files.
Settings come from the [simulate] section of the config file, overridden by these flags."""


def register(sub) -> None:
    """Add ``simulate`` to the lensdb parser."""
    d = SimulateConfig()
    p = sub.add_parser("simulate", help="write a simulated DR9-like survey (shards + truth table)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-objects", type=int, metavar="N", help=f"objects to simulate (default {d.n_objects})")
    p.add_argument("--lens-rate", type=float, metavar="F", help=f"fraction of strong lenses (default {d.lens_rate})")
    p.add_argument("--lookalike-rate", type=float, metavar="F",
                   help=f"fraction of lens look-alikes (default {d.lookalike_rate})")
    p.add_argument("--north-fraction", type=float, metavar="F",
                   help=f"fraction of objects in the north (default {d.north_fraction})")
    p.add_argument("--shard-size", type=int, metavar="N", help=f"objects per shard (default {d.shard_size})")
    p.add_argument("--cutout", type=int, metavar="PX", help=f"cutout side in pixels, >= 110 (default {d.cutout})")
    p.add_argument("--dtype", choices=DTYPES, help=f"image storage type (default {d.dtype})")
    p.add_argument("--compression", choices=COMPRESSIONS, help=f"HDF5 image compression (default {d.compression})")
    p.add_argument("--seed", type=int, help=f"survey seed (default {d.seed})")
    p.add_argument("--mag-z-min", type=float, metavar="MAG",
                   help=f"brightest z magnitude of ordinary galaxies (default {d.mag_z_min})")
    p.add_argument("--mag-z-max", type=float, metavar="MAG",
                   help=f"faintest z magnitude of ordinary galaxies (default {d.mag_z_max})")
    p.add_argument("--workers", type=int, metavar="N", help=f"worker processes (default {d.workers})")
    p.add_argument("--out", metavar="DIR", help="output folder (default <data-dir>/survey)")
    p.add_argument("--preview", metavar="PNG", help="also write a PNG grid of galaxies, lenses and look-alikes")
    p.add_argument("--preview-only", action="store_true", help="write only the --preview PNG, no survey")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    """Handle ``lensdb simulate``."""
    from lensdb.core.errors import InvalidInput
    from lensdb.ingest.simulate.preview import write_preview
    from lensdb.ingest.simulate.survey import simulate_survey

    config = load_section(
        SimulateConfig, settings, "simulate", n_objects=args.n_objects, lens_rate=args.lens_rate,
        lookalike_rate=args.lookalike_rate, north_fraction=args.north_fraction, shard_size=args.shard_size,
        cutout=args.cutout, dtype=args.dtype, compression=args.compression, seed=args.seed,
        mag_z_min=args.mag_z_min, mag_z_max=args.mag_z_max, workers=args.workers, out_dir=args.out,
    )
    if args.preview_only and not args.preview:
        raise InvalidInput("--preview-only needs --preview PNG")
    if not args.preview_only:
        out = config.out_dir or settings.path("survey")
        result = simulate_survey(config, out, progress=not args.no_progress)
        print(f"simulated {config.n_objects} objects into {result.out_dir} ({len(result.shards)} shards, "
              f"{result.rendered} rendered now): " + ", ".join(f"{k} {v}" for k, v in result.counts.items()))
    if args.preview:
        path = write_preview(config, args.preview)
        print(f"preview written to {path}")
    return 0
