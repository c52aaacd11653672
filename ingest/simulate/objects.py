"""One simulated object: everything drawn for a cutout (survey, sky position, conditions, light components, catalogue
and truth values), from one random generator, so that an object depends only on the survey seed and its own index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lensdb.core.units import PIXEL_SCALE_ARCSEC, RELEASED_CUTOUT
from lensdb.ingest.simulate.conditions import Conditions, draw_conditions
from lensdb.ingest.simulate.population import Component, draw_photoz, field_components
from lensdb.ingest.simulate.sky import draw_position
from lensdb.ingest.simulate.systems import BUILDERS, CLASSES, LOOKALIKES

#: Objects are drawn over the released 152 px cutout plus a margin, whatever cutout size is rendered, so that a
#: smaller cutout of the same survey shows the same sky (its centre crop).
FIELD_HALF_EXTENT_ARCSEC = (RELEASED_CUTOUT / 2 + 16) * PIXEL_SCALE_ARCSEC

# DR9 mask bits used here: MEDIUM (bit 11, near a medium-bright star) and BRIGHT (bit 1, near a bright star).
MASK_BRIGHT, MASK_MEDIUM = 1 << 1, 1 << 11


@dataclass(frozen=True)
class ObjectSpec:
    """A drawn object, ready to render.

    Attributes:
        cls: truth class, one of :data:`lensdb.ingest.simulate.systems.CLASSES`.
        survey: "south" or "north".
        ra, dec: degrees.
        conditions: PSF, noise, extinction, exposures.
        components: every light component in the field, central object first (arcsec from the cutout centre).
        source_type: Tractor-like type of the central object (DEV, EXP, REX, SER).
        mag_z: intrinsic z magnitude of the central galaxy as drawn (before extinction).
        z: true redshift of the central galaxy.
        photoz: z_phot_* and z_spec columns.
        n_neighbours, n_stars: field neighbours and stars (faint background galaxies not counted).
        maskbits: DR9-style mask bits.
        lens: truth parameters for lenses, else None.
    """

    cls: str
    survey: str
    ra: float
    dec: float
    conditions: Conditions
    components: tuple[Component, ...]
    source_type: str
    mag_z: float
    z: float
    photoz: dict[str, float]
    n_neighbours: int
    n_stars: int
    maskbits: int
    lens: dict | None

    @property
    def central_flux(self) -> np.ndarray:
        """Intrinsic g, r, z flux of the central object (sum of its components), nanomaggies."""
        return np.sum([c.flux for c in self.components if c.central], axis=0)

    @property
    def flux(self) -> np.ndarray:
        """Observed g, r, z flux of the central object (after Galactic extinction), nanomaggies: the catalogue's."""
        return self.central_flux * self.conditions.transmission


def draw_class(rng: np.random.Generator, lens_rate: float, lookalike_rate: float) -> str:
    """``lens`` with probability lens_rate, one of the look-alikes (equally likely) with lookalike_rate, else galaxy."""
    u = rng.random()
    if u < lens_rate:
        return "lens"
    if u < lens_rate + lookalike_rate:
        return LOOKALIKES[int(rng.integers(len(LOOKALIKES)))]
    return "galaxy"


def draw_object(rng: np.random.Generator, *, lens_rate: float = 0.01, lookalike_rate: float = 0.04,
                north_fraction: float = 0.2, mag_range: tuple[float, float] = (15.5, 20.5),
                cls: str | None = None, survey: str | None = None,
                place: Callable[[np.random.Generator, str], tuple[float, float]] | None = None) -> ObjectSpec:
    """Draw one object.

    Args:
        rng: the object's own generator (for example ``np.random.default_rng([seed, index])``).
        lens_rate, lookalike_rate: probabilities of the lens and look-alike classes.
        north_fraction: probability that the object is in the north.
        mag_range: z magnitude range of ordinary central galaxies (other classes clip it to their own ranges).
        cls, survey: force the class or survey (previews, tests); drawn when None.
        place: ``place(rng, survey) -> (ra, dec)`` degrees; default uniform over the survey's footprint.
    """
    # The class and survey are drawn first and always, so forcing one does not shift the rest of the stream.
    drawn_cls = draw_class(rng, lens_rate, lookalike_rate)
    drawn_survey = "north" if rng.random() < north_fraction else "south"
    cls = cls or drawn_cls
    survey = survey or drawn_survey
    if cls not in CLASSES:
        raise ValueError(f"unknown class {cls!r}; known: {', '.join(CLASSES)}")
    cond = draw_conditions(rng, survey)
    ra, dec = (place or draw_position)(rng, survey)
    # The catalogue position falls anywhere inside the central pixel of the cutout.
    ox, oy = (rng.uniform(-0.5, 0.5, 2) * PIXEL_SCALE_ARCSEC).tolist()
    comps, stype, gal, lens = BUILDERS[cls](rng, cond, ox, oy, mag_range)
    field, n_neigh, n_stars, brightest = field_components(rng, FIELD_HALF_EXTENT_ARCSEC)
    maskbits = (MASK_MEDIUM if brightest < 16.0 else 0) | (MASK_BRIGHT if brightest < 14.0 else 0)
    return ObjectSpec(
        cls=cls, survey=survey, ra=ra, dec=dec, conditions=cond, components=tuple(comps + field),
        source_type=stype, mag_z=gal.mag_z, z=gal.z, photoz=draw_photoz(rng, gal.z, gal.red, gal.mag_z),
        n_neighbours=n_neigh, n_stars=n_stars, maskbits=maskbits, lens=lens,
    )
