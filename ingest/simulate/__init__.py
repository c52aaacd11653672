"""Simulated DESI Legacy Surveys DR9 cutouts in the released shard format (``lensdb simulate``).

Public API::

    from lensdb.ingest.simulate import SimulateConfig, simulate_survey
    result = simulate_survey(SimulateConfig(n_objects=2000, seed=1), "/data/survey")   # shards + truth.csv
    images, columns, truth = simulate_arrays(SimulateConfig(n_objects=50, seed=1))       # the same, in memory

    from lensdb.ingest.simulate import draw_object, render
    spec = draw_object(np.random.default_rng(7), cls="lens")   # one object (forced class optional)
    image = render(spec, cutout=152, rng=np.random.default_rng(8))   # (3, 152, 152) float32 nanomaggies

Modules: ``conditions`` (PSF, noise, depth, extinction), ``profiles`` (Sersic, rings, spiral arms), ``lensing``
(SIE + shear), ``population`` and ``systems`` (what is drawn), ``objects`` (one object), ``scene`` (rendering),
``sky`` (footprints, bricks), ``catalog`` (columns, truth), ``survey`` (shards), ``preview``, ``cli``.
"""

from lensdb.ingest.simulate.catalog import TRUTH_COLUMNS, read_truth
from lensdb.ingest.simulate.config import SimulateConfig
from lensdb.ingest.simulate.objects import ObjectSpec, draw_object
from lensdb.ingest.simulate.preview import write_preview
from lensdb.ingest.simulate.scene import render
from lensdb.ingest.simulate.survey import SurveyResult, simulate_arrays, simulate_survey
from lensdb.ingest.simulate.systems import CLASSES, LOOKALIKES

__all__ = [
    "CLASSES",
    "LOOKALIKES",
    "TRUTH_COLUMNS",
    "ObjectSpec",
    "SimulateConfig",
    "SurveyResult",
    "draw_object",
    "read_truth",
    "render",
    "simulate_arrays",
    "simulate_survey",
    "write_preview",
]
