"""The service layer of the API: typed requests in, typed results out, over the vector store, the catalogue, the
classifiers and the encoder. Capability lives here; the gRPC servicers only translate messages.

    backends = Backends(settings, ServeConfig())
    services = Services.build(backends)
    services.search.similar(SimilarQuery(k=10, object_id=oid))
"""

from __future__ import annotations

from dataclasses import dataclass

from lensdb.api_grpc.services.backends import Backends
from lensdb.api_grpc.services.catalogue import CatalogueService
from lensdb.api_grpc.services.cutouts import CutoutService
from lensdb.api_grpc.services.labels import LabelService
from lensdb.api_grpc.services.probes import ProbeService
from lensdb.api_grpc.services.search import SearchService


@dataclass(frozen=True)
class Services:
    """One instance of each service, sharing the same backends."""

    backends: Backends
    search: SearchService
    catalogue: CatalogueService
    probes: ProbeService
    labels: LabelService
    cutouts: CutoutService

    @classmethod
    def build(cls, backends: Backends) -> Services:
        return cls(backends, SearchService(backends), CatalogueService(backends), ProbeService(backends),
                   LabelService(backends), CutoutService(backends))
