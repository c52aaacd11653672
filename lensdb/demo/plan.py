"""What the demo runs: the sizes of the simulated survey and of every step (``FULL``, and ``QUICK`` for CI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class DemoPlan:
    """Sizes of one demo run; stored with the run's state, so a re-run with another plan is refused.

    Attributes:
        name: ``full`` or ``quick``.
        n_objects, shard_size, cutout, lens_rate: the simulated survey (cutout side in pixels).
        known_fraction: part of the simulated lenses imported as the "known" lenses (the paper had 1,615).
        seed: seeds the survey, the known-lens draw and the encoder.
        epochs: encoder training passes over its sample (None = the small preset's); ignored with a time budget.
        time_budget_s: train the encoder for this many seconds of wall-clock time instead (the same duration on any
            machine; a faster or less loaded one does more steps), None = by epochs.
        top_k: neighbours per similarity search; the lens fraction among them is reported.
        probe_ratios: lens : non-lens training ratios to try; the best by TP@N is kept.
        enrichment_k: neighbours per lens in the three-way check that the encoder learned.
    """

    name: str
    n_objects: int
    shard_size: int
    cutout: int
    lens_rate: float
    known_fraction: float = 0.6
    seed: int = 2021
    epochs: int | None = None
    time_budget_s: float | None = None
    top_k: int = 512
    probe_ratios: tuple[int, ...] = (1, 10, 100, 1000)
    enrichment_k: int = 100

    def with_objects(self, n: int) -> DemoPlan:
        return replace(self, n_objects=n)

    def to_dict(self) -> dict:
        return {**asdict(self), "probe_ratios": list(self.probe_ratios)}


FULL = DemoPlan(name="full", n_objects=20_000, shard_size=2_500, cutout=112, lens_rate=0.015, time_budget_s=600.0)
QUICK = DemoPlan(name="quick", n_objects=600, shard_size=200, cutout=112, lens_rate=0.06, epochs=2, top_k=64,
                 probe_ratios=(1, 4), enrichment_k=10)
