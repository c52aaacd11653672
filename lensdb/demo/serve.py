"""Demo step 8: start the gRPC server on a free loopback port, ask it what a user would, and stop it."""

from __future__ import annotations

import time

from lensdb.core.config import Settings


def round_trip(settings: Settings, version: str, checkpoint: str, query_id: int, model: str) -> dict:
    """Similarity search, catalogue lookups, a cone search and the probe's candidates, through the API.

    The server runs in this process (port 0: the system picks a free port) over the same data folder; the client
    speaks gRPC to it like any remote client. Returns what each call took and what it answered.
    """
    from lensdb.api_grpc.client import LensDBClient
    from lensdb.api_grpc.config import ServeConfig
    from lensdb.api_grpc.server import LensDBServer
    from lensdb.services.config import ServiceConfig

    config = ServeConfig.from_settings(settings, host="127.0.0.1", port=0, metrics_port=0, log_format="text",
                                       grace_s=2.0)
    service = ServiceConfig.from_settings(settings, encoder_version=version, checkpoint=checkpoint)
    server = LensDBServer(settings, config, service_config=service).start()
    calls: list[dict] = []

    def timed(name: str, fn, describe):
        t0 = time.perf_counter()
        out = fn()
        calls.append({"call": name, "ms": round(1000 * (time.perf_counter() - t0), 1), "answer": describe(out)})
        return out

    try:
        with LensDBClient(f"127.0.0.1:{server.port}", timeout=120) as client:
            hits = timed("Search.Similar (k=10)", lambda: client.similar(query_id, k=10),
                         lambda r: f"{len(r.hits)} hits, top similarity {r.hits[0].similarity:.3f}")
            rows = timed("Catalogue.GetObjects (10 ids)", lambda: client.objects(hits.ids, with_labels=True),
                         lambda r: f"{len(r.objects)} rows, {len(r.missing)} missing")
            first = rows.objects[0]
            timed("Catalogue.ConeSearch (60 arcsec)", lambda: client.cone(first.ra, first.dec, 60.0),
                  lambda r: f"{len(r.matches)} sources")
            timed("Search.SimilarStream (k=1000)", lambda: client.similar(query_id, k=1000, stream=True),
                  lambda r: f"{len(r.hits)} hits streamed")
            timed("Probes.ListModels", lambda: client.models(),
                  lambda r: ", ".join(m.name for m in r) or "none")
            timed("Probes.TopCandidates (page of 10)", lambda: client.candidates(model, page_size=10),
                  lambda r: f"{len(r.candidates)} candidates, best score {r.candidates[0].score:.3f}"
                  if r.candidates else "none")
    finally:
        server.stop(grace=2.0)
    return {"port": server.port, "calls": calls}
