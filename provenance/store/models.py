"""Database rows. Three groups, each with its own lifecycle:

* the log (`log_entries`, `log_head`, `event_keys`) and `quarantine`: append-only truth;
* the projection (`timeline`, `nodes`, `edges`, `artifacts`, `pulls`, `projection_cursor`,
  and the facts histories are derived from: `tag_facts`, `deploy_facts`, `artifact_deletes`):
  derived from the log, dropped and rebuilt by `rebuild`.

Rows hold raw JSON beside typed columns on purpose: typed columns are what queries
filter on, JSON is what they return.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from provenance.model.kinds import HISTORY_EDGES, EdgeKind


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (sortable on SQLite), always returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite needs INTEGER (not BIGINT) for an auto-incrementing primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's declared configuration hook
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


# --- the log -------------------------------------------------------------------------


class LogEntry(Base):
    """One accepted delivery: exactly the bytes received, and the events taken from them."""

    __tablename__ = "log_entries"
    __table_args__ = (Index("ix_log_entries_lane_seq", "lane", "seq"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    received_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(32))
    content_type: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]]
    headers: Mapped[dict[str, Any]]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    events: Mapped[list[Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Distributed mode: the partition whose deliveries made this entry (`<topic>:<n>`), so
    # its worker projects it behind that partition's cursor (migration 0008). Routing, not
    # content: outside the hash. None for entries of `provenance serve` and the CLI.
    lane: Mapped[str | None] = mapped_column(String(200), default=None)


class LogHead(Base):
    """Single row; locked by every append so the chain has one writer at a time."""

    __tablename__ = "log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class EventKey(Base):
    """(source, event id) of every event accepted: the idempotency index."""

    __tablename__ = "event_keys"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - one B-tree: 0017

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class QuarantineItem(Base):
    """What was set aside with its reason: a refused delivery, one refused event of a
    delivery (`item_index`), or an accepted log entry that failed to project (`seq`)."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_kind_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), default="delivery", server_default="delivery")
    item_index: Mapped[int | None] = mapped_column(Integer)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]]
    headers: Mapped[dict[str, Any]]
    body: Mapped[bytes] = mapped_column(LargeBinary)


# --- the projection ------------------------------------------------------------------


