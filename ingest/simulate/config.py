"""Settings of ``lensdb simulate``: the ``[simulate]`` section of the config file, overridden by command-line flags.

Read them with ``load_section(SimulateConfig, settings, "simulate", **overrides)``; bad values raise
:class:`lensdb.core.errors.InvalidInput` naming the option.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from lensdb.core.errors import InvalidInput
from lensdb.core.units import MIN_CUTOUT, RELEASED_CUTOUT

DTYPES = ("float32", "float16")
COMPRESSIONS = ("none", "gzip", "lzf")


@dataclass(frozen=True)
class SimulateConfig:
    """What to simulate and where to write it.

    Attributes:
        n_objects: number of cutouts (objects) in the survey.
        lens_rate: fraction of objects that are strong lenses (the real sky has ~1e-4; 0.01 makes demos useful).
        lookalike_rate: fraction that are lens look-alikes (ring galaxies, spirals, blue companions, mergers).
        north_fraction: fraction of objects in the north (BASS + MzLS); DR9 has ~0.19.
        shard_size: objects per shard file (the released shards hold 1,000,000; a shard is built in memory).
        cutout: image side in pixels (0.262 arcsec), at least the training crop plus jitter (110).
        dtype: image storage type, "float32" (as released) or "float16" (half the disk).
        compression: HDF5 compression of the images: "none", "gzip" or "lzf".
        seed: survey seed; an object depends only on (seed, its index), never on shard size or workers.
        mag_z_min, mag_z_max: z magnitude range of ordinary central galaxies.
        workers: worker processes for rendering (1 = in this process).
        out_dir: output folder; default ``<data_dir>/survey``.
    """

    n_objects: int = 10_000
    lens_rate: float = 0.01
    lookalike_rate: float = 0.04
    north_fraction: float = 0.2
    shard_size: int = 1000
    cutout: int = RELEASED_CUTOUT
    dtype: Literal["float32", "float16"] = "float32"
    compression: Literal["none", "gzip", "lzf"] = "none"
    seed: int = 0
    mag_z_min: float = 15.5
    mag_z_max: float = 20.5
    workers: int = 1
    out_dir: Path | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.n_objects < 1:
            problems.append(f"n_objects must be at least 1, got {self.n_objects}")
        if self.shard_size < 1:
            problems.append(f"shard_size must be at least 1, got {self.shard_size}")
        if self.cutout < MIN_CUTOUT:
            problems.append(f"cutout must be at least {MIN_CUTOUT} px (96 px training crop + 2 x 7 px jitter), "
                            f"got {self.cutout}")
        if self.dtype not in DTYPES:
            problems.append(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.compression not in COMPRESSIONS:
            problems.append(f"compression must be one of {', '.join(COMPRESSIONS)}, got {self.compression!r}")
        for name in ("lens_rate", "lookalike_rate", "north_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(f"{name} must lie in [0, 1], got {value}")
        if self.lens_rate + self.lookalike_rate > 1.0:
            problems.append(f"lens_rate + lookalike_rate must not exceed 1, got {self.lens_rate + self.lookalike_rate}")
        if not 12.0 <= self.mag_z_min < self.mag_z_max <= 24.0:
            problems.append(f"need 12 <= mag_z_min < mag_z_max <= 24, got {self.mag_z_min}, {self.mag_z_max}")
        if self.workers < 1:
            problems.append(f"workers must be at least 1, got {self.workers}")
        if self.seed < 0:
            problems.append(f"seed must be non-negative, got {self.seed}")
        if problems:
            raise InvalidInput("simulate: " + "; ".join(problems))

    def survey_fields(self) -> dict[str, Any]:
        """The settings that decide the survey's content (not where it goes or how many workers make it)."""
        values = asdict(self)
        for key in ("workers", "out_dir"):
            values.pop(key)
        return values
