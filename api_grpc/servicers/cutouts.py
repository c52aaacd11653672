"""``lensdb.v1.Cutouts``: an object's image as PNG or as the raw float array."""

from __future__ import annotations

from lensdb.api_grpc import errors
from lensdb.api_grpc.gen.lensdb.v1 import cutouts_pb2, cutouts_pb2_grpc
from lensdb.api_grpc.servicers import convert
from lensdb.core.errors import InvalidInput
from lensdb.services import Services

RAW = cutouts_pb2.CUTOUT_FORMAT_RAW
PNG = cutouts_pb2.CUTOUT_FORMAT_PNG


class CutoutsServicer(cutouts_pb2_grpc.CutoutsServicer):
    """Cutouts (see :class:`lensdb.services.cutouts.CutoutService`)."""

    def __init__(self, services: Services):
        self.services = services

    @errors.unary
    def GetCutout(self, request, context):
        fmt = request.format or PNG
        if fmt not in (PNG, RAW):
            raise InvalidInput(f"format {request.format} is not PNG (1) or RAW (2)")
        cut = self.services.cutouts.get(request.object_id, crop=request.crop, png=fmt == PNG)
        return cutouts_pb2.Cutout(object_id=cut.object_id, format=fmt, png=cut.png or b"",
                                  raw=convert.array_pb(cut.image) if fmt == RAW else None,
                                  size=int(cut.image.shape[-1]), pixel_scale_arcsec=cut.pixel_scale_arcsec)
