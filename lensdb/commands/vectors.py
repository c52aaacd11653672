"""``lensdb similarity build | get | merge``: the bulk windowed similarity array."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

BUILD_HELP = """\
For every object of one encoder version's collection, find the k most similar other objects (cosine similarity
of the stored unit vectors) among those whose r magnitude differs by less than --window mag: exact per pair.

Reads:  the Milvus collection of --encoder-version (object_id, vector, mag_r) at --milvus-uri.
Writes: OUT (default <data-dir>/similarity/<encoder-version>/):
  plan.json                        inputs' fingerprint, n, k, window, chunk size
  order.npy, index_*.npy           row order and an id -> row hash index (O(1) lookup)
  chunks/chunk_NNNNNN.ids.npy      (rows, k) int64 neighbour ids, -1 = none
  chunks/chunk_NNNNNN.sims.npy     (rows, k) float32 similarities, most similar first, NaN = none
About 12 bytes x k per object (12 KB for k = 999).

--shard i/n computes the i-th of n cost-balanced runs of chunks (for a Kubernetes indexed Job: i is the pod's
JOB_COMPLETION_INDEX); all shards may write into one shared folder, or into separate ones joined by
'lensdb similarity merge'. Finished chunks are kept: re-running the same command resumes.
Settings come from the [similarity] section of the config file, overridden by these flags."""

GET_HELP = """\
Print the precomputed neighbours of one object from a similarity array: rank, object id, cosine similarity.
The lookup is O(1) (a hash probe and one memory-mapped row). Reads OUT (default
<data-dir>/similarity/<encoder-version>/); exits with status 2 when the object or its chunk is missing."""

MERGE_HELP = """\
Gather shard folders built with 'lensdb similarity build --shard i/n --out DIR_i' into one folder (hard links
where the file system allows, else copies). The shards must come from the same inputs and settings."""


def register(sub) -> None:
    """Add ``similarity`` with its build, get and merge sub-commands."""
    from lensdb.vectordb.config import SimilarityConfig

    d = SimilarityConfig()
    top = sub.add_parser(
        "similarity",
        help="bulk windowed similarity array (build, get, merge)",
        description="The similarity array of the paper: for every object its k most similar "
        "others within a magnitude window.",
    )
    cmds = top.add_subparsers(dest="similarity_command", metavar="SUBCOMMAND", required=True)

    b = cmds.add_parser(
        "build",
        help="compute (or resume) the similarity array",
        description=BUILD_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("--encoder-version", required=True, metavar="V", help="encoder version whose vectors to use")
    b.add_argument("--out", metavar="DIR", help="output folder (default <data-dir>/similarity/<V>)")
    b.add_argument("--k", type=int, metavar="K", help=f"neighbours per object, itself excluded (default {d.k})")
    b.add_argument("--window", type=float, metavar="MAG", help=f"r-magnitude window (default {d.window})")
    b.add_argument("--shard", default="0/1", metavar="I/N", help="compute shard I of N (default 0/1: all)")
    b.add_argument(
        "--backend",
        choices=("auto", "torch", "faiss", "torch-bf16"),
        help=f"inner-product kernel (default {d.backend}: faiss on a GPU, torch fp32 on a CPU)",
    )
    b.add_argument("--chunk-rows", type=int, metavar="N", help=f"objects per output chunk (default {d.chunk_rows})")
    b.add_argument("--block-rows", type=int, metavar="N", help=f"queries per product (default {d.block_rows})")
    b.add_argument("--tile-rows", type=int, metavar="N", help=f"database rows per product (default {d.tile_rows})")
    b.add_argument("--no-progress", action="store_true", help="no progress bars")
    b.set_defaults(func=run_build)

    g = cmds.add_parser(
        "get",
        help="print one object's neighbours",
        description=GET_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("object_id", type=int, metavar="ID", help="object id (release << 40 | brickid << 20 | objid)")
    g.add_argument("--encoder-version", metavar="V", help="encoder version (to find the default folder)")
    g.add_argument("--dir", metavar="DIR", help="similarity array folder (instead of --encoder-version)")
    g.add_argument("--top", type=int, metavar="N", help="print only the N most similar (default all k)")
    g.add_argument("--json", action="store_true", help="print JSON {object_id, neighbours, similarities}")
    g.set_defaults(func=run_get)

    m = cmds.add_parser("merge", help="gather shard folders into one", description=MERGE_HELP)
    m.add_argument("sources", nargs="+", metavar="SHARD_DIR", help="folders written by build --shard")
    m.add_argument("--out", required=True, metavar="DIR", help="destination folder")
    m.set_defaults(func=run_merge)


def default_folder(settings, encoder_version: str) -> Path:
    """``<data_dir>/similarity/<encoder version (file-name safe)>``."""
    from lensdb.vectordb.naming import folder_name

    return settings.path("similarity", folder_name(encoder_version))


def read_collection(store, progress: bool):
    """(ids, vectors, mag_r) of every object of an open store, read in batches."""
    import numpy as np
    from tqdm import tqdm

    total = store.count()
    ids = np.empty(total, dtype=np.int64)
    vecs = np.empty((total, store.dim), dtype=np.float32)
    mags = np.empty(total, dtype=np.float32)
    n = 0
    with tqdm(total=total, desc="reading vectors", unit="obj", disable=not progress) as bar:
        for batch in store.iter_vectors():
            m = len(batch["object_id"])
            if n + m > total:  # rows written while reading: grow rather than fail
                ids, mags = np.resize(ids, n + m), np.resize(mags, n + m)
                vecs = np.concatenate([vecs[:n], np.empty((m, store.dim), np.float32)])
            ids[n : n + m], vecs[n : n + m], mags[n : n + m] = batch["object_id"], batch["vector"], batch["mag_r"]
            n += m
            bar.update(m)
    return ids[:n], vecs[:n], mags[:n]


def run_build(args: argparse.Namespace, settings) -> int:
    """Handle ``lensdb similarity build``."""
    from lensdb.core.partition import parse_partition
    from lensdb.vectordb.config import SimilarityConfig
    from lensdb.vectordb.similarity.builder import build_similarity
    from lensdb.vectordb.store import VectorStore

    cfg = SimilarityConfig.from_settings(
        settings,
        k=args.k,
        window=args.window,
        backend=args.backend,
        chunk_rows=args.chunk_rows,
        block_rows=args.block_rows,
        tile_rows=args.tile_rows,
    )
    shard = parse_partition(args.shard)
    out = Path(args.out) if args.out else default_folder(settings, args.encoder_version)
    progress = not args.no_progress and sys.stderr.isatty()
    with VectorStore.open(settings, args.encoder_version) as store:
        ids, vecs, mags = read_collection(store, progress)
    log.info("read %d vectors of encoder version %r; building into %s", len(ids), args.encoder_version, out)
    report = build_similarity(
        ids, vecs, mags, out, config=cfg, encoder_version=args.encoder_version, shard=shard, progress=progress
    )
    print(
        json.dumps(
            {
                "folder": str(report.folder),
                "chunks_written": report.chunks_written,
                "chunks_skipped": report.chunks_skipped,
                "seconds": round(report.seconds, 3),
                "gflops": round(report.gflops, 2),
                "backend": report.backend,
            }
        )
    )
    return 0


def run_get(args: argparse.Namespace, settings) -> int:
    """Handle ``lensdb similarity get``."""
    import numpy as np

    from lensdb.core.errors import InvalidInput
    from lensdb.vectordb.similarity.storage import SimilarityArray

    if not args.dir and not args.encoder_version:
        raise InvalidInput("give --encoder-version (default folder) or --dir")
    folder = Path(args.dir) if args.dir else default_folder(settings, args.encoder_version)
    nbr, sims = SimilarityArray(folder).get(args.object_id)
    keep = nbr >= 0
    nbr, sims = nbr[keep], sims[keep]
    if args.top is not None:
        nbr, sims = nbr[: max(0, args.top)], sims[: max(0, args.top)]
    if args.json:
        print(
            json.dumps(
                {
                    "object_id": args.object_id,
                    "neighbours": nbr.tolist(),
                    "similarities": np.round(sims.astype(float), 6).tolist(),
                }
            )
        )
    else:
        print("rank\tobject_id\tsimilarity")
        for rank, (i, s) in enumerate(zip(nbr, sims, strict=True), start=1):
            print(f"{rank}\t{i}\t{s:.6f}")
    return 0


def run_merge(args: argparse.Namespace, settings) -> int:
    """Handle ``lensdb similarity merge``."""
    from lensdb.vectordb.similarity.storage import SimilarityArray, merge

    copied = merge([Path(s) for s in args.sources], Path(args.out))
    arr = SimilarityArray(args.out)
    done = len(arr.done_chunks())
    print(
        json.dumps(
            {"folder": args.out, "chunks_copied": copied, "chunks_done": done, "chunks_total": arr.plan.n_chunks}
        )
    )
    return 0
