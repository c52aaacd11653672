"""Figures of the probe reports, after the paper's Figures 4 and 5.

- :func:`plot_ratio_sweep` (Fig. 4): precision in the top N against the lens:non-lens training ratio, on the
  validation set (at the sky's 1:10,000 when the data allow) and on the training set.
- :func:`plot_scores` (Fig. 5): left, the predicted lens probability of every validation object, sorted, lenses
  marked, with the top-N cut; right, the share of a survey one must inspect against the fraction of lenses found.

Figures are drawn on bare :class:`matplotlib.figure.Figure` objects (Agg), never through pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lensdb.classifiers.metrics import PAPER_SEARCH_SIZE, SKY_RATIO, ranking, recall_curve


def plot_ratio_sweep(rows: list[dict], path: str | Path, *, top_n: int, val_ratio: float) -> Path:
    """Fig. 4: ``rows`` of {"ratio", "val_precision", "train_precision"} (ratio = achieved non-lenses per lens)."""
    from matplotlib.figure import Figure

    rows = sorted(rows, key=lambda r: r["ratio"])
    x = [r["ratio"] for r in rows]
    fig = Figure(figsize=(5.5, 4), dpi=120)
    ax = fig.add_subplot()
    ax.plot(x, [r["val_precision"] for r in rows], "o-", label=f"validation (1:{val_ratio:,.0f}), top {top_n}")
    ax.plot(x, [r["train_precision"] for r in rows], "s--", label="training (top n_lenses)")
    ax.set_xscale("log")
    ax.set_xticks(x, [f"1:{r:,.0f}" for r in x], rotation=30)
    ax.set_xlabel("lens : non-lens ratio of the training set")
    ax.set_ylabel("precision in the top N")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Linear probe: precision against training imbalance", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_scores(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, *, top_n: int,
                sky_ratio: int = SKY_RATIO, survey_size: int = PAPER_SEARCH_SIZE) -> Path:
    """Fig. 5 for one or more models: ``curves`` maps a name to (validation probabilities, 0/1 labels)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=120)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for k, (name, (scores, labels)) in enumerate(curves.items()):
        scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
        order = ranking(scores)
        rank = np.arange(1, scores.size + 1)
        colour = f"C{k}"
        left.plot(rank, scores[order], color=colour, lw=1, label=f"{name}: all objects")
        pos = labels[order]
        left.scatter(rank[pos], scores[order][pos], s=8, color=colour, marker="x", label=f"{name}: lenses")
        curve = recall_curve(scores, labels, sky_ratio)
        right.plot(curve.recall, curve.survey_fraction * survey_size, color=colour, label=name)
        at_n = min(top_n, scores.size) - 1
        right.scatter([curve.recall[at_n]], [curve.survey_fraction[at_n] * survey_size], color=colour, s=15)
    left.axvline(top_n, color="k", ls=":", lw=1)
    left.set_xscale("log")
    left.set_xlabel("rank in the validation set")
    left.set_ylabel("predicted lens probability")
    left.set_title(f"Sorted validation scores (dotted: top {top_n})", fontsize=10)
    left.legend(fontsize=7)
    right.set_yscale("log")
    right.set_xlabel("fraction of lenses found")
    right.set_ylabel(f"images to inspect in a {survey_size / 1e6:g}M survey")
    right.set_title(f"Inspection effort (1 lens per {sky_ratio:,} galaxies; dots: top N)", fontsize=10)
    right.grid(alpha=0.3, which="both")
    right.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
