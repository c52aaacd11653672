"""Does the encoder learn? Lens enrichment among the nearest neighbours of known lenses.

The test of Stein et al. (2021, Section 4.1): take a known lens, find its nearest neighbours in representation
space, and count how many are lenses. Representations that put lenses near lenses give a lens fraction far above
the survey's base rate. Three representations are compared on the same cutouts:

- ``learned``: the trained encoder's 2048-d output;
- ``random``: the same backbone with random initial weights (what the architecture alone gives);
- ``pixels``: PCA of the stretched centre-crop pixels (what no network gives).

Neighbours are ranked by cosine similarity, as the vector store ranks unit vectors. Each representation is
centred on its survey mean first (:func:`centre`): the mean is one vector per encoder, kept with it, and without
it every non-negative ReLU output is close to every other, so the ranking would follow brightness alone.

    from lensdb.encoder.evaluate import lens_enrichment
    result = lens_enrichment(vectors, is_lens, queries, k=100)
    result.mean_fraction, result.base_rate
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lensdb.core.errors import InvalidInput
from lensdb.encoder.transforms import inference_pipeline


@dataclass(frozen=True)
class Enrichment:
    """Lens fraction among the ``k`` nearest neighbours of each query lens.

    Attributes:
        k: neighbours per query (the query itself excluded).
        fractions: (n_queries,) lens fraction of each query's neighbours.
        base_rate: lens fraction of the whole set searched (what a random ranking gives).
        mag_window: when set, neighbours were restricted to |mag - mag_query| <= this.
    """

    k: int
    fractions: np.ndarray
    base_rate: float
    mag_window: float | None = None

    @property
    def mean_fraction(self) -> float:
        """Mean lens fraction over the queries."""
        return float(self.fractions.mean()) if self.fractions.size else 0.0

    @property
    def stderr(self) -> float:
        """Standard error of :attr:`mean_fraction`."""
        n = self.fractions.size
        return float(self.fractions.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0

    @property
    def enrichment(self) -> float:
        """Mean fraction over the base rate (1 = no better than chance)."""
        return self.mean_fraction / self.base_rate if self.base_rate > 0 else float("nan")

    def to_dict(self) -> dict:
        return {"k": self.k, "queries": int(self.fractions.size), "mean_fraction": round(self.mean_fraction, 4),
                "stderr": round(self.stderr, 4), "base_rate": round(self.base_rate, 5),
                "enrichment": round(self.enrichment, 2), "mag_window": self.mag_window}


def centre(vectors: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """Subtract the mean vector (given, or of ``vectors``) and scale every row to unit length."""
    x = np.asarray(vectors, dtype=np.float32)
    x = x - (x.mean(axis=0) if mean is None else np.asarray(mean, dtype=np.float32))
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def lens_enrichment(vectors: np.ndarray, is_lens: np.ndarray, queries: np.ndarray, k: int = 100,
                    mags: np.ndarray | None = None, mag_window: float | None = None,
                    batch: int = 256) -> Enrichment:
    """Lens fraction among the ``k`` most cosine-similar objects of each query (itself excluded).

    Args:
        vectors: (N, D) representations (unit rows for cosine ranking; see :func:`centre`).
        is_lens: (N,) truth: is each object a lens.
        queries: indices of the query lenses (must be lenses).
        k: neighbours per query.
        mags: (N,) magnitudes, needed with ``mag_window``.
        mag_window: keep only neighbours within this many magnitudes of the query (as the similarity array's
            window does); a query with fewer than ``k`` such objects uses the ones there are.
        batch: queries per matrix product.

    Raises:
        InvalidInput: shapes disagree, a query is not a lens, or ``k`` is not below N.
    """
    x = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
    lens = np.asarray(is_lens, dtype=bool)
    queries = np.asarray(queries, dtype=np.int64)
    if x.ndim != 2 or lens.shape != (x.shape[0],):
        raise InvalidInput(f"vectors {tuple(x.shape)} and is_lens {lens.shape} disagree: need (N, D) and (N,)")
    if not 0 < k < x.shape[0]:
        raise InvalidInput(f"k={k} must lie in 1..{x.shape[0] - 1} (the number of other objects)")
    if queries.size == 0 or not lens[queries].all():
        raise InvalidInput("queries must be a non-empty list of indices of lenses")
    if mag_window is not None and (mags is None or np.shape(mags) != lens.shape):
        raise InvalidInput("mag_window needs mags, one per object")
    lens_t = torch.as_tensor(lens)
    m = torch.as_tensor(np.asarray(mags, dtype=np.float32)) if mag_window is not None else None
    fractions = np.empty(queries.size)
    for s in range(0, queries.size, batch):
        q = torch.as_tensor(queries[s:s + batch])
        sims = x[q] @ x.T
        sims[torch.arange(q.numel()), q] = -torch.inf
        if m is not None:
            sims[(m[None, :] - m[q, None]).abs() > mag_window] = -torch.inf
        top = sims.topk(k, dim=1)
        valid = torch.isfinite(top.values)
        hits = (lens_t[top.indices] & valid).sum(1).double() / valid.sum(1).clamp(min=1)
        fractions[s:s + q.numel()] = hits.numpy()
    return Enrichment(k, fractions, float(lens.mean()), mag_window)


def pixel_features(images: np.ndarray | torch.Tensor, crop: int, batch: int = 1024) -> np.ndarray:
    """Flattened centre-crop pixels after the same arcsinh RGB stretch the encoder sees, (N, 3 * crop^2)."""
    pipeline = inference_pipeline(crop)
    x = torch.as_tensor(images)
    out = np.empty((x.shape[0], 3 * crop * crop), dtype=np.float32)
    for i in range(0, x.shape[0], batch):
        out[i:i + batch] = pipeline(x[i:i + batch].float()).flatten(1).numpy()
    return out


def pca(features: np.ndarray, n_components: int, seed: int = 0) -> np.ndarray:
    """Projection of ``features`` on their first ``n_components`` principal components (randomised SVD)."""
    from sklearn.decomposition import PCA

    n_components = min(n_components, *features.shape)
    return PCA(n_components, svd_solver="randomized", random_state=seed).fit_transform(features)


@dataclass(frozen=True)
class SimulatedSurvey:
    """A simulated survey in memory, rows in shard-name order (truth.csv's order).

    Attributes:
        images: (N, 3, S, S) float32 centre crops. mag_r, ebv: (N,) from the shards.
        is_lens: (N,) truth class is ``lens``. arc_snr: (N,) the lenses' arc S/N, NaN for everything else.
    """

    images: np.ndarray
    mag_r: np.ndarray
    ebv: np.ndarray
    is_lens: np.ndarray
    arc_snr: np.ndarray


def load_simulated(survey_dir: Path, crop: int) -> SimulatedSurvey:
    """Read every shard of a simulated survey folder (centre ``crop`` x ``crop`` pixels) and its truth.csv once."""
    from lensdb.core.units import MAG_ZEROPOINT
    from lensdb.ingest.reader import ShardReader, find_shards
    from lensdb.ingest.simulate import read_truth

    images, mags, ebv = [], [], []
    for shard in find_shards([survey_dir]):
        with ShardReader(shard) as reader:
            n, _ = reader.image_shape()
            images.append(reader.cutouts(np.arange(n), crop, check=False))
            mags.append(MAG_ZEROPOINT - 2.5 * np.log10(np.maximum(reader.read("flux", 0, n)[:, 1], 1e-6)))
            ebv.append(np.asarray(reader.read("ebv", 0, n), dtype=np.float32))
    truth = read_truth(Path(survey_dir) / "truth.csv")
    is_lens = np.array([row["class"] == "lens" for row in truth])
    snr = np.array([float(r["arc_snr"]) if r["class"] == "lens" and r["arc_snr"] else np.nan for r in truth])
    x = np.concatenate(images)
    if len(x) != len(is_lens):
        raise InvalidInput(f"{survey_dir}: {len(x)} cutouts in the shards but {len(is_lens)} rows in truth.csv")
    return SimulatedSurvey(x, np.concatenate(mags), np.concatenate(ebv), is_lens, snr)


def three_way(learned, images: np.ndarray, is_lens: np.ndarray, queries: np.ndarray, k: int = 100,
              pca_components: int = 16, seed: int = 0, mags: np.ndarray | None = None,
              mag_window: float | None = None, shrinkage: float | None = 0.1) -> dict[str, Enrichment]:
    """:func:`lens_enrichment` of a trained :class:`lensdb.encoder.inference.Embedder`, the same backbone at random
    initialisation, and pixel PCA, on the same cutouts and queries (keys ``learned``, ``random``, ``pixels``).

    With ``shrinkage`` (default), every representation is whitened (:mod:`lensdb.encoder.whitening`): the learned one by
    its checkpoint's whitening (what the vector store holds) or, lacking one, by a fit to these cutouts; the two
    baselines by a fit to these cutouts, so that they get the same label-free step. None compares them raw.
    """
    from lensdb.encoder.backbones import build_backbone
    from lensdb.encoder.inference import Embedder
    from lensdb.encoder.whitening import fit_whitening

    torch.manual_seed(seed)
    random_net = Embedder(build_backbone(learned.config), learned.config, "random-init", learned.device)
    reps = {
        "learned": learned.embed(images, whiten=False).numpy(),
        "random": random_net.embed(images).numpy(),
        "pixels": pca(pixel_features(images, learned.crop), pca_components, seed),
    }
    if shrinkage is not None:
        for name, x in reps.items():
            own = learned.whitening if name == "learned" else None
            reps[name] = (own or fit_whitening(x, shrinkage)).apply(torch.as_tensor(x)).numpy()
    return {name: lens_enrichment(centre(x), is_lens, queries, k, mags=mags, mag_window=mag_window)
            for name, x in reps.items()}


def invariant_projection(embedder, images: np.ndarray, ebv: np.ndarray, dims: int = 64, n: int = 6000,
                         seed: int = 0, ridge: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """Directions of the representation that vary between objects more than under the training augmentations.

    Two augmented views of ``n`` objects give the within-object (augmentation) covariance S_w; the centre crops of
    all ``images`` give the between-object covariance S_b. The generalised eigenvectors of (S_b, S_w + ridge)
    with the largest eigenvalues span what tells objects apart and survives re-reddening, rotation, rescaling, PSF
    blur, jitter and noise. No labels are used: this is the self-supervised signal, read off linearly.

    Args:
        embedder: an :class:`lensdb.encoder.inference.Embedder` (its backbone and config; its whitening, if any, is
            not used: the projection is of the raw backbone).
        images: (N, 3, S, S) cutouts with S >= crop + 2 * (jitter + margin).
        ebv: (N,) catalogue E(B-V), for the re-reddening augmentation.
        dims: directions kept.
        n: objects whose views estimate S_w.
        ridge: S_w regulariser, as a fraction of its mean eigenvalue.

    Returns:
        (mean (D,), projection (D, dims)): apply as ``(x - mean) @ projection``.
    """
    import scipy.linalg

    from lensdb.encoder.transforms import training_pipeline

    cfg = embedder.config
    pipeline = training_pipeline(cfg)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(images), min(n, len(images)), replace=False))
    gen = torch.Generator().manual_seed(seed)
    views = []
    with torch.no_grad():
        for _ in range(2):
            parts = []
            for i in range(0, pick.size, 512):
                rows = pick[i:i + 512]
                x = pipeline(torch.as_tensor(images[rows]).float(), ebv=torch.as_tensor(ebv[rows]).float(),
                             generator=gen)
                parts.append(embedder.backbone(x.to(embedder.device)).float().cpu())
            views.append(torch.cat(parts).numpy().astype(np.float64))
    diff = views[0] - views[1]
    s_w = diff.T @ diff / (2 * len(diff))
    full = embedder.embed(images, whiten=False).numpy().astype(np.float64)
    mean = full.mean(axis=0)
    centred = full - mean
    s_b = centred.T @ centred / len(centred)
    s_w += ridge * np.trace(s_w) / len(s_w) * np.eye(len(s_w))
    values, vectors = scipy.linalg.eigh(s_b, s_w)
    order = np.argsort(values)[::-1][:dims]
    return mean.astype(np.float32), vectors[:, order].astype(np.float32)

