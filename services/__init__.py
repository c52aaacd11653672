"""The service layer: the use cases of LensDB (search, look up, score, label, grade, read cutouts) as typed
requests in and typed results out, over the vector store, the catalogue, the classifiers and the encoder.
Capability lives here and knows no protocol: the gRPC servicers, the web page, the CLI and the demo only translate
their inputs to these calls and the results back.

    backends = Backends(settings, ServiceConfig.from_settings(settings))
    services = Services.build(backends)
    services.search.similar(SimilarQuery(k=10, object_id=oid))
"""

from __future__ import annotations

from dataclasses import dataclass

from lensdb.services.backends import Backends
from lensdb.services.catalogue import CatalogueService
from lensdb.services.config import ServiceConfig
from lensdb.services.cutouts import CutoutService
from lensdb.services.grading import GradingService
from lensdb.services.labels import LabelService
from lensdb.services.probes import ProbeService
from lensdb.services.search import SearchService


@dataclass(frozen=True)
class Services:
    """One instance of each service, sharing the same backends.

    ``Services.open(settings)`` makes them with their own backends (close them with ``services.close()``).
    """

    backends: Backends
    search: SearchService
    catalogue: CatalogueService
    probes: ProbeService
    labels: LabelService
    cutouts: CutoutService
    grading: GradingService

    @classmethod
    def build(cls, backends: Backends) -> Services:
        return cls(backends, SearchService(backends), CatalogueService(backends), ProbeService(backends),
                   LabelService(backends), CutoutService(backends), GradingService(backends))

    @classmethod
    def open(cls, settings, config: ServiceConfig | None = None) -> Services:
        """Services over new backends for ``settings`` (``config`` default: the ``[service]`` section)."""
        return cls.build(Backends(settings, config or ServiceConfig.from_settings(settings)))

    def close(self) -> None:
        """Close the backends (database pool, Milvus connections)."""
        self.backends.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
