"""Demo steps 4-5: train the encoder (small preset, self-supervised) and embed the survey into Milvus."""

from __future__ import annotations

from pathlib import Path

from lensdb.core.config import Settings
from lensdb.demo.plan import DemoPlan


def train_encoder(settings: Settings, plan: DemoPlan, survey_dir: Path) -> dict:
    """Train MoCo v2 (small preset) on the survey; a run interrupted earlier resumes from its checkpoint."""
    from lensdb.encoder.checkpoint import load_checkpoint
    from lensdb.encoder.config import resolve_config
    from lensdb.encoder.train import CHECKPOINT_NAME, train
    from lensdb.ingest.reader import find_shards

    out_dir = settings.path("encoder")
    ckpt = out_dir / CHECKPOINT_NAME
    config = resolve_config(settings, preset="small", epochs=plan.epochs, seed=plan.seed,
                            time_budget_s=plan.time_budget_s)
    shards = find_shards([survey_dir])
    stored = load_checkpoint(ckpt) if ckpt.exists() else None
    trained_now = stored is None or not stored.complete
    if trained_now:
        train(config, shards, out_dir, resume=ckpt if stored is not None else None, threads=None)
        stored = load_checkpoint(ckpt)
    losses = stored.losses
    return {"checkpoint": str(ckpt), "version": stored.version, "steps": stored.step,
            "objects": int(len(stored.selection["object_id"])),
            "first_loss": round(float(sum(losses[:20]) / max(1, len(losses[:20]))), 3),
            "last_loss": round(float(sum(losses[-20:]) / max(1, len(losses[-20:]))), 3),
            "loss_curve": str(out_dir / "loss_curve.png"), "trained_now": trained_now}


def embed(settings: Settings, survey_dir: Path, checkpoint: Path) -> dict:
    """Embed every shard into the collection of the encoder's version (shards done earlier are skipped)."""
    from lensdb.core.progress import ProgressBar
    from lensdb.services.embedding import embed_shards
    from lensdb.vectordb.store import VectorStore

    with ProgressBar() as progress:
        report = embed_shards(settings, [survey_dir], checkpoint, device="auto", precision="auto", progress=progress)
    with VectorStore.open(settings, report.encoder_version) as store:
        rows = store.count()
        index = store.index_type
    return {"summary": report.summary(), "collection": report.collection, "vectors": rows, "index": index,
            "images_per_s": round(report.images / report.seconds, 1) if report.seconds else None}


def learned_check(settings: Settings, plan: DemoPlan, checkpoint: Path, survey_dir: Path, out_dir: Path) -> dict:
    """The lens fraction among the ``plan.enrichment_k`` nearest neighbours of every simulated lens, for the
    trained encoder, the same network untrained, and PCA of the pixels, each whitened (see
    :func:`lensdb.encoder.evaluate.three_way`); a bar chart of the three."""
    import numpy as np

    from lensdb.encoder.evaluate import load_simulated, three_way
    from lensdb.encoder.inference import Embedder

    learned = Embedder.from_checkpoint(checkpoint, device="cpu")
    survey = load_simulated(survey_dir, learned.crop)
    is_lens = survey.is_lens
    queries = np.flatnonzero(is_lens)
    results = three_way(learned, survey.images, is_lens, queries, k=plan.enrichment_k, seed=plan.seed)
    labels = {"learned": "trained encoder", "random": "untrained encoder", "pixels": "pixel PCA (16)"}
    methods = {labels[name]: r.to_dict() for name, r in results.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    figure = plot_enrichment(methods, float(is_lens.mean()), plan.enrichment_k, out_dir / "learned.png")
    return {"k": plan.enrichment_k, "queries": int(queries.size), "base_rate": float(is_lens.mean()),
            "methods": methods, "figure": str(figure)}


def plot_enrichment(methods: dict[str, dict], base_rate: float, k: int, path: Path) -> Path:
    """Bar chart: mean lens fraction (with its standard error) per representation, and the base rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    names = list(methods)
    ax.barh(names, [methods[n]["mean_fraction"] for n in names], xerr=[methods[n]["stderr"] for n in names],
            color=["#1f77b4", "#9aa4ad", "#ff7f0e"][:len(names)])
    ax.axvline(base_rate, color="k", ls="--", lw=1, label=f"base rate {base_rate:.3f}")
    ax.set_xlabel(f"lens fraction among the {k} nearest neighbours of each lens")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
