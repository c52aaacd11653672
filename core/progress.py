"""Progress bars for long work (tqdm), fed by the progress events of LensDB's jobs."""

from __future__ import annotations

import sys

from tqdm import tqdm


class ProgressBar:
    """A tqdm bar (images, across every shard) fed by the progress events of
    :func:`lensdb.services.embedding.embed_shards` (``start`` with a shard's rows, ``rows`` with the rows just done);
    a context manager.

    Args:
        disable: True hides it; None shows it only on a terminal (tqdm's rule).
    """

    def __init__(self, disable: bool | None = None):
        self.bar = tqdm(total=0, unit="img", unit_scale=True, desc="embedded", file=sys.stderr, dynamic_ncols=True,
                        disable=disable)

    def __call__(self, event: str, name: str, n: int) -> None:
        if event == "start":
            self.bar.total += n
            self.bar.set_postfix_str(name)
            self.bar.refresh()
        else:
            self.bar.update(n)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
