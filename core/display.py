"""Colour images of g, r, z cutouts the way the Legacy Survey viewer shows them, and PNG grids of them.

The viewer's stretch (also the network-input stretch of the paper's released models) maps bands z, r, g to red, green,
blue. Per band ``v = max(0, image * scale + m)`` with scales 2.2 (z), 3.4 (r), 6.0 (g) and m = 0.03; with
``I = mean(v)`` over the three bands, each channel becomes ``v * arcsinh(Q I) / sqrt(Q) / I`` (Q = 20), clipped to
[0, 1]. The arcsinh of the mean intensity compresses bright cores while keeping faint arcs visible, and scaling all
three channels by the same factor preserves colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: Per-band multipliers for g, r, z (the viewer's 6.0, 3.4, 2.2), and the stretch constants.
RGB_SCALES = (6.0, 3.4, 2.2)
RGB_M = 0.03
RGB_Q = 20.0


def legacy_rgb(images: np.ndarray, scales: Sequence[float] = RGB_SCALES, m: float = RGB_M,
               q: float = RGB_Q) -> np.ndarray:
    """Legacy Survey viewer RGB of g, r, z images.

    Args:
        images: (3, H, W) or (N, 3, H, W), bands g, r, z, nanomaggies per pixel (any float dtype).
        scales: g, r, z multipliers.
        m: additive offset applied before the stretch.
        q: arcsinh softening parameter.

    Returns:
        float32 (H, W, 3) or (N, H, W, 3) in [0, 1], channels R, G, B = z, r, g.
    """
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim not in (3, 4) or arr.shape[-3] != 3:
        raise ValueError(f"legacy_rgb expects (3, H, W) or (N, 3, H, W) g, r, z images, got shape {arr.shape}")
    scale = np.asarray(scales, dtype=np.float32)[:, None, None]
    v = np.maximum(arr * scale + np.float32(m), 0.0)
    mean = v.mean(axis=-3, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(mean > 0, np.arcsinh(np.float32(q) * mean) / np.sqrt(np.float32(q)) / mean, 0.0)
    rgb = np.clip(v * factor, 0.0, 1.0)[..., ::-1, :, :]  # g, r, z -> z, r, g = R, G, B
    return np.ascontiguousarray(np.moveaxis(rgb, -3, -1), dtype=np.float32)


def save_grid(images_or_rgb: np.ndarray, path: str | Path, ncols: int = 8, titles: Sequence[str] | None = None, *,
              row_labels: Sequence[str] | None = None, panel_inches: float = 1.5, dpi: int = 100,
              title_size: float = 6.0, suptitle: str | None = None, palette_colors: int | None = None) -> Path:
    """Write a PNG grid of cutouts.

    Args:
        images_or_rgb: (N, 3, H, W) g, r, z nanomaggies (stretched with :func:`legacy_rgb`) or (N, H, W, 3) RGB in
            [0, 1] (shown as given).
        path: output PNG path (folders are created).
        ncols: panels per row.
        titles: optional caption per panel.
        row_labels: optional label per row, written at the left of each row.
        panel_inches, dpi: size of one panel (inches) and resolution.
        title_size: font size of the captions.
        suptitle: optional figure title.
        palette_colors: re-encode the PNG with a palette of this many colours (<= 256): noisy cutouts compress
            poorly, and a 256-colour palette makes a grid ~3x smaller with no visible loss.

    Returns:
        The path written.
    """
    # A bare Figure renders with the Agg canvas and never touches pyplot's global backend state.
    from matplotlib.figure import Figure

    arr = np.asarray(images_or_rgb)
    if arr.ndim == 4 and arr.shape[1] == 3 and arr.shape[-1] != 3:
        rgb = legacy_rgb(arr)
    elif arr.ndim == 4 and arr.shape[-1] == 3:
        rgb = np.clip(arr.astype(np.float32), 0.0, 1.0)
    else:
        raise ValueError(f"save_grid expects (N, 3, H, W) images or (N, H, W, 3) RGB, got shape {arr.shape}")
    n = len(rgb)
    if titles is not None and len(titles) != n:
        raise ValueError(f"{len(titles)} titles for {n} images")
    ncols = max(1, min(ncols, n)) if n else 1
    nrows = max(1, -(-n // ncols))
    left = 0.25 if row_labels else 0.0
    top = 0.3 if suptitle else 0.0
    fig = Figure(figsize=(ncols * panel_inches + left, nrows * panel_inches + top), dpi=dpi)
    width, height = ncols * panel_inches + left, nrows * panel_inches + top
    for i in range(nrows * ncols):
        r, c = divmod(i, ncols)
        ax = fig.add_axes(((left + c * panel_inches) / width, 1 - (top + (r + 1) * panel_inches) / height,
                           panel_inches / width, panel_inches / height))
        ax.set_axis_off()
        if i < n:
            ax.imshow(rgb[i], origin="lower", interpolation="nearest")
            if titles is not None:
                ax.text(0.03, 0.97, titles[i], color="white", fontsize=title_size, va="top", ha="left",
                        transform=ax.transAxes)
    if row_labels:
        for r, label in enumerate(row_labels[:nrows]):
            fig.text(0.5 * left / width, 1 - (top + (r + 0.5) * panel_inches) / height, label, rotation=90,
                     va="center", ha="center", fontsize=8)
    if suptitle:
        fig.text(0.5, 1 - 0.5 * top / height, suptitle, ha="center", va="center", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, facecolor="black" if not row_labels else "white")
    if palette_colors:
        from PIL import Image  # matplotlib depends on Pillow

        with Image.open(path) as img:
            quantised = img.convert("RGB").quantize(colors=min(int(palette_colors), 256),
                                                    method=Image.Quantize.FASTOCTREE,
                                                    dither=Image.Dither.FLOYDSTEINBERG)
        quantised.save(path, optimize=True)
    return path


#: The stamp views the inspection page offers: the viewer's colour image, or one band alone.
BANDS = ("rgb", "g", "r", "z")
#: Stretches of a stamp: the viewer's asinh, linear between percentiles, or IRAF's zscale range (astropy's).
STRETCHES = ("asinh", "linear", "zscale")


def stamp_rgb(image: np.ndarray, band: str = "rgb", stretch: str = "asinh") -> np.ndarray:
    """An (H, W, 3) float32 image in [0, 1] of a (3, H, W) g, r, z cutout, row 0 south (flip for display).

    ``band="rgb"`` with ``stretch="asinh"`` is the Legacy Survey viewer's image (:func:`legacy_rgb`); with another
    stretch each band is scaled alone and mapped z, r, g -> R, G, B. A single band is shown in grey. ``linear`` maps
    the 0.5-99.5 percentile range linearly, ``zscale`` uses :class:`astropy.visualization.ZScaleInterval` (the
    ds9 / IRAF display range), ``asinh`` of a single band uses astropy's AsinhStretch over the 0.5-99.5 percentiles.

    Raises:
        ValueError: an unknown band or stretch, or an image that is not (3, H, W).
    """
    from astropy.visualization import AsinhStretch, LinearStretch, PercentileInterval, ZScaleInterval

    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[0] != 3:
        raise ValueError(f"a stamp is a (3, H, W) g, r, z cutout; got shape {arr.shape}")
    if band not in BANDS or stretch not in STRETCHES:
        raise ValueError(f"band must be one of {BANDS} and stretch one of {STRETCHES}; got {band!r}, {stretch!r}")
    if band == "rgb" and stretch == "asinh":
        return legacy_rgb(arr)
    interval = ZScaleInterval() if stretch == "zscale" else PercentileInterval(99.0)
    curve = AsinhStretch(0.1) if stretch == "asinh" else LinearStretch()

    def scaled(plane: np.ndarray) -> np.ndarray:
        plane = np.nan_to_num(plane, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = interval.get_limits(plane)
        if not hi > lo:
            return np.zeros_like(plane)
        return np.clip(curve(np.clip((plane - lo) / (hi - lo), 0.0, 1.0)), 0.0, 1.0).astype(np.float32)

    if band == "rgb":
        return np.ascontiguousarray(np.stack([scaled(arr[2]), scaled(arr[1]), scaled(arr[0])], axis=-1))
    grey = scaled(arr["grz".index(band)])
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))
