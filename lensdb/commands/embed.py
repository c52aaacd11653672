"""``lensdb embed SHARDS...``: turn survey shards into unit vectors in the vector store."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Embed survey shards with a trained encoder and write the vectors to the vector store.

Reads:  SHARDS: HDF5 shard files, or folders whose *.h5 files are taken in name order (not recursive);
        CKPT (default <data-dir>/encoder/checkpoint.pt).
Writes: one row per object to the Milvus collection of the checkpoint's encoder version (created when
        missing): the L2-normalised 2048-d vector, its norm, object_id, survey, mag_g/r/z, ra, dec,
        source_type, shard and row; and <data-dir>/embed/<version>/done/*.json, one marker per finished shard.

Images are centre-cropped and stretched as at training time; when the checkpoint holds a whitening (training
fits one; see 'lensdb encoder whiten --help'), the backbone's output is whitened before it is normalised.
Shards are checked like 'lensdb ingest' (a bad shard stops the job with a message naming file, key and
problem). Re-running is safe: finished
shards are skipped, and vectors are upserted by object_id, so a shard interrupted half-way is redone
without duplicates. A collection recording another encoder version is refused.

Kubernetes indexed Jobs: --shard $JOB_COMPLETION_INDEX/N takes every N-th shard of the sorted list.
"""


def register(sub) -> None:
    """Add ``embed`` to the lensdb parser."""
    p = sub.add_parser("embed", help="embed shards with the encoder into the vector store",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shards", nargs="+", metavar="SHARDS", help="shard files or folders of *.h5")
    p.add_argument("--checkpoint", type=Path, metavar="CKPT",
                   help="encoder checkpoint (default <data-dir>/encoder/checkpoint.pt)")
    p.add_argument("--batch-size", type=int, default=256, metavar="N", help="images per forward pass (default 256)")
    p.add_argument("--chunk-rows", type=int, metavar="N",
                   help="images per HDF5 read and per vector-store write (default: 64 MiB of pixels)")
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="auto: bf16 autocast on CUDA, fp32 on CPU")
    p.add_argument("--shard", dest="partition", metavar="i/n",
                   help="embed only every n-th shard of the sorted list, starting at i (0-based)")
    p.add_argument("--survey", choices=("south", "north"),
                   help="survey of rows whose release is not 9010/9011, in shards without a 'survey' column")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--read-workers", type=int, default=0, metavar="N",
                   help="processes reading the shards (default 0: one reader thread, the fastest for uncompressed "
                        "shards); try 2-4 for gzip shards or slow network storage")
    p.add_argument("--orientations", type=int, choices=(1, 8),
                   help="8: each vector the mean over the object's 8 orientations (rotations by 90 degrees x flips), "
                        "1: none (default: the checkpoint's setting); another setting is another encoder version, "
                        "so its vectors go to their own collection")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    import torch

    from lensdb.core.partition import parse_partition
    from lensdb.core.progress import ProgressBar
    from lensdb.services.embedding import embed_shards

    if args.partition:
        parse_partition(args.partition)  # fail before loading anything
    if args.threads:
        torch.set_num_threads(args.threads)
    with ProgressBar(disable=True if args.no_progress else None) as progress:
        report = embed_shards(settings, args.shards, args.checkpoint, batch_size=args.batch_size,
                              device=args.device, precision=args.precision, partition=args.partition,
                              chunk_rows=args.chunk_rows, survey=args.survey, progress=progress,
                              read_workers=args.read_workers, orientations=args.orientations)
    for s in report.shards:
        if s.status == "embedded":
            rate = s.rows / s.seconds if s.seconds else 0.0
            print(f"embedded  {s.path}: {s.rows:,} vectors in {s.seconds:.1f} s ({rate:,.0f} images/s)")
        else:
            print(f"skipped   {s.path}: already embedded with this encoder")
    print(f"embed: {report.summary()}")
    return 0
