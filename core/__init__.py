"""The ground floor: what every part of LensDB stands on, and which stands on nothing of LensDB's.

- :mod:`lensdb.core.errors`: the user-facing error types (one message naming the problem and what to do);
- :mod:`lensdb.core.config`: settings (defaults < config file < environment < flags) and typed config sections;
- :mod:`lensdb.core.ids`: the int64 ``object_id`` of (release, brickid, objid), survey names, bands;
- :mod:`lensdb.core.units`: the survey's constants (pixel scale, magnitude zero point, cutout sizes);
- :mod:`lensdb.core.partition`: the ``i/n`` work split of Kubernetes indexed Jobs;
- :mod:`lensdb.core.logs`: logging set-up;
- :mod:`lensdb.core.display`: the Legacy Survey viewer's colour stretch and PNG grids.

Nothing here imports another LensDB package (an import-linter contract checks it).
"""
