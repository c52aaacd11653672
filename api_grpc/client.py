"""A Python client of the LensDB gRPC API.

    from lensdb.api_grpc.client import Filters, LensDBClient

    with LensDBClient("lensdb.example.org:50051", token=os.environ["LENSDB_API_TOKEN"]) as api:
        res = api.similar(object_id=9010123456, k=50, filters=Filters(surveys=("south",), window=0.5))
        for hit in res.hits:
            print(hit.rank, hit.object_id, hit.similarity, hit.mag_r)
        api.save_grid([h.object_id for h in res.hits], "similar.png")

In a notebook, list-returning calls take ``table=True`` and answer an astropy Table (units on ra, dec and magnitudes,
a Legacy Survey ``viewer`` column, the query or model in ``table.meta``); a search result shows itself as a grid of
its stamps and its table, and :meth:`LensDBClient.gallery` draws any objects (see :mod:`lensdb.api_grpc.notebook`).

Errors come back as :class:`ApiError` (a :class:`lensdb.core.errors.LensDBError`) carrying the gRPC status code.
Read-only calls are retried by the channel on UNAVAILABLE (up to 3 attempts with backoff); writes never are.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from lensdb.api_grpc.gen.lensdb.v1 import (
    catalogue_pb2,
    catalogue_pb2_grpc,
    common_pb2,
    cutouts_pb2,
    cutouts_pb2_grpc,
    labels_pb2,
    labels_pb2_grpc,
    probes_pb2,
    probes_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)
from lensdb.core.errors import LensDBError

DEFAULT_TARGET = "localhost:50051"
#: Above this k, :meth:`LensDBClient.similar` streams the answer.
STREAM_ABOVE_K = 1000
_READ_METHODS = {
    "lensdb.v1.Search": ("Similar", "SimilarStream", "Unusual"),
    "lensdb.v1.Catalogue": ("GetObjects", "ConeSearch"),
    "lensdb.v1.Probes": ("ListModels", "TopCandidates", "ScoreObjects"),
    "lensdb.v1.Labels": ("ListLabelSets", "GetLabelSet"),
    "lensdb.v1.Cutouts": ("GetCutout",),
}
#: Channel-level retries of the read-only methods when the server answers UNAVAILABLE (a backend is down, or
#: the pod is restarting); gRPC replays the request itself.
SERVICE_CONFIG = {
    "methodConfig": [{
        "name": [{"service": s, "method": m} for s, methods in _READ_METHODS.items() for m in methods],
        "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.2s", "maxBackoff": "2s", "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"]},
    }]
}


class ApiError(LensDBError):
    """The server answered with an error status.

    Attributes:
        code: the :class:`grpc.StatusCode`.
        details: the server's message.
    """

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code, self.details = code, details


def _api(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except grpc.RpcError as exc:
            raise ApiError(exc.code(), exc.details() or "") from None

    return call


@dataclass(frozen=True)
class Filters:
    """Conditions on search hits (all given ones hold).

    Attributes:
        surveys: ``south`` and/or ``north``.
        mag: band -> (low, high) AB mag, either may be None; e.g. ``{"r": (17, 20)}``.
        window: r-band half-width (AB mag) around the query object's mag_r, or (width, centre).
        cone: (ra, dec, radius_arcsec).
        types: Tractor types (PSF, REX, DEV, EXP, SER, DUP).
        exclude: object ids never returned.
        exclude_labelled: drop objects with a label (in ``label_set``, or any).
        dedupe_px: drop hits within this many pixels of a better hit (the paper's tool used 96).
    """

    surveys: Sequence[str] = ()
    mag: dict = field(default_factory=dict)
    window: float | tuple[float, float] | None = None
    cone: tuple[float, float, float] | None = None
    types: Sequence[str] = ()
    exclude: Sequence[int] = ()
    exclude_labelled: bool = False
    label_set: str | None = None
    dedupe_px: float | None = None

    def to_pb(self) -> search_pb2.SearchFilter:
        window = None
        if self.window is not None:
            width, centre = self.window if isinstance(self.window, tuple) else (self.window, None)
            window = search_pb2.MagWindow(width=width, centre=centre)
        cone = search_pb2.Cone(ra=self.cone[0], dec=self.cone[1], radius_arcsec=self.cone[2]) if self.cone else None
        return search_pb2.SearchFilter(
            surveys=list(self.surveys), mag_ranges=mag_ranges_pb(self.mag), window=window, cone=cone,
            source_types=list(self.types), exclude_ids=[int(i) for i in self.exclude],
            exclude_labelled=self.exclude_labelled, label_set=self.label_set or "",
            drop_duplicates_px=self.dedupe_px)


def mag_ranges_pb(mag: dict) -> list[common_pb2.MagRange]:
    return [common_pb2.MagRange(band=band, low=lo, high=hi) for band, (lo, hi) in mag.items()]


@dataclass(frozen=True)
class Hit:
    """One search hit (magnitudes None when not detected)."""

    rank: int
    object_id: int
    similarity: float
    ra: float
    dec: float
    survey: str
    mag_g: float | None
    mag_r: float | None
    mag_z: float | None
    source_type: str


@dataclass(frozen=True)
class SearchResult:
    """The hits of a similarity search. In Jupyter it shows its first stamps and its table."""

    hits: list[Hit]
    encoder_version: str
    query_object_id: int | None
    match_separation_arcsec: float | None
    #: What was asked (object id or position, k, filters), as the table's meta records it.
    query: dict = field(default_factory=dict, compare=False)
    client: LensDBClient | None = field(default=None, repr=False, compare=False)

    @property
    def ids(self) -> list[int]:
        return [h.object_id for h in self.hits]

    def to_table(self):
        """An astropy Table of the hits (units, viewer links; query and encoder version in ``meta``)."""
        from lensdb.api_grpc.notebook import hits_table

        return hits_table(self.hits, {"query": dict(self.query), "encoder": self.encoder_version,
                                      "queryobj": self.query_object_id or 0})

    def gallery(self, n: int | None = None, *, ncols: int = 8, crop: int = 0):
        """A :class:`~lensdb.api_grpc.notebook.Gallery` of the first ``n`` hits' stamps (captioned rank: id)."""
        from lensdb.api_grpc.notebook import SHOW_STAMPS

        if self.client is None:
            raise LensDBError("this result has no connection to draw its cutouts with: use LensDBClient.gallery")
        hits = self.hits[: SHOW_STAMPS if n is None else n]
        return self.client.gallery([h.object_id for h in hits], captions=[f"{h.rank}: {h.object_id}" for h in hits],
                                   positions=[(h.ra, h.dec) for h in hits], ncols=ncols, crop=crop)

    def _repr_html_(self) -> str:
        table = self.to_table()._repr_html_()
        if not self.hits or self.client is None:
            return table
        return self.gallery()._repr_html_() + table


def _opt(message, name):
    return getattr(message, name) if message.HasField(name) else None


def _hit(h: search_pb2.Hit) -> Hit:
    o = h.object
    return Hit(h.rank, o.object_id, h.similarity, o.ra, o.dec, o.survey, _opt(o, "mag_g"), _opt(o, "mag_r"),
               _opt(o, "mag_z"), o.source_type)


class LensDBClient:
    """A connection to a LensDB server.

    Args:
        target: ``host:port``.
        token: bearer token (the server's ``LENSDB_API_TOKEN``); None = send none.
        root_certificates: PEM of the CA (or self-signed certificate) to trust; switches TLS on.
        tls: use TLS with the system's trusted CAs.
        server_name: name to check the server certificate against, when it differs from the target's host.
        timeout: default deadline of each call, seconds.
        max_message_mb: largest message sent or received, MiB.
    """

    def __init__(self, target: str = DEFAULT_TARGET, *, token: str | None = None,
                 root_certificates: bytes | None = None, tls: bool = False, server_name: str | None = None,
                 timeout: float = 60.0, max_message_mb: int = 64):
        options = [("grpc.max_receive_message_length", max_message_mb << 20),
                   ("grpc.max_send_message_length", max_message_mb << 20),
                   ("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(SERVICE_CONFIG))]
        if tls or root_certificates:
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self.channel = grpc.secure_channel(target, creds, options)
        else:
            self.channel = grpc.insecure_channel(target, options)
        self.timeout = timeout
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.search = search_pb2_grpc.SearchStub(self.channel)
        self.catalogue = catalogue_pb2_grpc.CatalogueStub(self.channel)
        self.probes = probes_pb2_grpc.ProbesStub(self.channel)
        self.labels = labels_pb2_grpc.LabelsStub(self.channel)
        self.cutouts = cutouts_pb2_grpc.CutoutsStub(self.channel)

    def _kw(self, timeout: float | None) -> dict:
        return {"timeout": self.timeout if timeout is None else timeout, "metadata": self.metadata}

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> LensDBClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ search
    def similar_request(self, object_id: int | None = None, *, ra: float | None = None, dec: float | None = None,
                        match_radius_arcsec: float = 0.0, vector: Iterable[float] | None = None,
                        image: np.ndarray | None = None, k: int = 10, filters: Filters | None = None,
                        encoder_version: str | None = None, include_query: bool = False,
                        positives: Iterable[int] | None = None, negatives: Iterable[int] = (),
                        method: str = "") -> search_pb2.SimilarRequest:
        """The request message of :meth:`similar` (give exactly one of object_id, ra/dec, vector, image,
        positives; ``negatives`` and ``method`` go with ``positives``: a few-shot query)."""
        req = search_pb2.SimilarRequest(k=k, filter=(filters or Filters()).to_pb(),
                                        encoder_version=encoder_version or "", include_query=include_query)
        if object_id is not None:
            req.object_id = int(object_id)
        elif ra is not None and dec is not None:
            req.position.CopyFrom(search_pb2.SkyPosition(ra=ra, dec=dec, match_radius_arcsec=match_radius_arcsec))
        elif vector is not None:
            req.vector.values.extend(np.asarray(vector, np.float32).ravel().tolist())
        elif image is not None:
            arr = np.ascontiguousarray(image, dtype="<f4")
            req.cutout.CopyFrom(common_pb2.Array(shape=list(arr.shape), dtype="float32", data=arr.tobytes()))
        elif positives is not None:
            req.examples.CopyFrom(search_pb2.Examples(positive_ids=[int(i) for i in positives],
                                                      negative_ids=[int(i) for i in negatives], method=method))
        return req

    @_api
    def similar(self, object_id: int | None = None, *, stream: bool | None = None, timeout: float | None = None,
                table: bool = False, **kwargs):
        """Objects similar to an object, a sky position (``ra``, ``dec``), a ``vector`` or an ``image``
        ((3, S, S) g, r, z nanomaggies). Keyword arguments as :meth:`similar_request`; streams when ``k`` is
        above :data:`STREAM_ABOVE_K` (or ``stream=True``). ``table=True``: the hits as an astropy Table."""
        req = self.similar_request(object_id, **kwargs)
        query = {k: v for k, v in (("object_id", object_id), ("ra", kwargs.get("ra")), ("dec", kwargs.get("dec")),
                                   ("k", req.k)) if v is not None}
        if kwargs.get("filters") is not None:
            query["filters"] = repr(kwargs["filters"])
        if stream or (stream is None and req.k > STREAM_ABOVE_K):
            parts = list(self.search.SimilarStream(req, **self._kw(timeout)))
        else:
            parts = [self.search.Similar(req, **self._kw(timeout))]
        q = parts[0].query if parts else search_pb2.QueryInfo()
        result = SearchResult(hits=[_hit(h) for p in parts for h in p.hits], encoder_version=q.encoder_version,
                              query_object_id=_opt(q, "object_id"),
                              match_separation_arcsec=_opt(q, "match_separation_arcsec"), query=query, client=self)
        return result.to_table() if table else result

    def iter_similar(self, object_id: int | None = None, *, timeout: float | None = None, **kwargs) -> Iterator[Hit]:
        """Hits of a streamed search as they arrive."""
        try:
            for part in self.search.SimilarStream(self.similar_request(object_id, **kwargs), **self._kw(timeout)):
                yield from (_hit(h) for h in part.hits)
        except grpc.RpcError as exc:
            raise ApiError(exc.code(), exc.details() or "") from None

    @_api
    def unusual(self, k: int = 100, *, method: str = "", neighbours: int = 0, encoder_version: str | None = None,
                exclude_ids: Iterable[int] = (), timeout: float | None = None) -> search_pb2.UnusualResponse:
        """The ``k`` most unusual stored objects (``.hits``: rank, score, object), most unusual first."""
        req = search_pb2.UnusualRequest(k=k, method=method, neighbours=neighbours,
                                        encoder_version=encoder_version or "",
                                        exclude_ids=[int(i) for i in exclude_ids])
        return self.search.Unusual(req, **self._kw(timeout))

    # ------------------------------------------------------------------ catalogue
    @_api
    def objects(self, ids: Iterable[int], *, with_labels: bool = False, timeout: float | None = None,
                table: bool = False):
        """Catalogue rows of ``ids`` (``.objects``) and the ids not found (``.missing``); ``table=True``: an
        astropy Table of the rows (the missing ids in its ``meta``)."""
        req = catalogue_pb2.GetObjectsRequest(object_ids=[int(i) for i in ids], with_labels=with_labels)
        resp = self.catalogue.GetObjects(req, **self._kw(timeout))
        if not table:
            return resp
        from lensdb.api_grpc.notebook import objects_table

        return objects_table(resp.objects, {"query": {"object_ids": list(req.object_ids)},
                                            "missing": list(resp.missing)})

    @_api
    def cone(self, ra: float, dec: float, radius_arcsec: float, *, limit: int = 0, with_labels: bool = False,
             timeout: float | None = None, table: bool = False):
        """Sources within ``radius_arcsec`` of (ra, dec), nearest first (``.matches``); ``table=True``: an astropy
        Table with ``separation_arcsec`` (the cone, the index that answered and truncation in ``meta``)."""
        req = catalogue_pb2.ConeSearchRequest(ra=ra, dec=dec, radius_arcsec=radius_arcsec, limit=limit,
                                              with_labels=with_labels)
        resp = self.catalogue.ConeSearch(req, **self._kw(timeout))
        if not table:
            return resp
        from lensdb.api_grpc.notebook import cone_table

        return cone_table(resp.matches, {"query": {"ra": ra, "dec": dec, "radius_arcsec": radius_arcsec,
                                                   "limit": limit}, "method": resp.method,
                                         "complete": not resp.truncated})

    # ------------------------------------------------------------------ probes
    @_api
    def models(self, kinds: Sequence[str] = (), timeout: float | None = None, table: bool = False):
        """The stored models (``table=True``: as an astropy Table)."""
        models = list(self.probes.ListModels(probes_pb2.ListModelsRequest(kinds=list(kinds)),
                                             **self._kw(timeout)).models)
        if not table:
            return models
        from lensdb.api_grpc.notebook import messages_table

        return messages_table(models, {"query": {"kinds": list(kinds)}},
                              probes_pb2.ListModelsResponse.DESCRIPTOR.fields_by_name["models"].message_type)

    @_api
    def candidates(self, model: str, *, page_size: int = 0, page_token: str = "", surveys: Sequence[str] = (),
                   mag: dict | None = None, types: Sequence[str] = (), exclude_labelled: bool = False,
                   label_sets: Sequence[str] = (), min_score: float | None = None,
                   timeout: float | None = None, table: bool = False):
        """One page of a model's ranked candidates (``.candidates``, ``.next_page_token``); ``table=True``: an
        astropy Table of the page (the model, the filter and the next page token in ``meta``)."""
        flt = probes_pb2.CandidateFilter(surveys=list(surveys), mag_ranges=mag_ranges_pb(mag or {}),
                                         source_types=list(types), exclude_labelled=exclude_labelled,
                                         label_sets=list(label_sets), min_score=min_score)
        req = probes_pb2.TopCandidatesRequest(model=str(model), filter=flt, page_size=page_size,
                                              page_token=page_token)
        resp = self.probes.TopCandidates(req, **self._kw(timeout))
        if not table:
            return resp
        from lensdb.api_grpc.notebook import candidates_table

        return candidates_table(resp.candidates, {"model": resp.model or str(model), "query": {
            "surveys": list(surveys), "mag": dict(mag or {}), "types": list(types),
            "exclude_labelled": exclude_labelled, "label_sets": list(label_sets), "min_score": min_score},
            "nextpage": resp.next_page_token})

    def iter_candidates(self, model: str, n: int, *, page_size: int = 0, **filters) -> Iterator[probes_pb2.Candidate]:
        """The first ``n`` candidates of a model, fetched page by page."""
        token, seen = "", 0
        while seen < n:
            page = self.candidates(model, page_size=page_size, page_token=token, **filters)
            yield from page.candidates[: n - seen]
            seen += len(page.candidates)
            token = page.next_page_token
            if not token:
                return

    @_api
    def score(self, model: str, ids: Iterable[int], timeout: float | None = None) -> probes_pb2.ScoreObjectsResponse:
        req = probes_pb2.ScoreObjectsRequest(model=str(model), object_ids=[int(i) for i in ids])
        return self.probes.ScoreObjects(req, **self._kw(timeout))

    # ------------------------------------------------------------------ labels
    @_api
    def add_labels(self, label_set: str, labels: Iterable[tuple], *, author: str = "", description: str = "",
                   timeout: float | None = None) -> labels_pb2.AddLabelsResponse:
        """``labels``: (object_id, class) or (object_id, class, grade) tuples."""
        items = [labels_pb2.NewLabel(object_id=int(lb[0]), label_class=lb[1],
                                     grade=(lb[2] if len(lb) > 2 else "") or "") for lb in labels]
        req = labels_pb2.AddLabelsRequest(label_set=label_set, labels=items, author=author, description=description)
        return self.labels.AddLabels(req, **self._kw(timeout))

    @_api
    def remove_labels(self, label_set: str, ids: Iterable[int], label_class: str = "",
                      timeout: float | None = None) -> int:
        req = labels_pb2.RemoveLabelsRequest(label_set=label_set, object_ids=[int(i) for i in ids],
                                             label_class=label_class)
        return self.labels.RemoveLabels(req, **self._kw(timeout)).removed

    @_api
    def grade(self, grades: dict[int, str], *, author: str = "", model: str = "", label_set: str = "",
              note: str = "", timeout: float | None = None) -> labels_pb2.RecordGradesResponse:
        """Record grades: object id -> ``A``, ``B`` or ``not_lens``."""
        req = labels_pb2.RecordGradesRequest(grades=[labels_pb2.Grade(object_id=int(o), grade=g)
                                                     for o, g in grades.items()],
                                             author=author, model=str(model), label_set=label_set, note=note)
        return self.labels.RecordGrades(req, **self._kw(timeout))

    @_api
    def label_sets(self, name: str = "", timeout: float | None = None, table: bool = False):
        """Label sets with their counts (``table=True``: as an astropy Table)."""
        sets = list(self.labels.ListLabelSets(labels_pb2.ListLabelSetsRequest(name=name), **self._kw(timeout))
                    .label_sets)
        if not table:
            return sets
        from lensdb.api_grpc.notebook import messages_table

        return messages_table(sets, {"query": {"name": name}},
                              labels_pb2.ListLabelSetsResponse.DESCRIPTOR.fields_by_name["label_sets"].message_type)

    @_api
    def label_set(self, name: str, *, label_class: str = "", page_size: int = 0, page_token: str = "",
                  timeout: float | None = None, table: bool = False):
        """One page of a label set's labels (``table=True``: as an astropy Table, the set in ``meta``)."""
        req = labels_pb2.GetLabelSetRequest(name=name, label_class=label_class, page_size=page_size,
                                            page_token=page_token)
        resp = self.labels.GetLabelSet(req, **self._kw(timeout))
        if not table:
            return resp
        from lensdb.api_grpc.notebook import messages_table

        return messages_table(resp.labels, {"labelset": name, "query": {"label_class": label_class},
                                            "nextpage": resp.next_page_token},
                              labels_pb2.GetLabelSetResponse.DESCRIPTOR.fields_by_name["labels"].message_type)

    @_api
    def import_lens_list(self, path: str | Path, *, name: str = "", radius_arcsec: float = 0.0, author: str = "",
                         grade_map: str = "", replace: bool = False, confirm_replace: str = "",
                         timeout: float | None = None) -> labels_pb2.ImportLensListResponse:
        """Upload a known-lens list (CSV, TSV, or FITS, VOTable, ECSV, parquet by the file's ending); the server
        cross-matches it into a label set. Replacing a set that holds another list needs ``replace=True`` and
        ``confirm_replace`` = that set's name."""
        path = Path(path)
        req = labels_pb2.ImportLensListRequest(name=name, filename=path.name, content=path.read_bytes(),
                                               radius_arcsec=radius_arcsec, author=author, grade_map=grade_map,
                                               replace=replace, confirm_replace=confirm_replace)
        return self.labels.ImportLensList(req, **self._kw(timeout))

    # ------------------------------------------------------------------ cutouts
    @_api
    def cutout_png(self, object_id: int, *, crop: int = 0, timeout: float | None = None) -> bytes:
        """The object's cutout as PNG bytes (Legacy Survey viewer stretch)."""
        req = cutouts_pb2.GetCutoutRequest(object_id=int(object_id), format=cutouts_pb2.CUTOUT_FORMAT_PNG, crop=crop)
        return self.cutouts.GetCutout(req, **self._kw(timeout)).png

    @_api
    def cutout(self, object_id: int, *, crop: int = 0, timeout: float | None = None) -> np.ndarray:
        """The object's cutout, (3, S, S) float32 g, r, z nanomaggies."""
        req = cutouts_pb2.GetCutoutRequest(object_id=int(object_id), format=cutouts_pb2.CUTOUT_FORMAT_RAW, crop=crop)
        raw = self.cutouts.GetCutout(req, **self._kw(timeout)).raw
        dtype = {"float32": "<f4", "float16": "<f2"}[raw.dtype]
        return np.frombuffer(raw.data, dtype=dtype).reshape(tuple(raw.shape)).astype(np.float32)

    def gallery(self, ids: Sequence[int], *, captions: Sequence[str] | None = None,
                positions: Sequence[tuple[float, float]] | None = None, crop: int = 0, ncols: int = 8):
        """A grid of the cutouts of ``ids`` that Jupyter shows (PNG, or HTML tiles linked to the viewer);
        ``.save(path)`` writes the PNG. Captions default to the ids; positions (for the links) are looked up."""
        from lensdb.api_grpc.notebook import Gallery
        from lensdb.core.exports import viewer_url

        ids = [int(i) for i in ids]
        if not ids:
            raise LensDBError("nothing to draw: no object ids")
        images = [self.cutout(i, crop=crop) for i in ids]
        side = min(im.shape[-1] for im in images)
        lo = [(im.shape[-1] - side) // 2 for im in images]
        stack = np.stack([im[:, o:o + side, o:o + side] for im, o in zip(images, lo, strict=True)])
        if positions is None:
            found = {o.object_id: (o.ra, o.dec) for o in self.objects(ids).objects}
            positions = [found.get(i) for i in ids]
        links = [viewer_url(*p) if p else "" for p in positions]
        return Gallery(stack, list(captions) if captions else [str(i) for i in ids], links, ncols)

    def save_grid(self, ids: Sequence[int], path: str | Path, *, crop: int = 0, titles: Sequence[str] | None = None,
                  ncols: int = 8) -> Path:
        """Write a PNG grid of the cutouts of ``ids`` (viewer stretch), captioned with ``titles`` (default ranks)."""
        from lensdb.core.display import save_grid

        if not ids:
            raise LensDBError("nothing to draw: no object ids")
        images = [self.cutout(i, crop=crop) for i in ids]
        side = min(im.shape[-1] for im in images)
        lo = [(im.shape[-1] - side) // 2 for im in images]
        stack = np.stack([im[:, o:o + side, o:o + side] for im, o in zip(images, lo, strict=True)])
        captions = list(titles) if titles else [str(k + 1) for k in range(len(ids))]
        return save_grid(stack, path, ncols=ncols, titles=captions)
