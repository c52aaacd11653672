"""The catalogue: sources by id and by cone (with the labels they carry), from the relational database."""

from __future__ import annotations

import numpy as np

from lensdb.catalog import queries
from lensdb.services import validate
from lensdb.services.backends import Backends
from lensdb.services.errors import as_domain
from lensdb.services.types import CatalogObject, ConeResult, LabelInfo


def _opt(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _row_object(r, labels: tuple[LabelInfo, ...]) -> CatalogObject:
    return CatalogObject(
        object_id=int(r.object_id), release=int(r.release), brickid=int(r.brickid), objid=int(r.objid),
        survey=r.survey, ra=float(r.ra), dec=float(r.dec), mag_g=_opt(r.mag_g), mag_r=_opt(r.mag_r),
        mag_z=_opt(r.mag_z), ebv=float(r.ebv), source_type=r.source_type, z_phot_mean=_opt(r.z_phot_mean),
        z_phot_median=_opt(r.z_phot_median), z_phot_std=_opt(r.z_phot_std),
        psfsize=(r.psfsize_g, r.psfsize_r, r.psfsize_z), psfdepth=(r.psfdepth_g, r.psfdepth_r, r.psfdepth_z),
        shard=r.shard or "", row=int(r.row), labels=labels,
    )


class CatalogueService:
    """Reads of the ``sources`` table."""

    def __init__(self, backends: Backends):
        self.backends = backends

    def get_objects(self, ids, with_labels: bool = False) -> tuple[list[CatalogObject], list[int]]:
        """(objects in the order asked, ids not in the catalogue). Repeated ids are answered once each time."""
        arr = validate.object_ids("object_ids", ids, self.backends.config.max_ids)
        try:
            rows = self._rows(arr)
            labels = self.labels_of(rows.keys()) if with_labels else {}
        except Exception as exc:
            raise as_domain(exc) from exc
        found = [_row_object(rows[i], tuple(labels.get(i, ()))) for i in arr.tolist() if i in rows]
        missing = [i for i in dict.fromkeys(arr.tolist()) if i not in rows]
        return found, missing

    def cone(self, ra: float, dec: float, radius_arcsec: float, limit: int = 0,
             with_labels: bool = False) -> ConeResult:
        """Sources within ``radius_arcsec`` of (ra, dec), nearest first, at most ``limit`` (0 = page size)."""
        from lensdb.catalog.crossmatch import cone_search

        cfg = self.backends.config
        ra = validate.real("ra", ra, 0.0, 360.0)
        dec = validate.real("dec", dec, -90.0, 90.0)
        radius = validate.real("radius_arcsec", radius_arcsec, 0.0, cfg.max_cone_arcsec)
        limit = validate.page_size(limit, cfg.page_size, cfg.max_page_size)
        try:
            matches = cone_search(self.backends.engine, ra, dec, radius)
            ids = matches.object_id[:limit]
            rows = self._rows(ids)
            labels = self.labels_of(rows.keys()) if with_labels else {}
        except Exception as exc:
            raise as_domain(exc) from exc
        keep = [k for k, i in enumerate(ids.tolist()) if i in rows]  # a source deleted meanwhile is skipped
        return ConeResult(
            objects=[_row_object(rows[int(ids[k])], tuple(labels.get(int(ids[k]), ()))) for k in keep],
            separation_arcsec=[float(matches.separation_arcsec[k]) for k in keep],
            truncated=len(matches) > limit, method=matches.method,
        )

    def _rows(self, ids: np.ndarray) -> dict[int, object]:
        return queries.sources(self.backends.engine, ids)

    def labels_of(self, ids) -> dict[int, list[LabelInfo]]:
        """object id -> its labels in every set, oldest first."""
        return {i: [LabelInfo(lb.label_set, lb.label_class, lb.grade, lb.author, lb.created_at) for lb in labels]
                for i, labels in queries.labels_of(self.backends.engine, ids).items()}
