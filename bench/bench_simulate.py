"""Benchmark of the survey simulator: images per second on one core, against a naive renderer in the same run.

The baseline renders the same objects the straightforward way: every component evaluated separately for each band on
the padded grid, stars drawn as PSF images in real space, and each band convolved with a PSF image by
scipy.signal.fftconvolve. LensDB's renderer shares one unit profile between the bands, renders small patches, convolves
the three bands with one real FFT and adds stars as Fourier phase ramps. Both produce the same pixels (checked here).

Run:  python bench/bench_simulate.py [--n 300] [--out bench/results/simulate.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.fft
from scipy.signal import fftconvolve

from lensdb.core.units import PIXEL_SCALE_ARCSEC
from lensdb.ingest.simulate import SimulateConfig, simulate_survey
from lensdb.ingest.simulate.conditions import FWHM_PER_SIGMA
from lensdb.ingest.simulate.objects import draw_object
from lensdb.ingest.simulate.scene import (
    PAD_PX,
    WING_FRACTION,
    WING_WIDTH,
    _component_patch,
    _core_sigma_per_fwhm,
    grid_size,
    noise_field,
    psf_image,
    render,
)


def naive_render(spec, cutout: int, rng: np.random.Generator) -> np.ndarray:
    """The baseline: per band, per component, then scipy.signal.fftconvolve with a PSF image."""
    size = grid_size(cutout)
    off = (size - cutout) // 2
    centre = (cutout - 1) / 2.0 + off
    trans = spec.conditions.transmission
    out = np.empty((3, cutout, cutout), dtype=np.float32)
    for b in range(3):
        plane = np.zeros((size, size), dtype=np.float32)
        stars = np.zeros((size, size), dtype=np.float32)
        psf = psf_image(float(spec.conditions.psf_sigma_px[b]), 4 * PAD_PX + 1)
        for comp in spec.components:
            gx, gy = centre + comp.x / PIXEL_SCALE_ARCSEC, centre + comp.y / PIXEL_SCALE_ARCSEC
            flux = float(comp.flux[b] * trans[b])
            patch = _component_patch(comp, gx, gy)  # evaluated again for every band
            if patch is None:
                # A point source: the PSF formula evaluated over the whole grid at its sub-pixel position, added
                # after the convolution.
                if abs(gx - (size - 1) / 2) < size / 2 - 2 and abs(gy - (size - 1) / 2) < size / 2 - 2:
                    stars += flux * double_gaussian(gx, gy, float(spec.conditions.psf_sigma_px[b]), size)
                continue
            h, w = patch.data.shape
            y0, x0 = max(patch.y0, 0), max(patch.x0, 0)
            y1, x1 = min(patch.y0 + h, size), min(patch.x0 + w, size)
            if y1 > y0 and x1 > x0:
                plane[y0:y1, x0:x1] += flux * patch.data[y0 - patch.y0:y1 - patch.y0, x0 - patch.x0:x1 - patch.x0]
        conv = fftconvolve(plane, psf, mode="same") + stars
        out[b] = conv[off:off + cutout, off:off + cutout]
    return out + noise_field(rng, cutout) * spec.conditions.noise_sigma.astype(np.float32)[:, None, None]


def double_gaussian(x0: float, y0: float, sigma_px: float, size: int) -> np.ndarray:
    """The simulator's PSF (core + wing Gaussians, FWHM = 2.3548 sigma_px) sampled on a size x size grid."""
    core = sigma_px * FWHM_PER_SIGMA * _core_sigma_per_fwhm()
    yy, xx = np.indices((size, size), dtype=np.float64)
    r2 = (xx - x0) ** 2 + (yy - y0) ** 2
    out = np.zeros((size, size))
    for frac, sig in ((1 - WING_FRACTION, core), (WING_FRACTION, core * WING_WIDTH)):
        out += frac / (2 * np.pi * sig * sig) * np.exp(-0.5 * r2 / (sig * sig))
    return out.astype(np.float32)


def time_renderer(fn, specs, cutout: int, seed: int) -> tuple[float, list[np.ndarray]]:
    images = []
    start = time.perf_counter()
    for i, spec in enumerate(specs):
        images.append(fn(spec, cutout, np.random.default_rng([seed, 2, i])))
    return time.perf_counter() - start, images


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="objects to render (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "simulate.json"))
    args = parser.parse_args(argv)
    cutout = 152
    with scipy.fft.set_workers(1):  # one core, for both renderers
        t0 = time.perf_counter()
        specs = [draw_object(np.random.default_rng([args.seed, 1, i])) for i in range(args.n)]
        t_draw = time.perf_counter() - t0
        render(specs[0], cutout, np.random.default_rng(0))  # warm caches of both paths
        naive_render(specs[0], cutout, np.random.default_rng(0))
        t_fast, fast = time_renderer(render, specs, cutout, args.seed)
        t_naive, naive = time_renderer(naive_render, specs, cutout, args.seed)
        # Same pixels: the largest difference relative to the image's peak, and the fraction of pixels that differ
        # by more than a tenth of the noise (PSF kernel truncation and wrap-around at the grid edge).
        rel = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(fast, naive, strict=True))
        off = np.mean([(np.abs(a - b) > 0.1 * s.conditions.noise_sigma[:, None, None]).mean()
                       for a, b, s in zip(fast, naive, specs, strict=True)])
        with tempfile.TemporaryDirectory() as tmp:
            t1 = time.perf_counter()
            simulate_survey(SimulateConfig(n_objects=args.n, shard_size=100, seed=args.seed), tmp)
            t_survey = time.perf_counter() - t1
    result = {
        "benchmark": "lensdb simulate: images per second, one core, 152 px g,r,z cutouts",
        "n_objects": args.n,
        "render_images_per_s": round(args.n / (t_draw + t_fast), 1),
        "baseline_images_per_s": round(args.n / (t_draw + t_naive), 1),
        "ratio": round((t_draw + t_naive) / (t_draw + t_fast), 2),
        "render_only_ms": round(1e3 * t_fast / args.n, 2),
        "baseline_render_only_ms": round(1e3 * t_naive / args.n, 2),
        "draw_ms": round(1e3 * t_draw / args.n, 2),
        "survey_end_to_end_images_per_s": round(args.n / t_survey, 1),
        "max_difference_relative_to_peak": float(f"{rel:.2g}"),
        "fraction_of_pixels_differing_by_over_0.1_sigma": float(f"{off:.2g}"),
        "baseline": "per-band, per-component rendering + scipy.signal.fftconvolve with a PSF image",
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                    "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
    }
    print(f"simulator : {result['render_images_per_s']:8.1f} images/s (draw + render)")
    print(f"baseline  : {result['baseline_images_per_s']:8.1f} images/s (draw + naive render)")
    print(f"ratio     : {result['ratio']:8.2f} x")
    print(f"end-to-end: {result['survey_end_to_end_images_per_s']:8.1f} images/s (simulate_survey, shards + truth)")
    print(f"max |fast - naive| / peak = {rel:.2g}; pixels off by > 0.1 sigma: {off:.2g}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
