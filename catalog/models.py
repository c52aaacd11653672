"""The relational schema (SQLAlchemy 2): the catalogue, labels and grades, models, predictions and the jobs behind them.

Designed to be joined in SQL with other catalogues: every table that refers to an object carries its int64
``object_id`` (see :mod:`lensdb.core.ids`), positions are ICRS degrees, magnitudes are AB. The migrations in
``catalog/migrations`` create exactly these tables (a test compares them), plus a q3c index on PostgreSQL servers that
have the q3c extension.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lensdb.core import sky

# Stable constraint names, so that migrations can address them on every backend (SQLite batch mode needs names).
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")

SURVEYS = ("south", "north")
LABEL_CLASSES = ("lens", "non_lens", "near_lens")
GRADES = ("A", "B")
MODEL_KINDS = ("encoder", "probe", "finetune")
JOB_STATUSES = ("running", "done", "failed")
#: One grader's verdict on an object: A (clear lens), B (probable lens), N (not a lens).
GRADE_VALUES = ("A", "B", "N")
#: Where a grading queue's objects come from (``round``: the ranking of an active-learning round's probe).
QUEUE_KINDS = ("probe", "similar", "labels", "random", "round", "unusual")
#: Flags a grader may put on an object with their grade (with a note).
GRADE_FLAGS = ("artefact", "interesting", "discuss")
#: The known truth of a calibration item shown blind among the candidates.
CALIBRATION_TRUTHS = ("lens", "non_lens")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sky_pixel_default(context) -> int:
    """Insert default of ``sources.sky_pixel``: the pixel of the row's own ra and dec."""
    params = context.get_current_parameters()
    return int(sky.sky_pixel(params["ra"], params["dec"])[0])


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Job(Base):
    """One run of a LensDB command (ingest, embed, probe training, ...): what ran, with what, and how it ended."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    command: Mapped[str] = mapped_column(Text)
    params: Mapped[dict | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="running")
    message: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint(_in("status", JOB_STATUSES), name="status"),)


class SurveyRoot(Base):
    """A named folder that shards are recorded under: moving the data means re-pointing the root, not every shard."""

    __tablename__ = "survey_roots"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Shard(Base):
    """An ingested survey shard. ``fingerprint`` identifies its content, so a re-ingest is recognised and skipped.

    ``path`` is relative to the survey root ``root`` (absolute when ``root`` is NULL, as before revision 0005).
    """

    __tablename__ = "shards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    root: Mapped[str | None] = mapped_column(ForeignKey("survey_roots.name", onupdate="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    images_sha256: Mapped[str | None] = mapped_column(String(64))
    n_rows: Mapped[int] = mapped_column(Integer)
    cutout: Mapped[int] = mapped_column(Integer)
    image_dtype: Mapped[str] = mapped_column(String(16))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Source(Base):
    """One catalogue object (a row of a shard). Magnitudes AB, positions degrees, PSF size arcsec (FWHM),
    PSF depth 1/nanomaggies^2, E(B-V) magnitudes."""

    __tablename__ = "sources"
    object_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    release: Mapped[int] = mapped_column(Integer)
    brickid: Mapped[int] = mapped_column(Integer)
    objid: Mapped[int] = mapped_column(Integer)
    survey: Mapped[str] = mapped_column(String(8))
    ra: Mapped[float] = mapped_column(Double)
    dec: Mapped[float] = mapped_column(Double)
    mag_g: Mapped[float | None] = mapped_column(Double)
    mag_r: Mapped[float | None] = mapped_column(Double)
    mag_z: Mapped[float | None] = mapped_column(Double)
    ebv: Mapped[float] = mapped_column(Double)
    psfsize_g: Mapped[float] = mapped_column(Double)
    psfsize_r: Mapped[float] = mapped_column(Double)
    psfsize_z: Mapped[float] = mapped_column(Double)
    psfdepth_g: Mapped[float] = mapped_column(Double)
    psfdepth_r: Mapped[float] = mapped_column(Double)
    psfdepth_z: Mapped[float] = mapped_column(Double)
    source_type: Mapped[str] = mapped_column(String(4))
    z_phot_mean: Mapped[float | None] = mapped_column(Double)
    z_phot_median: Mapped[float | None] = mapped_column(Double)
    z_phot_std: Mapped[float | None] = mapped_column(Double)
    z_phot_l68: Mapped[float | None] = mapped_column(Double)
    z_phot_u68: Mapped[float | None] = mapped_column(Double)
    shard_id: Mapped[int] = mapped_column(ForeignKey("shards.id"))
    row: Mapped[int] = mapped_column(Integer)
    #: HEALPix nested pixel at order 29 of (ra, dec) (:func:`lensdb.core.sky.sky_pixel`): the portable position
    #: index of cone search and cross-match (revision 0006). Computed on insert when not given.
    sky_pixel: Mapped[int] = mapped_column(BigInteger, default=_sky_pixel_default)
    __table_args__ = (
        CheckConstraint(_in("survey", SURVEYS), name="survey"),
        Index(None, "survey", "mag_z"),
        Index(None, "dec"),
        Index(None, "sky_pixel"),
        Index(None, "shard_id", "row"),
    )


class LabelSet(Base):
    """A named collection of labels: an imported lens list, a grading campaign, a set of hand labels."""

    __tablename__ = "label_sets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Label(Base):
    """A class (and optional grade A/B) given to an object, with who, when, how and which model surfaced it.

    ``near_lens`` marks sources within one cutout (25.2 arcsec) of a known lens: never drawn as non-lenses.
    """

    __tablename__ = "labels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label_set_id: Mapped[int] = mapped_column(ForeignKey("label_sets.id", ondelete="CASCADE"))
    object_id: Mapped[int] = mapped_column(ForeignKey("sources.object_id"))
    label_class: Mapped[str] = mapped_column("class", String(16))
    grade: Mapped[str | None] = mapped_column(String(1))
    name: Mapped[str | None] = mapped_column(String(255))
    separation_arcsec: Mapped[float | None] = mapped_column(Double)
    provenance: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(255))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (
        UniqueConstraint("label_set_id", "object_id", "class"),
        CheckConstraint(_in('"class"', LABEL_CLASSES), name="class"),
        CheckConstraint("grade IS NULL OR " + _in("grade", GRADES), name="grade"),
        Index(None, "object_id"),
    )


class Model(Base):
    """A trained encoder, linear probe or fine-tuned classifier: hyper-parameters, metrics, data and artefact."""

    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(64))
    encoder_version: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict | None] = mapped_column(JSONType)
    metrics: Mapped[dict | None] = mapped_column(JSONType)
    training_set: Mapped[dict | None] = mapped_column(JSONType)
    artefact_path: Mapped[str | None] = mapped_column(Text)
    artefact_sha256: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (CheckConstraint(_in("kind", MODEL_KINDS), name="kind"),)


class Prediction(Base):
    """A model's score for an object, and its rank (1 = most lens-like) within the scored set."""

    __tablename__ = "predictions"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("sources.object_id"), primary_key=True)
    score: Mapped[float] = mapped_column(Double)
    rank: Mapped[int] = mapped_column(Integer)
    __table_args__ = (Index(None, "model_id", "rank"),)


