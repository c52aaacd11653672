"""Typed tunables of the vector store and of the bulk similarity array.

Both are frozen dataclasses read from the ``[vectordb]`` and ``[similarity]`` sections of the LensDB config file with
:func:`lensdb.core.config.load_section`; every field has a default that works on a laptop and on a Milvus 2.6 cluster::

    [vectordb]
    index_type = "HNSW"
    mag_r_edges = [17.0, 18.0, 19.0, 19.5, 20.0, 20.5, 21.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lensdb.core.config import Settings, load_section
from lensdb.core.errors import InvalidInput

#: r-band magnitude bin edges (AB mag) of the default partitions: 0.5 mag wide between 16 and 23, plus one open bin
#: on each side, so a +-0.5 mag window touches at most 3 of the 16 bins of a survey.
DEFAULT_MAG_R_EDGES: tuple[float, ...] = tuple(16.0 + 0.5 * i for i in range(15))

IndexType = Literal["HNSW", "FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW_SQ", "HNSW_PQ", "IVF_RABITQ"]
#: Indexes that keep the vectors compressed (int8 scalar codes, product-quantisation codes, 1-bit RaBitQ codes):
#: their scores are approximate, so every search re-ranks a shortlist exactly against the stored float vectors.
QUANTISED_INDEXES = ("IVF_SQ8", "IVF_PQ", "HNSW_SQ", "HNSW_PQ", "IVF_RABITQ")
#: Index types a Milvus server builds only from this version on (checked against the server's own version).
MIN_SERVER_VERSION = {"HNSW_SQ": (2, 6, 0), "HNSW_PQ": (2, 6, 0), "IVF_RABITQ": (2, 6, 0)}
Consistency = Literal["Strong", "Bounded", "Session", "Eventually"]


@dataclass(frozen=True)
class VectorDBConfig:
    """How vectors are stored and searched.

    Attributes:
        dim: vector dimension (2048 for the ResNet50 encoder; tests use small ones).
        mag_r_edges: increasing r-band bin edges, AB mag; rows with mag_r below the first edge or at/above the last
            go to the two open bins. Recorded in the collection when it is created; an existing collection keeps
            its own edges.
        index_type: HNSW (default; approximate, fast), FLAT (exact), IVF_FLAT (approximate, cheap to build), or a
            compact (quantised) index: IVF_SQ8 (1 byte per dimension), IVF_PQ (``pq_m`` bytes per vector),
            HNSW_SQ, HNSW_PQ and IVF_RABITQ (Milvus 2.6 or newer; refused by name on an older server).
        pq_m: product-quantisation sub-vectors of IVF_PQ / HNSW_PQ (bytes per vector at 8 bits; must divide the
            dimension); 0 = dim / 8.
        rerank_factor: a search on a quantised index asks the engine for ``rerank_factor x k`` candidates (up to
            ``max_topk`` per page) and orders them by the exact inner product with the stored float vectors.
        ranking_nprobe: IVF lists a probe's ranking (an inner-product search with its weight vector) scans; 0 =
            every list. A linear probe's weights are unlike any stored vector, so the lists nearest to them hold
            little of its top: with 64 of 1,024 lists the first 1,000 overlapped the exact ranking by 0.73 only
            (bench/results/scale.json). Scanning every list's codes stays inside the engine.
        hnsw_m, hnsw_ef_construction: HNSW graph degree and build-time beam width.
        ef_min, ef_factor, ef_max: HNSW search beam ``ef = clamp(max(ef_min, ef_factor * limit), limit, ef_max)``;
            ef is never below the page size, because HNSW returns fewer hits than asked otherwise.
        selectivity_ef: before each filtered HNSW search, count the matching rows and widen ef by
            (rows searched / rows matching), since a selective filter starves the graph walk of admissible
            neighbours. Off: ef widens only after a search returned fewer hits than asked (one retry).
        ivf_nlist, ivf_nprobe: IVF cluster count and clusters probed per query.
        max_topk: the engine's per-request limit on topk (16,384 on Milvus 2.x); deeper results are paged.
        max_k: the largest k a search accepts.
        max_message_bytes: upper bound on one insert request, bytes (gRPC messages are capped at 64 MB).
        max_batch_rows: upper bound on rows per insert request.
        max_expr_ids: excluded ids placed in the engine expression; more are removed on the client side.
        consistency_level: Milvus consistency of the collection; Strong makes a write visible to the next search.
        unit_norm_tol: allowed deviation of a stored vector's L2 norm from 1.
        collection_prefix: prefix of collection names (one collection per encoder version).
        connect_timeout_s: longest wait for a new connection, seconds.
        call_timeout_s: longest wait for one call (search, query, insert, ...), seconds.
        long_call_timeout_s: longest wait for a load, flush, index build, create or drop, seconds.
        call_retries: retries of a call that is safe to repeat (reads, loads, upserts, deletes by id) when the
            server could not be reached, each on a new connection; an insert is never retried.
        retry_backoff_s: wait before the first retry, doubled for each next one.
    """

    dim: int = 2048
    mag_r_edges: tuple[float, ...] = DEFAULT_MAG_R_EDGES
    index_type: IndexType = "HNSW"
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200
    ef_min: int = 64
    ef_factor: float = 1.5
    ef_max: int = 65536
    selectivity_ef: bool = False
    ivf_nlist: int = 1024
    ivf_nprobe: int = 64
    pq_m: int = 0
    rerank_factor: int = 4
    ranking_nprobe: int = 0
    max_topk: int = 16384
    max_k: int = 100_000
    max_message_bytes: int = 32 * 1024 * 1024
    max_batch_rows: int = 10_000
    max_expr_ids: int = 100_000
    consistency_level: Consistency = "Strong"
    unit_norm_tol: float = 1e-3
    collection_prefix: str = "lensdb"
    connect_timeout_s: float = 10.0
    call_timeout_s: float = 60.0
    long_call_timeout_s: float = 1800.0
    call_retries: int = 3
    retry_backoff_s: float = 0.5

    def __post_init__(self) -> None:
        edges = self.mag_r_edges
        if not edges or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise InvalidInput(f"[vectordb] mag_r_edges must be a non-empty increasing list; got {list(edges)}")
        if len(edges) > 200:
            raise InvalidInput("[vectordb] mag_r_edges: at most 200 edges (Milvus allows 1024 partitions)")
        for name in (
            "dim",
            "hnsw_m",
            "hnsw_ef_construction",
            "ef_min",
            "ef_max",
            "ivf_nlist",
            "ivf_nprobe",
            "max_topk",
            "max_k",
            "max_message_bytes",
            "max_batch_rows",
            "rerank_factor",
        ):
            if getattr(self, name) < 1:
                raise InvalidInput(f"[vectordb] {name} must be >= 1; got {getattr(self, name)}")
        for name in ("connect_timeout_s", "call_timeout_s", "long_call_timeout_s"):
            if not getattr(self, name) > 0:
                raise InvalidInput(f"[vectordb] {name} must be > 0 seconds; got {getattr(self, name)}")
        if self.ranking_nprobe < 0:
            raise InvalidInput(f"[vectordb] ranking_nprobe must be >= 0 (0 = every list); got {self.ranking_nprobe}")
        if self.pq_m < 0:
            raise InvalidInput(f"[vectordb] pq_m must be >= 0 (0 = dim / 8); got {self.pq_m}")
        if self.call_retries < 0 or self.retry_backoff_s < 0:
            raise InvalidInput("[vectordb] call_retries and retry_backoff_s must be >= 0")
        if self.ef_factor < 1.0:
            raise InvalidInput(f"[vectordb] ef_factor must be >= 1; got {self.ef_factor}")
        if self.max_topk > 16384:
            raise InvalidInput("[vectordb] max_topk above 16384 is refused by Milvus 2.x; lower it")

    @classmethod
    def from_settings(cls, settings: Settings | None, **overrides) -> VectorDBConfig:
        """The ``[vectordb]`` section of the config file, with keyword overrides (``None`` = not given)."""
        return load_section(cls, settings, "vectordb", **overrides)


Backend = Literal["auto", "faiss", "torch", "torch-bf16", "numpy"]


@dataclass(frozen=True)
class SimilarityConfig:
    """The bulk similarity array.

    Attributes:
        k: neighbours kept per object (the object itself excluded); the paper kept 999.
        window: r-band window, AB mag: a pair counts only when ``|mag_r(a) - mag_r(b)| < window``.
        chunk_rows: objects per output chunk (one pair of files); also the unit of sharding and resumption.
        block_rows: queries multiplied at once (memory: block_rows x tile_rows x 4 bytes of scores).
        tile_rows: database rows per matrix product inside a query block's magnitude slab.
        backend: inner-product kernel: ``auto`` (faiss), ``faiss``, ``torch``, ``torch-bf16`` (bf16 shortlist,
            fp32 re-score) or ``numpy``.
        bf16_shortlist: extra candidates kept per query by the bf16 pass before exact re-scoring.
    """

    k: int = 999
    window: float = 0.5
    chunk_rows: int = 16384
    block_rows: int = 1024
    tile_rows: int = 16384
    backend: Backend = "auto"
    bf16_shortlist: int = 64

    def __post_init__(self) -> None:
        for name in ("k", "chunk_rows", "block_rows", "tile_rows"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"[similarity] {name} must be >= 1; got {getattr(self, name)}")
        if not self.window > 0:
            raise InvalidInput(f"[similarity] window must be > 0 mag; got {self.window}")
        if self.bf16_shortlist < 0:
            raise InvalidInput(f"[similarity] bf16_shortlist must be >= 0; got {self.bf16_shortlist}")

    @classmethod
    def from_settings(cls, settings: Settings | None, **overrides) -> SimilarityConfig:
        """The ``[similarity]`` section of the config file, with keyword overrides (``None`` = not given)."""
        return load_section(cls, settings, "similarity", **overrides)
