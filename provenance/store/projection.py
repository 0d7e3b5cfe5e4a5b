"""The provenance graph as a projection of the log.

`project_pending` reads log entries after the projection cursor, applies their events
and moves the cursor, all in the caller's transaction: an entry is projected exactly
once however often the process dies. `rebuild` drops the projection and replays the
whole log, which must give the same graph.

Edges point downstream (commit -> build -> artifact -> tag / deployment), carry
`since`/`until`, and are closed instead of updated, so the past stays queryable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from provenance.errors import ProvenanceError
from provenance.events import BLOB_TYPES, Event, EventType, is_digest
from provenance.store import evidence, quarantine
from provenance.store import nodes as N
from provenance.store.alert_models import ALERT_PROJECTION_TABLES
from provenance.store.alerting import AlertRecorder
from provenance.store.db import blames_the_input
from provenance.store.log import entries
from provenance.store.models import (
    PROJECTION_TABLES,
    Artifact,
    Edge,
    LogEntry,
    Node,
    ProjectionCursor,
    Pull,
    QuarantineItem,
    TimelineEvent,
)
from provenance.timeutil import format_time

logger = logging.getLogger(__name__)

CURSOR = "graph"


def project_pending(session: Session, *, limit: int = 500) -> int:
    """Project up to `limit` unprojected log entries; return how many were passed.

    The batch is applied in a savepoint. Should it fail for anything but the database
    being unreachable, it is applied again entry by entry, and an entry that still fails
    is set aside (quarantine, kind `projection`, with the reason) while the cursor moves
    past it: one entry the projection cannot take must never stop the graph."""
    cursor = session.execute(
        select(ProjectionCursor).where(ProjectionCursor.name == CURSOR).with_for_update()
    ).scalar_one_or_none()
    if cursor is None:
        cursor = ProjectionCursor(name=CURSOR, seq=0)
        session.add(cursor)
        session.flush()
    rows = entries(session, after=cursor.seq, limit=limit)
    if not rows:
        return 0
    try:
        with session.begin_nested():
            apply_entries(session, rows)
    except Exception as exc:
        if _transient(exc) or len(rows) == 1:
            _set_aside_or_raise(session, rows[0], exc)
        else:
            for row in rows:
                try:
                    with session.begin_nested():
                        apply_entries(session, [row])
                except Exception as one:
                    _set_aside_or_raise(session, row, one)
    cursor.seq = rows[-1].seq
    session.flush()
    return len(rows)


def apply_entries(session: Session, rows: Sequence[LogEntry]) -> None:
    """Project a batch of log entries (the cursor is the caller's)."""
    projector = Projector(session)
    for row in rows:
        projector.apply_entry(row)
    projector.flush()


def _transient(exc: BaseException) -> bool:
    """The database is gone, busy or broken: retry later, never blame the entry."""
    return not blames_the_input(exc)


def _set_aside_or_raise(session: Session, row: LogEntry, exc: Exception) -> None:
    if _transient(exc):
        raise exc
    reason = f"log entry {row.seq} failed to project: {type(exc).__name__}: {exc}"
    logger.error(
        "log entry set aside by the projection",
        extra={"seq": row.seq, "source": row.source, "error": type(exc).__name__},
        exc_info=exc,
    )
    quarantine.put_projection(session, row, error=type(exc).__name__, reason=reason)


def set_aside(session: Session) -> int:
    """How many log entries the projection had to set aside."""
    return quarantine.count(session, quarantine.Kind.PROJECTION)


def lag(session: Session) -> int:
    """How many log entries are not yet projected."""
    cursor = session.get(ProjectionCursor, CURSOR)
    last = session.execute(select(LogEntry.seq).order_by(LogEntry.seq.desc()).limit(1)).scalar()
    return int(last or 0) - (cursor.seq if cursor else 0)


def rebuild(session: Session) -> None:
    """Forget the projection; the next `project_pending` calls replay the log from 1."""
    for table in (*PROJECTION_TABLES, *ALERT_PROJECTION_TABLES):
        session.execute(delete(table))
    evidence.forget_arrivals(session)
    # Entries set aside are tried again by the replay (a fixed bug projects them now).
    session.execute(delete(QuarantineItem).where(QuarantineItem.kind == "projection"))
    session.flush()


@dataclass
class Projector:
    """Applies events to the graph tables of one session, caching what it has created."""

    session: Session
    _nodes: set[str] = field(default_factory=set)
    _edges: set[tuple[str, str, str]] = field(default_factory=set)
    _timeline: list[dict[str, Any]] = field(default_factory=list)
    # Write-behind buffers: rows that nothing reads back within the batch are written with
    # one executemany each at `sync()`, instead of one statement per event. `sync()` runs
    # before any read of those tables and at the end of the batch.
    _new_nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _new_edges: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    _artifact_rows: dict[tuple[str, bool], dict[str, Any]] = field(default_factory=dict)
    _pull_rows: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    _entry_source: str | None = None

    def __post_init__(self) -> None:
        dialect = self.session.get_bind().dialect.name
        self._insert: Callable[[Any], Any] = (
            sqlite.insert if dialect == "sqlite" else postgresql.insert
        )
        self.alerts = AlertRecorder(
            self.session,
            self._insert,
            sync_nodes=self._sync_nodes,
            pending_edges=self._pending_into,
        )

    # --- entry points ---------------------------------------------------------------

    def apply_entry(self, row: LogEntry) -> None:
        self._entry_source = row.source  # whose verdicts signed/attested events carry
        for raw in row.events:
            try:
                event = Event.from_dict(raw)
                self.apply(row.seq, event)
            except ProvenanceError as exc:
                # Validated on append, so this means a rule changed; keep the reason, go on.
                logger.warning("projection skipped an event", extra={"seq": row.seq})
                self.session.add(
                    QuarantineItem(
                        kind="projection",
                        seq=row.seq,
                        received_at=row.received_at,
                        source=row.source,
                        error="ProjectionError",
                        reason=f"projection of log entry {row.seq}: {exc.detail}",
                        content_type="application/json",
                        params={},
                        headers={},
                        body=repr(raw).encode(),
                    )
                )

    def apply(self, seq: int, event: Event) -> None:
        if event.type is EventType.DEPLOYMENT_APPLIED and event.digest is None:
            event = self._resolve_by_tag(event)
        handler = _HANDLERS.get(event.type)
        if event.type not in BLOB_TYPES:
            self._record(seq, event)
        if handler is not None:
            handler(self, seq, event)

    def flush(self) -> None:
        self.sync()
        if self._timeline:
            # render_nulls: one executemany even when rows leave different columns empty
            stmt = insert(TimelineEvent).execution_options(render_nulls=True)
            self.session.execute(stmt, self._timeline)
            self._timeline.clear()
        self.session.flush()

    def sync(self) -> None:
        """Write the buffered rows (nodes, once-only edges, artifacts, pulls)."""
        self._sync_nodes()
        if self._artifact_rows:
            self._write_artifacts()
        if self._new_edges:
            self._write_once_edges()
        if self._pull_rows:
            stmt = self._insert(Pull)
            ex = stmt.excluded
            stmt = stmt.on_conflict_do_update(
                index_elements=["digest", "actor", "client"],
                set_={
                    "count": Pull.count + ex.count,
                    "first": case((ex.first < Pull.first, ex.first), else_=Pull.first),
                    "last": case((ex.last > Pull.last, ex.last), else_=Pull.last),
                },
            )
            self.session.execute(stmt, list(self._pull_rows.values()))
            self._pull_rows.clear()

    def _pending_into(self, dst: str, kinds: tuple[str, ...]) -> dict[str, int]:
        """Buffered once-only edges into `dst`, per kind (disjoint from the stored ones:
        each key is buffered once, and only when this batch had not seen it)."""
        counts: dict[str, int] = {}
        for _, d, kind in self._new_edges:
            if d == dst and kind in kinds:
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def _sync_nodes(self) -> None:
        if self._new_nodes:
            stmt = self._insert(Node).on_conflict_do_nothing(index_elements=["id"])
            self.session.execute(stmt, list(self._new_nodes.values()))
            self._new_nodes.clear()

    def _write_artifacts(self) -> None:
        rows = list(self._artifact_rows.items())
        self._artifact_rows.clear()
        stmt = self._insert(Artifact)
        ex = stmt.excluded
        known = {
            "media_type": func.coalesce(ex.media_type, Artifact.media_type),
            "size": func.coalesce(ex.size, Artifact.size),
        }
        for revive in (False, True):
            batch = [row for (_, r), row in rows if r is revive]
            if not batch:
                continue
            # Pushed again after a delete: it exists again. A pull or a signature does not.
            changes = known | ({"deleted": False, "deleted_at": None} if revive else {})
            upsert = stmt.on_conflict_do_update(index_elements=["digest"], set_=changes)
            self.session.execute(upsert, batch)

    def _write_once_edges(self) -> None:
        pending = self._new_edges
        self._new_edges = {}
        keys = list(pending)
        for start in range(0, len(keys), 300):
            # Exact (src, dst, kind) probes: an actor or a builder is a hub with many edges.
            existing = self.session.execute(
                select(Edge.src, Edge.dst, Edge.kind).where(
                    tuple_(Edge.src, Edge.kind, Edge.dst).in_(
                        [(src, kind, dst) for src, dst, kind in keys[start : start + 300]]
                    )
                )
            )
            for src, dst, kind in existing:
                pending.pop((src, dst, kind), None)
        if pending:
            self.session.execute(insert(Edge), list(pending.values()))

    # --- handlers -------------------------------------------------------------------

    def pushed(self, seq: int, e: Event) -> None:
        if e.digest is None:
            # Docker Hub / Quay: a tag was pushed, digest unknown until another source or
            # reconciliation names it. Keep the tag known; it points nowhere yet.
            assert e.repository and e.tag
            self.node(N.repository(e.repository), "repository", e.time, name=e.repository)
            self.node(N.tag(e.repository, e.tag), "tag", e.time, repository=e.repository, tag=e.tag)
            return
        art = self.artifact(e.digest, e.time, media_type=e.media_type, size=e.size, revive=True)
        if e.repository:
            repo = self.node(N.repository(e.repository), "repository", e.time, name=e.repository)
            self.edge_once(art, repo, "stored_in", e.time, seq)
        if e.actor:
            self.edge_once(self.actor(e.actor, e.time), art, "pushed", e.time, seq)
        if e.commit:
            commit = self.commit(e.commit, e.time, vcs_url=e.vcs_url)
            # A label or annotation is a claim by whoever built the image, not a build record.
            self.edge_once(commit, art, "claims", e.time, seq, evidence="label")
        if e.build:
            build = self.node(N.build(e.build), "build", e.time, id=e.build)
            self.edge_once(build, art, "produced", e.time, seq)
        if e.repository and e.tag:
            self.point_tag(seq, e)

    def point_tag(self, seq: int, e: Event) -> None:
        assert e.repository and e.tag and e.digest
        tag_id = self.node(
            N.tag(e.repository, e.tag), "tag", e.time, repository=e.repository, tag=e.tag
        )
        art = N.artifact(e.digest)
        attrs = {"actor": e.actor} if e.actor else {}
        current = self._repoint(tag_id, "tagged", art, time=e.time, seq=seq, attrs=attrs)
        if current is None:
            return
        if current and e.type is not EventType.TAG_UPDATED:
            previous = current[0].src.removeprefix("artifact:")
            moved = e.with_changes(
                id=f"{e.id}#tag.updated",
                type=EventType.TAG_UPDATED,
                previous_digest=previous,
                media_type=None,
                size=None,
                attributes={"derived_from": e.id},
            )
            self._record(seq, moved)
            self.alerts.on_tag_moved(seq, moved)
        elif current and e.type is EventType.TAG_UPDATED:
            previous = current[0].src.removeprefix("artifact:")
            self.alerts.on_tag_moved(seq, e.with_changes(previous_digest=previous))

    def tag_updated(self, seq: int, e: Event) -> None:
        assert e.digest is not None
        self.artifact(e.digest, e.time)
        self.point_tag(seq, e)

    def pulled(self, seq: int, e: Event) -> None:
        assert e.digest is not None
        # A pull names what it fetched and from where: an artifact known only by its pulls
        # still has its media type and its repository.
        art = self.artifact(e.digest, e.time, media_type=e.media_type, size=e.size)
        if e.repository:
            repo = self.node(N.repository(e.repository), "repository", e.time, name=e.repository)
            self.edge_once(art, repo, "stored_in", e.time, seq)
        actor = e.actor or "anonymous"
        client = e.client or ""
        key = (e.digest, actor, client)
        row = self._pull_rows.get(key)
        if row is None:
            self._pull_rows[key] = {
                "digest": e.digest,
                "actor": actor,
                "client": client,
                "count": 1,
                "first": e.time,
                "last": e.time,
            }
        else:
            row["count"] += 1
            row["first"] = min(row["first"], e.time)
            row["last"] = max(row["last"], e.time)
        self.edge_once(art, self.actor(actor, e.time), "pulled_by", e.time, seq)
        self.alerts.on_pulled(seq, e)

    def deleted(self, seq: int, e: Event) -> None:
        assert e.digest is not None
        art = self.artifact(e.digest, e.time)
        self.alerts.on_deleted(seq, e)
        self.sync()  # buffered artifact rows first: the UPDATE below must have the last word
        self.session.execute(
            update(Artifact)
            .where(Artifact.digest == e.digest)
            .values(deleted=True, deleted_at=e.time)
        )
        for edge in self._open_edges(src=art, kind="tagged"):
            if e.repository is None or edge.dst.startswith(N.tag(e.repository, "")):
                edge.until = e.time

    def tag_deleted(self, seq: int, e: Event) -> None:
        assert e.repository and e.tag
        for edge in self._open_edges(dst=N.tag(e.repository, e.tag), kind="tagged"):
            edge.until = e.time

    def build_event(self, seq: int, e: Event) -> None:
        assert e.build is not None or e.type is not EventType.BUILD_FINISHED
        if e.build is None:
            return
        attrs: dict[str, Any] = {"id": e.build}
        stage = {
            EventType.BUILD_QUEUED: "queued",
            EventType.BUILD_STARTED: "started",
            EventType.BUILD_FINISHED: "finished",
        }[e.type]
        attrs[stage] = format_time(e.time)
        if e.builder:
            attrs["builder"] = e.builder
        build = self.node(N.build(e.build), "build", e.time, **attrs)
        self.merge_attrs(build, attrs)  # started, then finished: the build learns as it goes
        if e.builder:
            builder = self.node(N.builder(e.builder), "builder", e.time, id=e.builder)
            self.edge_once(builder, build, "ran", e.time, seq)
        if e.commit:
            self.edge_once(
                self.commit(e.commit, e.time, vcs_url=e.vcs_url), build, "built", e.time, seq
            )
        if e.digest:
            art = self.artifact(e.digest, e.time)
            self.edge_once(build, art, "produced", e.time, seq)

    def change_merged(self, seq: int, e: Event) -> None:
        assert e.commit is not None
        self.commit(e.commit, e.time, vcs_url=e.vcs_url)

    def signed(self, seq: int, e: Event) -> None:
        assert e.digest is not None
        art = self.artifact(e.digest, e.time)
        kind = "signature" if e.type is EventType.ARTIFACT_SIGNED else "attestation"
        about = {k: e.attributes[k] for k in _SIGNED_ATTRS if k in e.attributes}
        ref = self.node(f"{kind}:{e.id}", kind, e.time, event=e.id, source=e.source, **about)
        self.edge_once(ref, art, "signs" if kind == "signature" else "attests", e.time, seq)
        key = e.attributes.get("key")
        if isinstance(key, str) and key:
            self.edge_once(
                self.node(N.key(key), "key", e.time, id=key), ref, "signed_with", e.time, seq
            )
        # Only this service's own verdicts count: those of entries from its verifying source.
        trusted = self._entry_source == evidence.VERIFYING_SOURCE == e.source
        row = evidence.values_for(seq, e, origin="arrival", trusted_source=trusted)
        self.session.add(evidence.Evidence(**row))
        if e.build or e.builder or e.attributes.get("dependencies"):
            self.attested_build(seq, e, art, verified=bool(row["verified"]))

    def attested_build(self, seq: int, e: Event, art: str, *, verified: bool) -> None:
        """The build side of SLSA provenance: commit -built-> build <-ran- builder,
        build -produced-> artifact, and base image -base_of-> artifact for each resolved
        dependency that is an OCI image. Edges say they come from an attestation and
        whether it was trusted on arrival."""
        how = {"evidence": "attestation", "verified": verified}
        a = e.attributes
        if e.build:
            attrs = {"id": e.build} | {
                name: a[k]
                for name, k in (
                    ("builder", "builder_id"),
                    ("build_type", "build_type"),
                    ("invocation_id", "invocation_id"),
                    ("started", "started_on"),
                    ("finished", "finished_on"),
                )
                if isinstance(a.get(k), str)
            }
            build = self.node(N.build(e.build), "build", e.time, **attrs)
            self.merge_attrs(build, attrs)
            self.edge_once(build, art, "produced", e.time, seq, **how)
            if e.builder:
                builder = self.node(N.builder(e.builder), "builder", e.time, id=e.builder)
                self.edge_once(builder, build, "ran", e.time, seq, **how)
            if e.commit:
                commit = self.commit(e.commit, e.time, vcs_url=e.vcs_url)
                self.edge_once(commit, build, "built", e.time, seq, **how)
        for dep in a.get("dependencies") or []:
            base = dep.get("digest") if isinstance(dep, dict) else None
            if isinstance(base, str) and is_digest(base) and base != e.digest:
                self.edge_once(self.artifact(base, e.time), art, "base_of", e.time, seq, **how)

    def deployed(self, seq: int, e: Event) -> None:
        assert e.workload is not None
        targets = self._deployment_targets(e, create=True)
        attrs: dict[str, Any] = {"pinned": not e.attributes.get("resolved_from_tag", False)}
        if e.actor:
            attrs["actor"] = e.actor
        if e.repository and e.tag:
            attrs["image"] = f"{e.repository}:{e.tag}"
        if e.digest is None:
            # Deployed by a tag that pointed nowhere we know of at that time: it still runs
            # there. The deployed edge comes from the image reference (an `image` node that
            # no downstream walk reaches) until a rollout names a digest.
            assert e.repository and e.tag
            ref = attrs["image"]
            src = self.node(N.image(ref), "image", e.time, reference=ref)
            for dep in targets:
                self._repoint(
                    dep, "deployed", src, time=e.time, seq=seq, attrs=attrs | {"pinned": False}
                )
            return
        art = self.artifact(e.digest, e.time)
        changed = [
            self._repoint(dep, "deployed", art, time=e.time, seq=seq, attrs=attrs)
            for dep in targets
        ]
        if any(previous is not None for previous in changed):
            self.alerts.on_deployed(seq, e)

    def _resolve_by_tag(self, e: Event) -> Event:
        """An image given by tag runs whatever the tag pointed to at that moment."""
        if not (e.repository and e.tag):
            return e
        self.flush()
        row = self.session.execute(
            select(Edge.src)
            .where(
                Edge.dst == N.tag(e.repository, e.tag),
                Edge.kind == "tagged",
                Edge.since <= e.time,
                (Edge.until.is_(None)) | (Edge.until > e.time),
            )
            .order_by(Edge.since.desc(), Edge.id.desc())
            .limit(1)
        ).scalar()
        if row is None:
            return e
        return e.with_changes(
            digest=row.removeprefix("artifact:"),
            attributes={**e.attributes, "resolved_from_tag": True},
        )

    def undeployed(self, seq: int, e: Event) -> None:
        assert e.workload is not None
        for dep in self._deployment_targets(e, create=False):
            for edge in self._open_edges(dst=dep, kind="deployed"):
                edge.until = e.time

    def _deployment_targets(self, e: Event, *, create: bool) -> list[str]:
        """The workload containers an event speaks of. Kubernetes names cluster, namespace
        and container; CDEvents often name only the service and an environment (whose id
        is commonly the cluster's name), meaning every container of that workload there."""
        assert e.workload is not None
        if e.cluster and e.namespace and e.container:
            return [self.deployment(e)]
        self._sync_nodes()
        candidates = self.session.execute(
            select(Node.id, Node.attrs).where(
                Node.kind == "deployment", Node.id.contains(f"/{e.workload}/")
            )
        ).all()
        matches = [
            node_id
            for node_id, attrs in candidates
            if attrs.get("workload") == e.workload
            and (e.cluster is None or attrs.get("cluster") == e.cluster)
            and (e.namespace is None or attrs.get("namespace") == e.namespace)
            and (e.container is None or attrs.get("container") == e.container)
            and (
                e.cluster is not None
                or e.environment is None
                or e.environment in (attrs.get("environment"), attrs.get("cluster"))
            )
        ]
        if matches or not create:
            return sorted(matches)
        return [self.deployment(e)]

    # --- building blocks ------------------------------------------------------------

    def node(self, node_id: str, kind: str, time: datetime, **attrs: Any) -> str:
        if node_id not in self._nodes:
            self._new_nodes[node_id] = {
                "id": node_id,
                "kind": kind,
                "attrs": attrs,
                "first_seen": time,
            }
            self._nodes.add(node_id)
        return node_id

    def merge_attrs(self, node_id: str, attrs: dict[str, Any]) -> None:
        pending = self._new_nodes.get(node_id)
        if pending is not None:  # created in this batch: not written yet
            pending["attrs"] = {**pending["attrs"], **attrs}
            return
        row = self.session.get(Node, node_id)
        if row is not None and any(row.attrs.get(k) != v for k, v in attrs.items()):
            row.attrs = {**row.attrs, **attrs}

    def artifact(
        self,
        digest: str,
        time: datetime,
        *,
        media_type: str | None = None,
        size: int | None = None,
        revive: bool = False,
    ) -> str:
        node_id = N.artifact(digest)
        if node_id in self._nodes and media_type is None and size is None and not revive:
            return node_id
        key = (digest, revive)
        row = self._artifact_rows.get(key)
        if row is None:
            self._artifact_rows[key] = {
                "digest": digest,
                "media_type": media_type,
                "size": size,
                "first_seen": time,
                "deleted": False,
            }
        else:  # the latest word on media type and size wins, as it would row by row
            row["media_type"] = media_type if media_type is not None else row["media_type"]
            row["size"] = size if size is not None else row["size"]
        return self.node(node_id, "artifact", time, digest=digest)

    def actor(self, name: str, time: datetime) -> str:
        return self.node(N.actor(name), "actor", time, name=name)

    def commit(self, sha: str, time: datetime, *, vcs_url: str | None) -> str:
        attrs = {"sha": sha} | ({"vcs_url": vcs_url} if vcs_url else {})
        return self.node(N.commit(sha), "commit", time, **attrs)

    def deployment(self, e: Event) -> str:
        assert e.workload is not None
        node_id = N.deployment(e.cluster, e.namespace, e.workload, e.container or "")
        return self.node(
            node_id,
            "deployment",
            e.time,
            environment=e.environment,
            cluster=e.cluster,
            namespace=e.namespace,
            workload=e.workload,
            container=e.container,
        )

    def edge_once(
        self, src: str, dst: str, kind: str, time: datetime, seq: int, **attrs: Any
    ) -> None:
        key = (src, dst, kind)
        if key in self._edges:
            return
        self._new_edges[key] = {
            "src": src,
            "dst": dst,
            "kind": kind,
            "since": time,
            "until": None,
            "seq": seq,
            "attrs": attrs,
        }
        self._edges.add(key)

    def _repoint(
        self, dst: str, kind: str, src: str, *, time: datetime, seq: int, attrs: dict[str, Any]
    ) -> list[Edge] | None:
        """Make `src` the one open `kind` edge into `dst` (a tag's digest, what a workload
        runs): close the others at `time`. Returns the edges closed, None if nothing changed."""
        current = self._open_edges(dst=dst, kind=kind)
        if any(edge.src == src for edge in current):
            return None
        for edge in current:
            edge.until = time
        self.session.add(
            Edge(src=src, dst=dst, kind=kind, since=time, until=None, seq=seq, attrs=attrs)
        )
        self.session.flush()
        return current

    def _open_edges(
        self, *, kind: str, src: str | None = None, dst: str | None = None
    ) -> list[Edge]:
        stmt = select(Edge).where(Edge.kind == kind, Edge.until.is_(None))
        if src is not None:
            stmt = stmt.where(Edge.src == src)
        if dst is not None:
            stmt = stmt.where(Edge.dst == dst)
        return list(self.session.execute(stmt.order_by(Edge.id)).scalars())

    def _record(self, seq: int, e: Event) -> None:
        self._timeline.append(
            {
                "seq": seq,
                "event_id": e.id,
                "type": e.type.value,
                "time": e.time,
                "source": e.source,
                "digest": e.digest,
                "previous_digest": e.previous_digest,
                "repository": e.repository,
                "tag": e.tag,
                "actor": e.actor,
                "data": e.to_dict(),
            }
        )
        if len(self._timeline) >= 500:
            self.flush()


# What a signature/attestation node keeps about itself; verdicts live in `evidence`.
_SIGNED_ATTRS = ("format", "predicate_type", "media_type", "key_hint", "subject_name", "keyless")

_HANDLERS: dict[EventType, Callable[[Projector, int, Event], None]] = {
    EventType.ARTIFACT_PUSHED: Projector.pushed,
    EventType.ARTIFACT_PULLED: Projector.pulled,
    EventType.ARTIFACT_DELETED: Projector.deleted,
    EventType.TAG_UPDATED: Projector.tag_updated,
    EventType.TAG_DELETED: Projector.tag_deleted,
    EventType.BUILD_QUEUED: Projector.build_event,
    EventType.BUILD_STARTED: Projector.build_event,
    EventType.BUILD_FINISHED: Projector.build_event,
    EventType.CHANGE_MERGED: Projector.change_merged,
    EventType.ARTIFACT_SIGNED: Projector.signed,
    EventType.ARTIFACT_ATTESTED: Projector.signed,
    EventType.DEPLOYMENT_APPLIED: Projector.deployed,
    EventType.DEPLOYMENT_REMOVED: Projector.undeployed,
}

__all__ = ["Projector", "lag", "project_pending", "rebuild"]