class Grade(Base):
    """One grader's grade of one object in a grading set (``label_sets`` with source ``lensdb grade``).

    One row per (set, object, grader): re-grading replaces only the grader's own row. ``calibration`` holds the known
    truth when the object was shown blind as a calibration item (a known lens or a known non-lens); such grades measure
    the grader (view ``grader_calibration``) and never enter the consensus (view ``grade_consensus``).
    """

    __tablename__ = "grades"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label_set_id: Mapped[int] = mapped_column(ForeignKey("label_sets.id", ondelete="CASCADE"))
    object_id: Mapped[int] = mapped_column(ForeignKey("sources.object_id"))
    grader: Mapped[str] = mapped_column(String(255))
    grade: Mapped[str] = mapped_column(String(1))
    calibration: Mapped[str | None] = mapped_column(String(16))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("grading_queues.id", ondelete="SET NULL"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    flag: Mapped[str | None] = mapped_column(String(16))
    arc_x: Mapped[float | None] = mapped_column(Double)
    arc_y: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (
        UniqueConstraint("label_set_id", "object_id", "grader"),
        CheckConstraint(_in("grade", GRADE_VALUES), name="grade"),
        CheckConstraint("calibration IS NULL OR " + _in("calibration", CALIBRATION_TRUTHS), name="calibration"),
        Index(None, "object_id"),
        Index(None, "label_set_id", "grader", "updated_at"),
    )


class GradingQueue(Base):
    """A frozen list of objects to inspect, in order: a probe's ranking, a similarity search, a label set, a random
    control sample, or an active-learning round's ranking. ``superseded_by`` points at the queue that replaced it
    (the next round), so a page of an old queue can say that it is stale."""

    __tablename__ = "grading_queues"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label_set_id: Mapped[int] = mapped_column(ForeignKey("label_sets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict | None] = mapped_column(JSONType)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    round: Mapped[int | None] = mapped_column(Integer)
    superseded_by: Mapped[int | None] = mapped_column(Integer)
    n_items: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (CheckConstraint(_in("kind", QUEUE_KINDS), name="kind"),)


class QueueItem(Base):
    """The object at ``position`` (0-based) of a queue; ``calibration`` is the truth of a blind calibration item
    (never sent to the page), ``score`` and ``rank`` the ranking's (rank 1 = most lens-like; NULL for calibration
    items and unranked queues)."""

    __tablename__ = "queue_items"
    queue_id: Mapped[int] = mapped_column(ForeignKey("grading_queues.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    object_id: Mapped[int] = mapped_column(ForeignKey("sources.object_id"))
    calibration: Mapped[str | None] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Double)
    rank: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (Index(None, "queue_id", "object_id"),)


class QueueCursor(Base):
    """Where a grader stopped in a queue (the next position to show), so they resume there on any machine."""

    __tablename__ = "queue_cursors"
    queue_id: Mapped[int] = mapped_column(ForeignKey("grading_queues.id", ondelete="CASCADE"), primary_key=True)
    grader: Mapped[str] = mapped_column(String(255), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GraderSession(Base):
    """A grader's session on the inspection page: issued at login (against the shared token when one is set) with
    the grader's name fixed in it. Only the SHA-256 of the session secret is stored; revoking a grader's sessions
    (``lensdb grading graders --revoke NAME``) logs them out everywhere."""

    __tablename__ = "grader_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grader: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index(None, "grader"),)


class GradingRound(Base):
    """One active-learning round: the probe retrained on the grades so far, the survey rescored, the next queue."""

    __tablename__ = "grading_rounds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label_set_id: Mapped[int] = mapped_column(ForeignKey("label_sets.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("grading_queues.id", ondelete="SET NULL"))
    previous_queue_id: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict | None] = mapped_column(JSONType)
    seconds: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (UniqueConstraint("label_set_id", "round"),)


#: Points of each grade in the consensus (SuGOHI / HOLISMOKES style): the mean over graders decides.
GRADE_POINTS = {"A": 3.0, "B": 2.0, "N": 0.0}
#: Default consensus thresholds on the mean points: A at 2.5 or more, B at 1.5 or more, else not a lens.
CONSENSUS_A, CONSENSUS_B = 2.5, 1.5

_POINTS_SQL = "CASE grade WHEN 'A' THEN 3.0 WHEN 'B' THEN 2.0 ELSE 0.0 END"
#: Views over ``grades`` (created by migration 0004): joinable with sources, predictions and labels on object_id.
VIEWS = {
    "grade_consensus": f"""
SELECT label_set_id, object_id, COUNT(*) AS n_graders,
       SUM(CASE WHEN grade = 'A' THEN 1 ELSE 0 END) AS n_a,
       SUM(CASE WHEN grade = 'B' THEN 1 ELSE 0 END) AS n_b,
       SUM(CASE WHEN grade = 'N' THEN 1 ELSE 0 END) AS n_not,
       AVG({_POINTS_SQL}) AS mean_points,
       CASE WHEN AVG({_POINTS_SQL}) >= {CONSENSUS_A} THEN 'A'
            WHEN AVG({_POINTS_SQL}) >= {CONSENSUS_B} THEN 'B'
            ELSE 'N' END AS consensus,
       MAX(updated_at) AS last_graded_at
FROM grades WHERE calibration IS NULL GROUP BY label_set_id, object_id""",
    "grader_calibration": """
SELECT label_set_id, grader,
       SUM(CASE WHEN calibration = 'lens' THEN 1 ELSE 0 END) AS lenses_shown,
       SUM(CASE WHEN calibration = 'lens' AND grade IN ('A', 'B') THEN 1 ELSE 0 END) AS hits,
       SUM(CASE WHEN calibration = 'non_lens' THEN 1 ELSE 0 END) AS non_lenses_shown,
       SUM(CASE WHEN calibration = 'non_lens' AND grade IN ('A', 'B') THEN 1 ELSE 0 END) AS false_alarms,
       CAST(SUM(CASE WHEN calibration = 'lens' AND grade IN ('A', 'B') THEN 1 ELSE 0 END) AS DOUBLE PRECISION)
           / NULLIF(SUM(CASE WHEN calibration = 'lens' THEN 1 ELSE 0 END), 0) AS hit_rate,
       CAST(SUM(CASE WHEN calibration = 'non_lens' AND grade IN ('A', 'B') THEN 1 ELSE 0 END) AS DOUBLE PRECISION)
           / NULLIF(SUM(CASE WHEN calibration = 'non_lens' THEN 1 ELSE 0 END), 0) AS false_alarm_rate
FROM grades WHERE calibration IS NOT NULL GROUP BY label_set_id, grader""",
}


#: The skill model's views (migration 0007; SWAP, see ``services/swap.py``): each grader's skills from the blind
#: calibration items (one pseudo-count each way, kept in [0.01, 0.99]), and each object's summed log-likelihood
#: ratio of its grades. An object's lens probability at a prior p0 is
#: ``1 / (1 + exp(-(ln(p0 / (1 - p0)) + log_likelihood_ratio)))``.
SKILL_VIEWS = {
    "grader_skill": """
SELECT label_set_id, grader, lenses_shown, non_lenses_shown,
       CASE WHEN pl < 0.01 THEN 0.01 WHEN pl > 0.99 THEN 0.99 ELSE pl END AS p_lens,
       CASE WHEN pn < 0.01 THEN 0.01 WHEN pn > 0.99 THEN 0.99 ELSE pn END AS p_non
FROM (SELECT label_set_id, grader, lenses_shown, non_lenses_shown,
             (hits + 1.0) / (lenses_shown + 2.0) AS pl,
             (non_lenses_shown - false_alarms + 1.0) / (non_lenses_shown + 2.0) AS pn
      FROM grader_calibration) AS c""",
    "swap_evidence": """
SELECT g.label_set_id, g.object_id, COUNT(*) AS n_grades,
       SUM(CASE WHEN g.grade IN ('A', 'B')
                THEN ln(COALESCE(s.p_lens, 0.5) / (1.0 - COALESCE(s.p_non, 0.5)))
                ELSE ln((1.0 - COALESCE(s.p_lens, 0.5)) / COALESCE(s.p_non, 0.5)) END) AS log_likelihood_ratio
FROM grades g LEFT JOIN grader_skill s ON s.label_set_id = g.label_set_id AND s.grader = g.grader
WHERE g.calibration IS NULL GROUP BY g.label_set_id, g.object_id""",
}
VIEWS.update(SKILL_VIEWS)

#: COMMENT ON every table and column (PostgreSQL stores them; ``catalog/SQL.md`` is generated from them by
#: ``python -m lensdb.catalog.schema_doc``). A new table or column needs its line here: a test checks that none
#: lacks one.
COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "jobs": ("One run of a LensDB command (ingest, embed, probe training, ...): what ran, with what, how it ended.", {
        "id": "job id (increasing)",
        "kind": "what ran: ingest, embed, probe_train, labels_import, ...",
        "command": "the command line that started it",
        "params": "the run's parameters (JSON)",
        "status": "running, done or failed",
        "message": "the run's summary, or why it failed",
        "host": "host name of the machine that ran it",
        "pid": "process id on that host (a running job whose process is gone is marked failed)",
        "started_at": "start time (UTC)",
        "finished_at": "end time (UTC); NULL while running",
    }),
    "survey_roots": ("Named folders that shards are recorded under; re-point one with 'lensdb db survey-root' "
                     "after moving the data.", {
        "name": "root name (the folder's name unless given)",
        "path": "absolute path of the folder on this machine",
        "updated_at": "when the root was created or last re-pointed (UTC)",
    }),
    "shards": ("One ingested survey shard (HDF5 file); its objects are the sources rows with its id.", {
        "id": "shard id",
        "name": "file name, unique: a shard is known by its name plus its fingerprint",
        "root": "survey root the path is relative to (survey_roots.name); NULL: path is absolute",
        "path": "file path relative to the survey root (absolute when root is NULL)",
        "fingerprint": "sha256 of the shard's catalogue columns and sampled images",
        "images_sha256": "sha256 of every image row as stored, for 'lensdb db survey-root --full' (NULL: ingested "
                         "before revision 0008)",
        "n_rows": "objects in the shard",
        "cutout": "cutout side, pixels (0.262 arcsec each)",
        "image_dtype": "stored pixel type: float32 or float16",
        "job_id": "the ingest job that wrote it (jobs.id)",
        "ingested_at": "ingest time (UTC)",
    }),
    "sources": ("One catalogue object (a row of a shard), keyed by object_id = release << 40 | brickid << 20 | "
                "objid.", {
        "object_id": "release << 40 | brickid << 20 | objid (int64, stable across re-cuts)",
        "release": "Legacy Surveys release code (9010 south, 9011 north in DR9; another code for a converted survey)",
        "brickid": "brick id (derived from the row for a converted survey without one)",
        "objid": "object id within the brick",
        "survey": "south or north",
        "ra": "right ascension, degrees (ICRS)",
        "dec": "declination, degrees (ICRS)",
        "mag_g": "g magnitude (AB); NULL for a non-positive flux",
        "mag_r": "r magnitude (AB); NULL for a non-positive flux",
        "mag_z": "z magnitude (AB); NULL for a non-positive flux",
        "ebv": "Galactic E(B-V), magnitudes",
        "psfsize_g": "PSF FWHM in g, arcsec",
        "psfsize_r": "PSF FWHM in r, arcsec",
        "psfsize_z": "PSF FWHM in z, arcsec",
        "psfdepth_g": "5-sigma PSF depth in g, 1/nanomaggies^2 (inverse variance)",
        "psfdepth_r": "5-sigma PSF depth in r, 1/nanomaggies^2 (inverse variance)",
        "psfdepth_z": "5-sigma PSF depth in z, 1/nanomaggies^2 (inverse variance)",
        "source_type": "Tractor morphology: PSF, REX, DEV, EXP, SER, DUP",
        "z_phot_mean": "photometric redshift, mean",
        "z_phot_median": "photometric redshift, median",
        "z_phot_std": "photometric redshift, standard deviation",
        "z_phot_l68": "photometric redshift, lower 68% bound",
        "z_phot_u68": "photometric redshift, upper 68% bound",
        "shard_id": "the shard holding the cutout (shards.id)",
        "row": "row of the cutout in that shard, 0-based",
        "sky_pixel": "HEALPix nested pixel of (ra, dec) at order 29 (B-tree indexed): the portable index of cone "
                     "search and cross-match on any PostgreSQL or SQLite; see catalog/SQL.md",
    }),
    "label_sets": ("A named collection of labels: an imported lens list, a grading campaign, hand labels.", {
        "id": "label set id",
        "name": "label set name, unique",
        "description": "what the set is",
        "source": "the file it was imported from, with its sha256",
        "author": "who made it",
        "created_at": "creation time (UTC)",
    }),
    "labels": ("A class (and optional grade A/B) given to an object by a label set.", {
        "id": "label id",
        "label_set_id": "the set it belongs to (label_sets.id)",
        "object_id": "the labelled object (sources.object_id)",
        "class": "lens, non_lens, or near_lens (within one cutout, 25.2 arcsec, of a known lens)",
        "grade": "A (clear lens), B (probable lens) or NULL",
        "name": "the object's name in the imported list",
        "separation_arcsec": "distance between the listed position and the source, arcsec",
        "provenance": "where the label came from (file line, grading session, ...)",
        "author": "who gave it",
        "model_id": "the model that surfaced the object, if any (models.id)",
        "created_at": "creation time (UTC)",
    }),
    "models": ("A trained encoder, linear probe or fine-tuned classifier.", {
        "id": "model id",
        "name": "model name, unique",
        "kind": "encoder, probe or finetune",
        "version": "content version (hash of the weights)",
        "encoder_version": "version of the encoder whose vectors it reads (probes); NULL for an encoder",
        "params": "hyper-parameters (JSON)",
        "metrics": "validation metrics (JSON)",
        "training_set": "what it was trained on (JSON)",
        "artefact_path": "file of the trained weights",
        "artefact_sha256": "sha256 of that file",
        "job_id": "the job that trained it (jobs.id)",
        "created_at": "creation time (UTC)",
    }),
    "predictions": ("A model's score for an object and its rank within the scored set.", {
        "model_id": "the scoring model (models.id)",
        "object_id": "the scored object (sources.object_id)",
        "score": "probability of being a lens, sigmoid(w . x + b), 0 to 1",
        "rank": "1 = most lens-like (1-based)",
    }),
    "grades": ("One grader's grade of one object in a grading set; the set's labels are the consensus of these.", {
        "id": "grade id",
        "label_set_id": "the grading set (label_sets.id)",
        "object_id": "the graded object (sources.object_id)",
        "grader": "who graded",
        "grade": "A (clear lens), B (probable lens) or N (not a lens)",
        "calibration": "the known truth (lens, non_lens) when shown blind as a calibration item; NULL otherwise",
        "queue_id": "the queue it was graded from (grading_queues.id)",
        "model_id": "the model whose candidate it was (models.id)",
        "note": "the grader's note",
        "flag": "the grader's flag: artefact, interesting (non-lens) or discuss (needs discussion); NULL for none",
        "arc_x": "where the grader marked the lensed feature: column in cutout pixels of the north-up stamp",
        "arc_y": "where the grader marked the lensed feature: row in cutout pixels of the north-up stamp, from the top",
        "created_at": "first graded (UTC)",
        "updated_at": "last re-graded (UTC)",
    }),
    "grading_queues": ("A frozen, ordered list of objects to inspect: a probe's ranking, a similarity search, a label "
                       "set, a random sample or an active-learning round.", {
        "id": "queue id",
        "label_set_id": "the grading set its grades go to (label_sets.id)",
        "name": "queue name",
        "kind": "probe, similar, labels, random, round or unusual",
        "params": "how it was made (JSON)",
        "model_id": "the ranking model (models.id), if any",
        "round": "active-learning round number, if any",
        "superseded_by": "the queue that replaced it (the next round), if any",
        "n_items": "objects in the queue",
        "created_by": "who made it",
        "created_at": "creation time (UTC)",
    }),
    "queue_items": ("The object at one position of a grading queue.", {
        "queue_id": "the queue (grading_queues.id)",
        "position": "place in the queue, 0-based",
        "object_id": "the object (sources.object_id)",
        "calibration": "truth of a blind calibration item (lens, non_lens); NULL otherwise",
        "score": "the ranking's score, 0 to 1; NULL for calibration items and unranked queues",
        "rank": "the ranking's rank, 1-based (1 = most lens-like); NULL when unranked",
    }),
    "queue_cursors": ("Where a grader stopped in a queue, so they resume there on any machine.", {
        "queue_id": "the queue (grading_queues.id)",
        "grader": "who grades",
        "position": "the next position to show, 0-based",
        "updated_at": "last moved (UTC)",
    }),
    "grader_sessions": ("A grader's login session on the inspection page (the secret stored hashed; revocable).", {
        "id": "session id",
        "grader": "the grader the session is fixed to",
        "token_hash": "SHA-256 (hex) of the session secret held in the grader's cookie",
        "client": "the address that logged in",
        "created_at": "login time (UTC)",
        "last_used_at": "last request seen (UTC, updated at most once a minute)",
        "revoked_at": "when it was revoked or logged out (UTC); NULL while valid",
    }),
    "grading_rounds": ("One active-learning round: the probe retrained on the grades so far, the survey rescored, "
                       "the next queue.", {
        "id": "round id",
        "label_set_id": "the grading set (label_sets.id)",
        "round": "round number within the set",
        "model_id": "the probe trained in the round (models.id)",
        "queue_id": "the queue the round made (grading_queues.id)",
        "previous_queue_id": "the queue it followed",
        "params": "the round's parameters (JSON)",
        "seconds": "wall time of the round, s",
        "created_at": "when it ran (UTC)",
    }),
}


def _describe() -> None:
    for table_name, (table_comment, columns) in COMMENTS.items():
        table = Base.metadata.tables[table_name]
        table.comment = table_comment
        for column_name, text in columns.items():
            table.c[column_name].comment = text


_describe()