class ProjectionCursor(Base):
    __tablename__ = "projection_cursor"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class TimelineEvent(Base):
    """A canonical event as projected (including derived `tag.updated`)."""

    __tablename__ = "timeline"
    __table_args__ = (
        Index("ix_timeline_digest_seq", "digest", "seq"),
        # Partial: nearly every row has none, and its reader looks a digest up (0016).
        Index(
            "ix_timeline_previous_digest",
            "previous_digest",
            sqlite_where=text("previous_digest IS NOT NULL"),
            postgresql_where=text("previous_digest IS NOT NULL"),
        ),
        Index("ix_timeline_time", "time"),
        # An event's row by its place in the log: rows go in at the index's end (an index
        # on the event id alone takes them at random places; migration 0016).
        Index("ix_timeline_seq_event", "seq", "event_id"),
        # A tag's derived rows from a time on: recomputing the tail reads only the tail.
        Index(
            "ix_timeline_derived_tag_time",
            "derived_tag",
            "time",
            sqlite_where=text("derived_tag IS NOT NULL"),
            postgresql_where=text("derived_tag IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    # Position inside the log entry (2 x index; a derived `tag.updated` follows its push at +1):
    # event time, then seq, then this, is the timeline's order.
    ord: Mapped[int] = mapped_column(Integer, default=0)
    # The tag whose history derived this row (None for events as received): recomputed with it.
    derived_tag: Mapped[str | None] = mapped_column(String(600))
    # An event id, or a derived one: `<event id>#tag.updated` (migration 0006).
    event_id: Mapped[str] = mapped_column(String(320))
    type: Mapped[str] = mapped_column(String(40))
    time: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str | None] = mapped_column(String(71))
    previous_digest: Mapped[str | None] = mapped_column(String(71))
    repository: Mapped[str | None] = mapped_column(String(500))
    tag: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(300))
    data: Mapped[dict[str, Any]]


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (Index("ix_nodes_kind", "kind"),)

    id: Mapped[str] = mapped_column(String(600), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    attrs: Mapped[dict[str, Any]]
    first_seen: Mapped[datetime]


# The edges of a derived history (intervals rewritten by `history`); every other kind is
# once-only: one row per (src, kind, dst), keeping the earliest time it was stated.
# In declaration order: the text below must stay the predicate the indexes were made with
# (migration 0014), and SQLite matches an upsert's target to a partial index by its text.
HISTORY_EDGE_KINDS = tuple(k for k in EdgeKind if k in HISTORY_EDGES)
ONCE_EDGES = f"kind NOT IN ({', '.join(repr(k.value) for k in HISTORY_EDGE_KINDS)})"
DEPLOYED_EDGES = f"kind = '{EdgeKind.DEPLOYED.value}'"  # the predicate of ix_edges_deployed


class Edge(Base):
    """A relation valid from `since` until `until` (None: still valid). Once-only edges
    (built, pushed, pulled_by...) keep the earliest time they were stated; the intervals of
    a history (`tagged`, `deployed`) are derived from facts and carry the order keys of the
    facts that opened and closed them (`okey`, `until_okey`; OPEN while still valid), so a
    late fact re-derives only the part of the history from its time on."""

    __tablename__ = "edges"
    __table_args__ = (
        # Covers a blast radius walk's reads (migration 0014); serves (src, kind, dst) probes.
        Index(
            "ix_edges_src_kind_dst_until",
            "src",
            "kind",
            "dst",
            "until",
            "since",
            postgresql_include=["id"],
        ),
        Index(
            "ix_edges_deployed",
            "src",
            "dst",
            "since",
            "until",
            sqlite_where=text(DEPLOYED_EDGES),
            postgresql_where=text(DEPLOYED_EDGES),
        ),
        Index("ix_edges_dst_kind_until", "dst", "kind", "until_okey"),
        # One row per once-only edge, whichever projector writes it first (ON CONFLICT).
        # PostgreSQL only: SQLite's one writer probes first, and the index would repeat the
        # key of the first one, at random places, for every edge (migration 0016).
        Index(
            "ux_edges_once",
            "src",
            "kind",
            "dst",
            unique=True,
            postgresql_where=text(ONCE_EDGES),
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    src: Mapped[str] = mapped_column(String(600))
    dst: Mapped[str] = mapped_column(String(600))
    kind: Mapped[str] = mapped_column(String(20))
    since: Mapped[datetime]
    until: Mapped[datetime | None]
    seq: Mapped[int] = mapped_column(BigInteger)
    attrs: Mapped[dict[str, Any]]
    okey: Mapped[str | None] = mapped_column(String(64))
    until_okey: Mapped[str | None] = mapped_column(String(64))


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (
        Index("ix_artifacts_first_seen", "first_seen", "digest"),  # newest first
        {"sqlite_with_rowid": False},  # one B-tree, the row in its key: migration 0017
    )

    digest: Mapped[str] = mapped_column(String(71), primary_key=True)
    media_type: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(BigInteger)
    first_seen: Mapped[datetime]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None]
    # Order key (`okey`) of the latest push or delete: the one that decides `deleted`.
    life_key: Mapped[str | None] = mapped_column(String(64))


class Pull(Base):
    """Pulls aggregated per (digest, actor, client): pulls outnumber everything else."""

    __tablename__ = "pulls"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - one B-tree: 0017

    digest: Mapped[str] = mapped_column(String(71), primary_key=True)
    actor: Mapped[str] = mapped_column(String(300), primary_key=True)
    client: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    first: Mapped[datetime]
    last: Mapped[datetime]


# --- facts, as stated: what histories are derived from ----------------------------------
#
# `okey` orders facts by event time, then log seq, then position in the entry: a sortable
# string ("<time>|<seq>|<ord>", see `order_key`), so SQL and Python agree on one order.


def order_key(time: datetime, seq: int = 0, ord_: int = 0) -> str:
    utc = time.astimezone(UTC).replace(tzinfo=None)
    if utc.year >= 1000:  # isoformat writes what %Y-...%f does, much faster
        return f"{utc.isoformat(timespec='microseconds')}|{seq:015d}|{ord_:06d}"
    return f"{utc:%Y-%m-%dT%H:%M:%S.%f}|{seq:015d}|{ord_:06d}"


# `until_okey` of an interval still open: after every real key, in the same shape, so it
# sorts the same under any collation.
OPEN = "9999-12-31T23:59:59.999999|999999999999999|999999"


class TagFact(Base):
    """A tag was pointed at a digest (`point`) or deleted (`delete`) at `time`. The event
    itself is the timeline row at (`seq`, `event_id`): read when the tag moves."""

    __tablename__ = "tag_facts"
    __table_args__ = (
        # Its identity: an event has one place in the log, so one okey (migration 0016).
        Index("ux_tag_facts_tag_okey", "tag", "okey", unique=True),
        # No index by digest: the tags that held one are found by their `tagged` edges.
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tag: Mapped[str] = mapped_column(String(600))  # node id
    repository: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(300))
    okey: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime]
    seq: Mapped[int] = mapped_column(BigInteger)
    ord: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    digest: Mapped[str | None] = mapped_column(String(71))
    explicit: Mapped[bool] = mapped_column(Boolean, default=False)  # a `tag.updated` event
    actor: Mapped[str | None] = mapped_column(String(300))  # who pointed it


class DeployFact(Base):
    """A workload was given a digest (or a tag, `tag_ref`) or removed at `time`. `target`
    is the container's node when the event names cluster, namespace and container; else
    the fact applies to every known container of the workload that matches it."""

    __tablename__ = "deploy_facts"
    __table_args__ = (
        Index("ix_deploy_facts_identity", "workload", "source", "event_id", unique=True),
        Index("ix_deploy_facts_workload_okey", "workload", "okey"),
        Index("ix_deploy_facts_tag_ref", "tag_ref"),
        Index("ix_deploy_facts_digest", "digest"),
        # Workloads with a partial fact are derived whole (see history._workload_histories).
        Index(
            "ix_deploy_facts_partial",
            "workload",
            sqlite_where=text("target IS NULL"),
            postgresql_where=text("target IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workload: Mapped[str] = mapped_column(String(300))
    target: Mapped[str | None] = mapped_column(String(600))
    source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(300))
    okey: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime]
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(10))  # applied / removed
    digest: Mapped[str | None] = mapped_column(String(71))
    tag_ref: Mapped[str | None] = mapped_column(String(600))
    data: Mapped[dict[str, Any]]


class ArtifactDelete(Base):
    """A digest was deleted (from `repository`, or everywhere) at `time`. A delete by tag
    (`tag_ref`, a Harbor retention run's `repo:tag`) names no digest: `digest` is the one
    the tag held at `time`, derived with the tag's history (None while it held none)."""

    __tablename__ = "artifact_deletes"
    __table_args__ = (
        Index("ix_artifact_deletes_digest", "digest"),
        Index("ix_artifact_deletes_tag_ref", "tag_ref"),
    )

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    digest: Mapped[str | None] = mapped_column(String(71))
    tag_ref: Mapped[str | None] = mapped_column(String(600))
    repository: Mapped[str | None] = mapped_column(String(500))
    okey: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime]
    seq: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]]


PROJECTION_TABLES = (
    TimelineEvent,
    Node,
    Edge,
    Artifact,
    Pull,
    ProjectionCursor,
    TagFact,
    DeployFact,
    ArtifactDelete,
)

__all__ = [
    "OPEN",
    "PROJECTION_TABLES",
    "Artifact",
    "ArtifactDelete",
    "Base",
    "DeployFact",
    "Edge",
    "EventKey",
    "LogEntry",
    "LogHead",
    "Node",
    "ProjectionCursor",
    "Pull",
    "QuarantineItem",
    "TagFact",
    "TimelineEvent",
    "order_key",
]
