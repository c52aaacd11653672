"""``lensdb.v1.Catalogue``: sources by id and by cone."""

from __future__ import annotations

from lensdb.api_grpc import errors
from lensdb.api_grpc.gen.lensdb.v1 import catalogue_pb2, catalogue_pb2_grpc
from lensdb.api_grpc.servicers import convert
from lensdb.services import Services
from lensdb.services.types import CatalogObject


def object_pb(obj: CatalogObject) -> catalogue_pb2.CatalogObject:
    labels = [catalogue_pb2.ObjectLabel(label_set=lb.label_set, label_class=lb.label_class, grade=lb.grade or "",
                                        author=lb.author or "", created_at=convert.timestamp(lb.created_at))
              for lb in obj.labels]
    return catalogue_pb2.CatalogObject(
        object_id=obj.object_id, release=obj.release, brickid=obj.brickid, objid=obj.objid, survey=obj.survey,
        ra=obj.ra, dec=obj.dec, mag_g=obj.mag_g, mag_r=obj.mag_r, mag_z=obj.mag_z, ebv=obj.ebv,
        source_type=obj.source_type, z_phot_mean=obj.z_phot_mean, z_phot_median=obj.z_phot_median,
        z_phot_std=obj.z_phot_std, psfsize=list(obj.psfsize), psfdepth=list(obj.psfdepth), shard=obj.shard,
        row=obj.row, labels=labels,
    )


class CatalogueServicer(catalogue_pb2_grpc.CatalogueServicer):
    """Catalogue reads (see :class:`lensdb.services.catalogue.CatalogueService`)."""

    def __init__(self, services: Services):
        self.services = services

    @errors.unary
    def GetObjects(self, request, context):
        found, missing = self.services.catalogue.get_objects(request.object_ids, request.with_labels)
        return catalogue_pb2.GetObjectsResponse(objects=[object_pb(o) for o in found], missing=missing)

    @errors.unary
    def ConeSearch(self, request, context):
        res = self.services.catalogue.cone(request.ra, request.dec, request.radius_arcsec, request.limit,
                                           request.with_labels)
        matches = [catalogue_pb2.ConeMatch(object=object_pb(o), separation_arcsec=s)
                   for o, s in zip(res.objects, res.separation_arcsec, strict=True)]
        return catalogue_pb2.ConeSearchResponse(matches=matches, truncated=res.truncated, method=res.method)
