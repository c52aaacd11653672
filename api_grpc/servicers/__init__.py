"""The gRPC servicers: each translates its service's messages to service-layer calls and back, nothing more.

:func:`add_all` registers every LensDB service on a server; :data:`SERVICE_NAMES` are their full names (for
health and reflection).
"""

from __future__ import annotations

import grpc

from lensdb.api_grpc.gen.lensdb.v1 import (
    catalogue_pb2,
    catalogue_pb2_grpc,
    cutouts_pb2,
    cutouts_pb2_grpc,
    labels_pb2,
    labels_pb2_grpc,
    probes_pb2,
    probes_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)
from lensdb.api_grpc.servicers.catalogue import CatalogueServicer
from lensdb.api_grpc.servicers.cutouts import CutoutsServicer
from lensdb.api_grpc.servicers.labels import LabelsServicer
from lensdb.api_grpc.servicers.probes import ProbesServicer
from lensdb.api_grpc.servicers.search import SearchServicer
from lensdb.services import Services

SERVICE_NAMES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (search_pb2, "Search"),
        (catalogue_pb2, "Catalogue"),
        (probes_pb2, "Probes"),
        (labels_pb2, "Labels"),
        (cutouts_pb2, "Cutouts"),
    )
)


def add_all(server: grpc.Server, services: Services, stream_chunk: int = 512) -> None:
    """Register the five LensDB services on ``server``; a streamed search sends ``stream_chunk`` hits a message."""
    search_pb2_grpc.add_SearchServicer_to_server(SearchServicer(services, stream_chunk), server)
    catalogue_pb2_grpc.add_CatalogueServicer_to_server(CatalogueServicer(services), server)
    probes_pb2_grpc.add_ProbesServicer_to_server(ProbesServicer(services), server)
    labels_pb2_grpc.add_LabelsServicer_to_server(LabelsServicer(services), server)
    cutouts_pb2_grpc.add_CutoutsServicer_to_server(CutoutsServicer(services), server)
