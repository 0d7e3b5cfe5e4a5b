"""Histories derived from facts in event-time order, and the alerts they imply.

The projector stores facts as stated (`tag_facts`, `deploy_facts`, `artifact_deletes`,
each puller's first pull) and hands `recompute` the keys a batch touched. Each touched
tag and workload is derived again from the batch's earliest time on, from its facts
ordered by `okey` (event time, then log seq, then position in the entry), with the
interval open at that time carried in: intervals (`tagged` / `deployed` edges with
`since`/`until`), derived `tag.updated` timeline rows, and the findings from that time
on. A late fact therefore lands where its time puts it, and only the tails of the
histories it belongs to are rewritten. The cost is that of those tails, never of the
graph. (A workload with a partial deployment fact is still derived whole.)

Entry points: `Touched`, `recompute` (and `reconcile_pullers`, for concurrent writers).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from provenance.model import nodes as N
from provenance.model.alerts import DEFAULT_MIN_SEVERITY, Evidence, Raised, derive, scopes
from provenance.model.alerts import findings as rules
from provenance.model.events import Event, EventType
from provenance.model.kinds import DeployFactKind, EdgeKind, NodeKind, TagFactKind
from provenance.store import evidence, scans
from provenance.store.alerting import reconcile
from provenance.store.models import (
    OPEN,
    Artifact,
    ArtifactDelete,
    DeployFact,
    Edge,
    Node,
    TagFact,
    TimelineEvent,
    order_key,
)

_CHUNK = 500
# Rows are written with Core statements on the tables: the ORM's bulk path costs more per row.
_EDGES = cast("Table", Edge.__table__)
_TIMELINE = cast("Table", TimelineEvent.__table__)
_PLACEMENT = derive.PLACEMENT


@dataclass
class Touched:
    """What a batch of facts touched: the histories to derive again."""

    tags: set[str] = field(default_factory=set)
    workloads: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)  # digests with a new delete
    evidenced: set[str] = field(default_factory=set)  # digests with a new signature/attestation
    scanned: set[str] = field(default_factory=set)  # digests whose latest scans changed
    # Pullers whose first pull (by event time) the batch changed: (seq, event data) of it.
    # Any other puller's first pull, and so its finding, is as it was.
    first_pulls: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    # What the batch's new facts name besides their own key: digests a tag was pointed at or
    # a workload given, tags a workload was given by name. Only for the key locks: a
    # derivation of another tag or workload that reads these must wait for this batch.
    digests: set[str] = field(default_factory=set)
    tag_refs: set[str] = field(default_factory=set)
    # The earliest event time of the batch's tag facts and deletes: tag histories are
    # derived again from there on (in time order, the tail; a late fact, from its time).
    since: datetime | None = None
    # The earliest event time of the batch's deployment facts: the touched workloads are
    # derived again from the earlier of this and `since` on.
    deployed_since: datetime | None = None

    def saw(self, time: datetime) -> None:
        self.since = _earliest(self.since, time)

    def saw_deploy(self, time: datetime) -> None:
        self.deployed_since = _earliest(self.deployed_since, time)

    def __bool__(self) -> bool:
        return bool(
            self.tags
            or self.workloads
            or self.deleted
            or self.evidenced
            or self.first_pulls
            or self.scanned
        )


@dataclass
class _Findings:
    """What the derived histories imply, for the scopes derived again in this batch."""

    scopes: set[str] = field(default_factory=set)
    raised: list[Raised] = field(default_factory=list)
    # Scopes derived again only from a time on: their stored findings before it stand.
    since: dict[str, datetime] = field(default_factory=dict)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return b if a is None else a
    return min(a, b)


def recompute(
    session: Session,
    insert_: Callable[[Any], Any],
    touched: Touched,
    *,
    min_severity: str = DEFAULT_MIN_SEVERITY,
) -> None:
    """Derive the touched histories again and reconcile the alerts they imply (the rules:
    `provenance.model.alerts`; `min_severity`: `Settings.alert_min_severity`)."""
    session.flush()
    locks = _KeyLocks.of(session)
    # Each key is locked before the facts it is derived from are read (and the batch's own
    # facts are written before): of two batches touching one key, the later one reads the
    # earlier one's facts committed. Keys found by a lookup are locked before their turn.
    locks.take(
        tags=touched.tags | touched.tag_refs,
        workloads=touched.workloads,
        digests=touched.deleted | touched.evidenced | touched.digests | touched.scanned,
    )
    found = _Findings()
    tags = touched.tags | _tags_holding(session, touched.deleted)
    if locks:
        # a tag holding a newly signed digest: what a workload it names runs is signed now
        locks.take(tags=tags | _tags_holding(session, touched.evidenced))
    workloads = touched.workloads | _column_in(
        session, DeployFact.workload, DeployFact.tag_ref, tags
    )
    evidenced = _workloads_running(session, touched.evidenced)
    locks.take(workloads=workloads | set(evidenced))
    resolved = _tag_histories(session, insert_, found, tags, touched.since)
    locks.take(digests=resolved)
    starts = _starts(workloads, _earliest(touched.since, touched.deployed_since), evidenced)
    digests = _workload_histories(session, insert_, found, starts)
    _delete_alerts(session, found, digests | touched.deleted, moved=resolved)
    vulnerable_alerts(session, found, digests | touched.scanned, min_severity)
    _puller_alerts(found, touched.first_pulls)
    # One reconciliation, in event-time order: the alerts are raised as they happened.
    reconcile(session, insert_, found.scopes, found.raised, since=found.since)


@dataclass
class _KeyLocks:
    """PostgreSQL: transaction-scoped advisory locks, one per tag, workload and digest,
    taken in one statement in hash order (two batches cannot wait on each other within
    one round). Projectors of different lanes write facts side by side; a history is
    derived under its key's lock, so it is derived from every fact committed before. On
    SQLite (one writer) it takes nothing."""

    session: Session | None
    held: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, session: Session) -> _KeyLocks:
        return cls(session if session.get_bind().dialect.name == "postgresql" else None)

    def __bool__(self) -> bool:
        return self.session is not None

    def take(
        self,
        *,
        tags: Iterable[str] = (),
        workloads: Iterable[str] = (),
        digests: Iterable[str] = (),
    ) -> None:
        if self.session is None:
            return
        keys = {f"t|{t}" for t in tags} | {f"w|{w}" for w in workloads}
        keys |= {f"d|{d}" for d in digests}
        keys -= self.held
        if keys:
            self.session.execute(_LOCK_KEYS, {"space": _LOCK_SPACE, "keys": sorted(keys)})
            self.held |= keys


_LOCK_SPACE = 0x68697374  # "hist": the two-key advisory lock space of history keys
_LOCK_KEYS = text(
    "SELECT pg_advisory_xact_lock(:space, h) FROM "
    "(SELECT DISTINCT hashtext(k) AS h FROM unnest(CAST(:keys AS text[])) AS k ORDER BY h) AS s "
    "ORDER BY h"
)


# --- tags ------------------------------------------------------------------------------


def _tags_holding(session: Session, digests: set[str]) -> set[str]:
    """Tags that ever pointed at one of `digests`: a delete of it may close them. Every
    point of a tag is in its derived intervals (a tag this batch points is touched
    anyway): the walk's index of edges answers, no index of facts by digest is kept."""
    arts = {N.artifact(d) for d in digests}
    return _column_in(session, Edge.dst, Edge.src, arts, kind=EdgeKind.TAGGED)


@dataclass
class _TagWalk:
    """One tag's facts from the batch's start time on, in order: its intervals, the
    `tag.updated` rows derived from moves, and a `tag_moved` finding per move."""

    found: _Findings
    edges: list[dict[str, Any]] = field(default_factory=list)
    reopened: list[dict[str, Any]] = field(default_factory=list)
    # Each move, in order: (tag, okey, fact, digest it moved from). Its event is read from
    # the timeline once the walk is over (`moves_shown`): a fact holds no event JSON.
    moves: list[tuple[str, str, TagFact, str]] = field(default_factory=list)
    # (tag, okey) of each delete of the tag -> the digest it held just before (None: none)
    held: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def tag(
        self, tag: str, own: list[TagFact], before: Edge | None, deletes: list[ArtifactDelete]
    ) -> None:
        if not own and before is None:
            return
        repo = tag.removeprefix("tag:").rpartition(":")[0]  # a tag name holds no colon
        current: dict[str, Any] | None = None
        mine = {f.digest for f in own if f.digest}
        if before is not None:
            current = {"id": before.id, "src": before.src, "until": None, "until_okey": OPEN}
            self.reopened.append(current)
            mine.add(before.src.removeprefix("artifact:"))
        # A delete by tag closes its own tag (its tag fact), no other: the digest it resolves
        # to is derived here, after the other tags' walks may have read it.
        closing = [
            d
            for d in deletes
            if d.tag_ref is None and d.digest in mine and d.repository in (None, repo)
        ]
        # (okey, is an artifact delete, fact), in order of okey
        stream: list[tuple[str, bool, Any]] = [(f.okey, False, f) for f in own]
        stream += [(d.okey, True, d) for d in closing]
        stream.sort(key=lambda item: item[0])
        for okey, artifact_delete, fact in stream:
            self.found.scopes.add(scopes.tag_fact(tag, okey))
            if artifact_delete or fact.kind == TagFactKind.DELETE:
                if not artifact_delete:
                    held = current["src"].removeprefix("artifact:") if current else None
                    self.held[(tag, okey)] = held
                gone = N.artifact(fact.digest) if artifact_delete else None
                if current is not None and gone in (None, current["src"]):
                    current.update(until=fact.time, until_okey=okey)
                    current = None
                continue
            current = self._point(tag, okey, fact, current)

    def _point(
        self, tag: str, okey: str, fact: TagFact, current: dict[str, Any] | None
    ) -> dict[str, Any]:
        assert fact.digest is not None
        src = N.artifact(fact.digest)
        if current is not None and current["src"] == src:
            return current
        if current is not None:
            current.update(until=fact.time, until_okey=okey)
        opened = {
            "src": src,
            "dst": tag,
            "kind": EdgeKind.TAGGED,
            "since": fact.time,
            "until": None,
            "seq": fact.seq,
            "attrs": {"actor": fact.actor} if fact.actor else {},
            "okey": okey,
            "until_okey": OPEN,
        }
        self.edges.append(opened)
        if current is not None:
            self.moves.append((tag, okey, fact, current["src"].removeprefix("artifact:")))
        return opened

    def moves_shown(self, session: Session) -> list[dict[str, Any]]:
        """The `tag.updated` rows derived from the moves, and a `tag_moved` finding each,
        from the events of the facts (their timeline rows as received)."""
        moves = self.moves
        events = _events_of(session, {(f.seq, f.event_id) for _, _, f, _ in moves})
        derived: list[dict[str, Any]] = []
        for tag, okey, fact, previous in moves:
            moved = _moved(fact, events[(fact.seq, fact.event_id)], previous)
            if not fact.explicit:
                # right after the push it is derived from
                derived.append(
                    timeline_row(moved, seq=fact.seq, order=2 * fact.ord + 1, derived_tag=tag)
                )
            self.found.raised.append(
                Raised(scopes.tag_fact(tag, okey), rules.tag_moved(moved), (fact.seq,))
            )
        return derived


def _tag_histories(
    session: Session,
    insert_: Callable[[Any], Any],
    found: _Findings,
    tags: set[str],
    since: datetime | None,
) -> set[str]:
    """Derive the tags' histories again from `since` on: what held before stays, the
    interval open at `since` is carried into the walk, the rest is replaced. Return the
    digests a delete by one of the tags now resolves to, or no longer does."""
    if not tags:
        return set()
    k0 = order_key(since) if since is not None else ""
    facts: dict[str, list[TagFact]] = defaultdict(list)
    for f in _rows_in(session, TagFact, TagFact.tag, tags, at_least=(TagFact.okey, k0)):
        facts[f.tag].append(f)
    affected = _rows_in(
        session, Edge, Edge.dst, tags, kind=EdgeKind.TAGGED, at_least=(Edge.until_okey, k0)
    )
    carried = {e.dst: e for e in affected if (e.okey or "") < k0}
    doomed = [e.id for e in affected if (e.okey or "") >= k0]
    digests = {f.digest for fs in facts.values() for f in fs if f.digest}
    digests |= {e.src.removeprefix("artifact:") for e in carried.values()}
    deletes = _rows_in(
        session,
        ArtifactDelete,
        ArtifactDelete.digest,
        digests,
        at_least=(ArtifactDelete.okey, k0),
    )
    walk = _TagWalk(found)
    for tag in sorted(tags):
        walk.tag(tag, facts.get(tag, []), carried.get(tag), deletes)
    edges, reopened, derived = walk.edges, walk.reopened, walk.moves_shown(session)
    _delete_edges(session, doomed)
    tag_list = sorted(tags)
    stale = _DERIVED_ROWS if since is None else _DERIVED_ROWS_SINCE
    for start in range(0, len(tag_list), _CHUNK):
        session.execute(stale, {"tags": tag_list[start : start + _CHUNK], "since": since})
    _close_intervals(session, reopened)
    if edges:
        session.execute(insert(_EDGES), edges)
    if derived:
        session.execute(insert(_TIMELINE), derived)
    return _resolve_deletes(session, insert_, tags, k0, walk.held)


def _resolve_deletes(
    session: Session,
    insert_: Callable[[Any], Any],
    tags: set[str],
    k0: str,
    held: dict[tuple[str, str], str | None],
) -> set[str]:
    """A delete by tag deletes the digest the tag held at its time (its own tag fact has
    the delete's order key): store that digest on the delete and its timeline row, and
    derive again the `deleted` state of the digests it moved from and to."""
    by_tag = _rows_in(
        session,
        ArtifactDelete,
        ArtifactDelete.tag_ref,
        tags,
        at_least=(ArtifactDelete.okey, k0),
    )
    changed = [(d, digest) for d in by_tag if (digest := held.get((d.tag_ref, d.okey))) != d.digest]
    if not changed:
        return set()
    for d, digest in changed:
        session.execute(
            update(ArtifactDelete)
            .where(ArtifactDelete.source == d.source, ArtifactDelete.event_id == d.event_id)
            .values(digest=digest)
        )
        session.execute(
            update(TimelineEvent)
            .where(
                TimelineEvent.seq == d.seq,  # its place in the log: ix_timeline_seq_event
                TimelineEvent.event_id == d.event_id,
                TimelineEvent.source == d.source,
                TimelineEvent.type == EventType.ARTIFACT_DELETED.value,
                TimelineEvent.derived_tag.is_(None),
            )
            .values(digest=digest, data={**d.data, "digest": digest} if digest else d.data)
        )
    digests = {x for d, digest in changed for x in (d.digest, digest) if x is not None}
    _relive(session, insert_, digests)
    return digests


def _relive(session: Session, insert_: Callable[[Any], Any], digests: set[str]) -> None:
    """Each digest's `deleted` as its latest push or delete in the timeline says (the
    projector's rule, `Artifact.life_key`), once a delete by tag moved to or from it."""
    latest: dict[str, Any] = {}
    first: dict[str, datetime] = {}
    for t in _rows_in(
        session,
        TimelineEvent,
        TimelineEvent.digest,
        digests,
        where=_PUSH_OR_DELETE,
    ):
        known = latest.get(t.digest)
        if known is None or (t.time, t.seq, t.ord) > (known.time, known.seq, known.ord):
            latest[t.digest] = t
        first[t.digest] = min(first.get(t.digest, t.time), t.time)
    rows = []
    for digest in sorted(latest):
        t = latest[digest]
        gone = t.type == EventType.ARTIFACT_DELETED.value
        rows.append(
            {
                "digest": digest,
                # A row this batch has not written yet (lanes write theirs after the
                # histories) takes the earlier first_seen when it is.
                "first_seen": first[digest],
                "deleted": gone,
                "deleted_at": t.time if gone else None,
                "life_key": order_key(t.time, t.seq, t.ord // 2),
            }
        )
    if not rows:
        return
    stmt = insert_(Artifact.__table__)
    ex = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["digest"],
        set_={"deleted": ex.deleted, "deleted_at": ex.deleted_at, "life_key": ex.life_key},
    )
    session.execute(stmt, rows)


def _moved(fact: TagFact, data: dict[str, Any], previous: str) -> Event:
    e = Event.from_dict(data)
    if fact.explicit:
        return e.with_changes(previous_digest=previous)
    return e.with_changes(
        id=f"{e.id}#tag.updated",
        type=EventType.TAG_UPDATED,
        previous_digest=previous,
        media_type=None,
        size=None,
        attributes={"derived_from": e.id},
    )


def timeline_row(
    e: Event,
    *,
    seq: int,
    order: int,
    derived_tag: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A row of the timeline for `e`: as stated (`derived_tag` None) or derived from a tag's
    history; `data` is `e.to_dict()` when the caller has it already."""
    return {
        "seq": seq,
        "ord": order,
        "derived_tag": derived_tag,
        "event_id": e.id,
        "type": e.type.value,
        "time": e.time,
        "source": e.source,
        "digest": e.digest,
        "previous_digest": e.previous_digest,
        "repository": e.repository,
        "tag": e.tag,
        "actor": e.actor,
        "data": e.to_dict() if data is None else data,
    }


# --- workloads -------------------------------------------------------------------------


def _workloads_running(session: Session, digests: set[str]) -> dict[str, datetime]:
    """Workloads that were ever given one of `digests` (its evidence decides their alerts),
    each with the earliest time it was: its findings from then on may change."""
    out: dict[str, datetime] = {}

    def saw(workload: str, time: datetime) -> None:
        out[workload] = min(out.get(workload, time), time)

    ids = sorted(digests)
    for start in range(0, len(ids), _CHUNK):
        stmt = (
            select(DeployFact.workload, func.min(DeployFact.time))
            .where(DeployFact.digest.in_(ids[start : start + _CHUNK]))
            .group_by(DeployFact.workload)
        )
        for workload, time in session.execute(stmt):
            saw(str(workload), time)
    # Deployed by a tag that held the digest then: only the interval names the digest.
    running = _rows_in(
        session, Edge, Edge.src, {N.artifact(d) for d in digests}, kind=EdgeKind.DEPLOYED
    )
    first: dict[str, datetime] = {}
    for e in running:
        first[e.dst] = min(first.get(e.dst, e.since), e.since)
    for n in _rows_in(session, Node, Node.id, first):
        if n.attrs.get("workload"):
            saw(str(n.attrs["workload"]), first[n.id])
    return out


def _starts(
    workloads: set[str], tail: datetime | None, evidenced: dict[str, datetime]
) -> dict[str, datetime | None]:
    """From when each workload's history is derived again (None: whole)."""
    out: dict[str, datetime | None] = dict.fromkeys(workloads, tail)
    for workload, time in evidenced.items():
        if workload not in out:
            out[workload] = time
        elif (known := out[workload]) is not None:
            out[workload] = min(known, time)
    return out


def _matches(selector: dict[str, Any], placement: dict[str, Any]) -> bool:
    """Does an event that names only some of cluster/namespace/container (CDEvents often
    name a service and an environment) speak of this container?"""
    for name in ("cluster", "namespace", "container"):
        if selector.get(name) is not None and placement.get(name) != selector[name]:
            return False
    env = selector.get("environment")
    if selector.get("cluster") is None and env is not None:
        return env in (placement.get("environment"), placement.get("cluster"))
    return True


@dataclass
class _Derivation:
    """Deployment intervals of workloads, derived fact by fact in event-time order."""

    edges: list[dict[str, Any]] = field(default_factory=list)
    openings: list[tuple[str, DeployFact, str]] = field(default_factory=list)
    candidates: set[str] = field(default_factory=set)  # every container they may speak of
    fallback_nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    resolved_rows: list[dict[str, Any]] = field(default_factory=list)
    # Per container, the interval open where a tail derivation starts (reopened: its
    # `until` is derived again).
    carried: dict[str, dict[str, Any]] = field(default_factory=dict)

    def workload(
        self, workload: str, own: list[DeployFact], resolve: Callable[[DeployFact], str | None]
    ) -> None:
        exact = {
            f.target: {k: f.data.get(k) for k in _PLACEMENT} for f in own if f.target is not None
        }
        self.candidates.update(exact)
        per_target: dict[str, list[DeployFact]] = defaultdict(list)
        for f in own:
            for target in [f.target] if f.target is not None else self._targets(f, exact):
                per_target[target].append(f)
        for target in sorted(per_target):
            self._walk(workload, target, per_target[target], resolve)
        for f in own:
            if f.kind == DeployFactKind.APPLIED and f.digest is None:
                digest = resolve(f)
                e = Event.from_dict(f.data)
                if digest is not None:
                    e = e.with_changes(
                        digest=digest, attributes={**e.attributes, "resolved_from_tag": True}
                    )
                self.resolved_rows.append(
                    {
                        "seq": f.seq,
                        "source": f.source,
                        "event_id": f.event_id,
                        "digest": digest,
                        "data": e.to_dict(),
                    }
                )

    def _targets(self, f: DeployFact, exact: dict[str, dict[str, Any]]) -> list[str]:
        """The known containers a partial fact speaks of; a stand-in node while none is."""
        selector = {k: f.data.get(k) for k in _PLACEMENT}
        fallback = N.deployment(
            selector["cluster"], selector["namespace"], f.workload, selector["container"] or ""
        )
        self.candidates.add(fallback)
        hits = sorted(t for t, p in exact.items() if _matches(selector, p))
        if hits:
            return hits
        node = self.fallback_nodes.setdefault(
            fallback,
            {"id": fallback, "kind": NodeKind.DEPLOYMENT, "attrs": selector, "first_seen": f.time},
        )
        node["first_seen"] = min(node["first_seen"], f.time)
        return [fallback]

    def _walk(
        self,
        workload: str,
        target: str,
        facts: list[DeployFact],
        resolve: Callable[[DeployFact], str | None],
    ) -> None:
        current = self.carried.get(target)
        for f in facts:
            if f.kind == DeployFactKind.REMOVED:
                if current is not None:
                    current.update(until=f.time, until_okey=f.okey)
                    current = None
                continue
            data = f.data
            digest = resolve(f)
            if digest is not None:
                src = N.artifact(digest)
            elif f.tag_ref and data.get("repository") and data.get("tag"):
                # By a tag that pointed nowhere known at that time: it still runs there, an
                # image known only by its reference (no downstream walk reaches it).
                ref = f"{data['repository']}:{data['tag']}"
                src = N.image(ref)
                node = self.fallback_nodes.setdefault(
                    src,
                    {
                        "id": src,
                        "kind": NodeKind.IMAGE,
                        "attrs": {"reference": ref},
                        "first_seen": f.time,
                    },
                )
                node["first_seen"] = min(node["first_seen"], f.time)
            else:
                continue
            if current is not None and current["src"] == src:
                continue
            if current is not None:
                current.update(until=f.time, until_okey=f.okey)
            attrs: dict[str, Any] = {"pinned": f.digest is not None}
            if data.get("actor"):
                attrs["actor"] = data["actor"]
            if data.get("repository") and data.get("tag"):
                attrs["image"] = f"{data['repository']}:{data['tag']}"
            current = {
                "src": src,
                "dst": target,
                "kind": EdgeKind.DEPLOYED,
                "since": f.time,
                "until": None,
                "seq": f.seq,
                "attrs": attrs,
                "okey": f.okey,
                "until_okey": OPEN,
            }
            self.edges.append(current)
            if digest is not None:
                self.openings.append((workload, f, digest))


def _workload_histories(
    session: Session,
    insert_: Callable[[Any], Any],
    found: _Findings,
    starts: dict[str, datetime | None],
) -> set[str]:
    """Derive what each container of the workloads ran, from its start time on; return the
    digests whose deployments may have changed (before and after).

    A workload with a partial fact (one naming less than its container) is derived whole:
    a container that becomes known later takes the partial facts from before."""
    if not starts:
        return set()
    partial = _column_in(
        session,
        DeployFact.workload,
        DeployFact.workload,
        starts,
        where=_PARTIAL,
    )
    groups: dict[datetime | None, set[str]] = defaultdict(set)
    for workload, since in starts.items():
        groups[None if workload in partial else since].add(workload)
    touched: set[str] = set()
    for since in sorted(groups, key=lambda t: (t is not None, t)):
        touched |= _derive(session, insert_, found, groups[since], since)
    return touched


def _derive(
    session: Session,
    insert_: Callable[[Any], Any],
    found: _Findings,
    workloads: set[str],
    since: datetime | None,
) -> set[str]:
    """Derive the workloads' histories again from `since` on (None: whole), as the tags':
    the interval open at `since` on each container is carried into the walk, the
    intervals opened after it are replaced, and so are the findings from `since` on."""
    k0 = order_key(since) if since is not None else ""
    tail = since is not None
    facts: dict[str, list[DeployFact]] = defaultdict(list)
    rows = _rows_in(
        session,
        DeployFact,
        DeployFact.workload,
        workloads,
        at_least=(DeployFact.okey, k0) if tail else None,
    )
    for f in rows:
        facts[f.workload].append(f)
    refs = {f.tag_ref for fs in facts.values() for f in fs if f.tag_ref and not f.digest}
    tagged: dict[str, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
    held_then = (Edge.until_okey, k0) if tail else None  # an interval over by then: no use
    for e in _rows_in(session, Edge, Edge.dst, refs, kind=EdgeKind.TAGGED, at_least=held_then):
        tagged[e.dst].append((e.since, e.until, e.src.removeprefix("artifact:")))

    def resolve(f: DeployFact) -> str | None:
        if f.digest or not f.tag_ref:
            return f.digest
        held = [
            (s, d)
            for s, u, d in tagged.get(f.tag_ref, ())
            if s <= f.time and (u is None or u > f.time)
        ]
        return max(held)[1] if held else None

    out = _Derivation()
    affected: list[Any] = []
    doomed: list[int] = []
    if tail:
        # No partial facts: every fact names its container, and only those containers'
        # intervals from `since` on change.
        targets = {f.target for fs in facts.values() for f in fs if f.target is not None}
        affected, doomed = _intervals_from(session, targets, k0, out.carried)
    for workload in sorted(workloads):
        out.workload(workload, sorted(facts.get(workload, []), key=lambda f: f.okey), resolve)
    edges, candidates, fallback_nodes = out.edges, out.candidates, out.fallback_nodes
    resolved_rows, openings = out.resolved_rows, out.openings
    if tail:
        before = affected
        _delete_edges(session, doomed)
        _close_intervals(session, list(out.carried.values()))
    else:
        before = _rows_in(session, Edge, Edge.dst, candidates, kind=EdgeKind.DEPLOYED)
        target_list = sorted(candidates)
        for start in range(0, len(target_list), _CHUNK):
            chunk = target_list[start : start + _CHUNK]
            session.execute(delete(Edge).where(Edge.kind == EdgeKind.DEPLOYED, Edge.dst.in_(chunk)))
    touched = {e.src.removeprefix("artifact:") for e in before if e.src.startswith("artifact:")}
    touched |= {
        e["src"].removeprefix("artifact:") for e in edges if e["src"].startswith("artifact:")
    }
    if edges:
        session.execute(insert(_EDGES), edges)
    # A container named by an exact event takes the partial events: the stand-in goes.
    used = {e["dst"] for e in edges} | {f.target for fs in facts.values() for f in fs if f.target}
    _write_stand_ins(session, insert_, fallback_nodes, sorted(candidates - used))
    if resolved_rows:
        _show_resolved(session, resolved_rows)
    proof = _evidence(session, {d for _, _, d in openings})
    found.raised += derive.unproven_deployments(
        (derive.Opening(w, f.seq, f.data, digest) for w, f, digest in openings), proof
    )
    derived = {scopes.workload(w) for w in workloads}
    found.scopes |= derived
    if since is not None:
        found.since.update(dict.fromkeys(derived, since))
    return touched


def _intervals_from(
    session: Session, targets: set[str], k0: str, carried: dict[str, dict[str, Any]]
) -> tuple[list[Any], list[int]]:
    """The containers' `deployed` intervals still open at `k0` or opened after it; the one
    open at `k0` is put in `carried` (reopened), the ids of the later ones returned."""
    affected = _rows_in(
        session,
        Edge,
        Edge.dst,
        targets,
        kind=EdgeKind.DEPLOYED,
        at_least=(Edge.until_okey, k0),
    )
    doomed = []
    for e in affected:
        if (e.okey or "") < k0:
            carried[e.dst] = {"id": e.id, "src": e.src, "until": None, "until_okey": OPEN}
        else:
            doomed.append(e.id)
    return affected, doomed


def _write_stand_ins(
    session: Session,
    insert_: Callable[[Any], Any],
    nodes: dict[str, dict[str, Any]],
    unused: list[str],
) -> None:
    """Upsert the stand-in nodes the derivation used (earliest first_seen), drop the
    containers' stand-ins no longer used."""
    if nodes:
        stmt = insert_(Node.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={"first_seen": stmt.excluded.first_seen},
            where=stmt.excluded.first_seen < Node.first_seen,
        )
        session.execute(stmt, list(nodes.values()))
    for start in range(0, len(unused), _CHUNK):
        session.execute(delete(Node).where(Node.id.in_(unused[start : start + _CHUNK])))


def _show_resolved(session: Session, resolved: list[dict[str, Any]]) -> None:
    """A deployment by tag shows, in the timeline, the digest the tag held at that time:
    rewrite the rows whose resolution changed."""
    wanted = {(r["seq"], r["source"], r["event_id"]): r for r in resolved}
    shown = _timeline_rows(
        session,
        {(seq, event_id) for seq, _, event_id in wanted},
        _APPLIED,
    )
    changed = [
        {"id": t.id, "digest": r["digest"], "data": r["data"]}
        for t in shown
        if (r := wanted.get((t.seq, t.source, t.event_id))) is not None and t.digest != r["digest"]
    ]
    if changed:
        session.execute(update(TimelineEvent), changed)  # bulk UPDATE by primary key


def _evidence(session: Session, digests: set[str]) -> dict[str, Evidence]:
    """What each digest has for the alert rules: its signatures and attestations in the
    set of events, and the verdicts of them the log holds (`derive.evidence_of`)."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    arts = sorted(N.artifact(d) for d in digests)
    for start in range(0, len(arts), _CHUNK):
        rows = session.execute(
            select(Edge.dst, Edge.kind, func.count())
            .where(
                Edge.dst.in_(arts[start : start + _CHUNK]),
                Edge.kind.in_((EdgeKind.SIGNS, EdgeKind.ATTESTS)),
            )
            .group_by(Edge.dst, Edge.kind)
        )
        for dst, kind, n in rows:
            counts[str(dst).removeprefix("artifact:")][str(kind)] = int(n)
    verdicts = evidence.verified_counts_of(session, digests)
    return {d: derive.evidence_of(counts[d], verdicts.get(d, {})) for d in digests}


def _running(session: Session, digests: Iterable[str]) -> list[derive.Running]:
    """The deployment intervals of `digests`, with where each container runs."""
    edges = _rows_in(
        session, Edge, Edge.src, {N.artifact(d) for d in digests}, kind=EdgeKind.DEPLOYED
    )
    where = {n.id: n.attrs for n in _rows_in(session, Node, Node.id, {e.dst for e in edges})}
    return [
        derive.Running(
            digest=e.src.removeprefix("artifact:"),
            container=e.dst,
            since=e.since,
            until=e.until,
            seq=e.seq,
            okey=e.okey or "",
            placement=derive.placement_of(where.get(e.dst, {})),
        )
        for e in edges
    ]


def vulnerable_alerts(
    session: Session, found: _Findings, digests: set[str], min_severity: str
) -> None:
    """vulnerable_deployed (`derive.vulnerable_deployments`) for the digests' deployment
    intervals, against their latest scans."""
    if not digests:
        return
    # The worst column first: only the digests it names have their findings read.
    latest = scans.latest_scans(session, scans.at_or_above(session, digests, min_severity))
    bad = {d for d in latest if derive.vulnerable_scans(latest[d], min_severity)}
    found.raised += derive.vulnerable_deployments(_running(session, bad), latest, min_severity)
    found.scopes |= {scopes.vulnerable(d) for d in digests}


# --- deletes and pullers ---------------------------------------------------------------


def _delete_alerts(
    session: Session, found: _Findings, digests: set[str], *, moved: set[str]
) -> None:
    """deleted_while_deployed: a delete inside a deployment interval of its digest.
    `moved`: digests a delete by tag resolved to or no longer does (their findings are
    derived again even with no delete left)."""
    found.scopes |= {scopes.deleted(d) for d in moved}
    digests = digests | moved
    if not digests:
        return
    deletes = _rows_in(session, ArtifactDelete, ArtifactDelete.digest, digests)
    with_deletes = {d.digest for d in deletes}
    if not with_deletes:
        return
    found.raised += derive.deletes_while_deployed(
        (derive.Deleted(d.digest, d.time, d.okey, d.seq, d.data) for d in deletes),
        _running(session, with_deletes),
    )
    found.scopes |= {scopes.deleted(d) for d in with_deletes}


def reconcile_pullers(
    session: Session,
    insert_: Callable[[Any], Any],
    first_pulls: dict[tuple[str, str], tuple[int, dict[str, Any]]],
) -> None:
    """Concurrent writers: the new_puller findings of the pullers whose first pull this
    transaction just moved or made, reconciled apart from `recompute` (which is then given
    none). The writer calls it right after writing those first pulls, last in the
    transaction: the first-pull row a lane wrote is locked until its commit, so of two
    lanes changing one puller's first pull the later reads the earlier one's alerts
    committed, and a lane waiting for that row waits for a commit, not a whole batch."""
    found = _Findings()
    _puller_alerts(found, first_pulls)
    reconcile(session, insert_, found.scopes, found.raised)


def _puller_alerts(
    found: _Findings, first_pulls: dict[tuple[str, str], tuple[int, dict[str, Any]]]
) -> None:
    """new_puller (`derive.new_pullers`): the first pull of a repository by an actor."""
    if not first_pulls:
        return
    found.raised += derive.new_pullers(first_pulls)
    found.scopes |= {scopes.puller(r, a) for r, a in first_pulls}


# --- writes of derived rows, built once ------------------------------------------------

_DELETE_EDGES = delete(_EDGES).where(_EDGES.c.id.in_(bindparam("ids", expanding=True)))
_CLOSE_INTERVAL = (
    update(_EDGES)
    .where(_EDGES.c.id == bindparam("b_id"))
    .values(until=bindparam("b_until"), until_okey=bindparam("b_until_okey"))
)
# The `tag.updated` rows derived from some tags' moves (from a time on).
_DERIVED_ROWS = delete(_TIMELINE).where(
    _TIMELINE.c.derived_tag.in_(bindparam("tags", expanding=True))
)
_DERIVED_ROWS_SINCE = _DERIVED_ROWS.where(
    _TIMELINE.c.time >= bindparam("since", type_=_TIMELINE.c.time.type)
)


def _delete_edges(session: Session, ids: list[int]) -> None:
    for start in range(0, len(ids), _CHUNK):
        session.execute(_DELETE_EDGES, {"ids": ids[start : start + _CHUNK]})


def _close_intervals(session: Session, intervals: list[dict[str, Any]]) -> None:
    """Store the end (`until`, `until_okey`) of intervals carried into a walk: one
    executemany by primary key."""
    if intervals:
        params = [
            {"b_id": r["id"], "b_until": r["until"], "b_until_okey": r["until_okey"]}
            for r in intervals
        ]
        session.execute(_CLOSE_INTERVAL, params)


# --- lookups ---------------------------------------------------------------------------


# The constant filters of the reads below (a statement is built once per filter).
_PUSH_OR_DELETE = TimelineEvent.type.in_(
    (EventType.ARTIFACT_PUSHED.value, EventType.ARTIFACT_DELETED.value)
) & TimelineEvent.derived_tag.is_(None)
_PARTIAL = DeployFact.target.is_(None)
_APPLIED = TimelineEvent.type == EventType.DEPLOYMENT_APPLIED.value
_AS_RECEIVED = TimelineEvent.derived_tag.is_(None)

# A batch's histories run some twenty of these reads; built each time, a statement cost
# more than running it (its clauses coerced, its cache key generated again: a third of
# `recompute`'s time, py-spy). Each shape is built once, with its values bound: `ids`
# expanding. `where` must be a constant (one of the above): the cache is keyed by it.
_SHAPES = 64


@functools.lru_cache(maxsize=_SHAPES)
def _in_statement(
    wanted: tuple[Any, ...],
    column: Any,
    *,
    kind: EdgeKind | None,
    at_least: Any,
    where: Any,
    distinct: bool,
) -> Any:
    stmt = select(*wanted).where(column.in_(bindparam("ids", expanding=True)))
    if kind is not None:
        stmt = stmt.where(Edge.kind == kind)
    if at_least is not None:
        stmt = stmt.where(at_least >= bindparam("at_least"))
    if where is not None:
        stmt = stmt.where(where)
    return stmt.distinct() if distinct else stmt


def _select_in(
    session: Session,
    wanted: tuple[Any, ...],
    column: Any,
    values: Iterable[str],
    *,
    kind: EdgeKind | None,
    at_least: tuple[Any, str] | None,
    where: Any,
    distinct: bool = False,
) -> list[Any]:
    ids = sorted(values)
    if not ids:
        return []
    bound, least = (None, None) if at_least is None else at_least
    stmt = _in_statement(wanted, column, kind=kind, at_least=bound, where=where, distinct=distinct)
    out: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        params = {"ids": ids[start : start + _CHUNK], "at_least": least}
        out.extend(session.execute(stmt, params).all())
    return out


def _rows_in(
    session: Session,
    model: Any,
    column: Any,
    values: Iterable[str],
    *,
    kind: EdgeKind | None = None,
    at_least: tuple[Any, str] | None = None,
    where: Any = None,
) -> list[Any]:
    """The rows of `model` whose `column` is in `values` (and, with `at_least` (column,
    value), whose column is at least the value): read-only rows (named like the model's
    attributes), not ORM objects, which would cost an identity map each."""
    wanted = tuple(model.__table__.columns)
    return _select_in(session, wanted, column, values, kind=kind, at_least=at_least, where=where)


_TIMELINE_PAIRS = select(*TimelineEvent.__table__.columns).where(
    TimelineEvent.seq.in_(bindparam("seqs", expanding=True)),
    TimelineEvent.event_id.in_(bindparam("event_ids", expanding=True)),
)


@functools.lru_cache(maxsize=_SHAPES)
def _timeline_statement(where: Any) -> Any:
    return _TIMELINE_PAIRS.where(where)


def _timeline_rows(session: Session, keys: set[tuple[int, str]], where: Any) -> list[Any]:
    """The timeline rows at (log seq, event id) `keys` that match `where` (a constant),
    through `ix_timeline_seq_event` (an event id is at one seq: the two IN lists name the
    pairs)."""
    ordered = sorted(keys)
    stmt = _timeline_statement(where)
    out: list[Any] = []
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        params = {
            "seqs": sorted({seq for seq, _ in chunk}),
            "event_ids": sorted({event_id for _, event_id in chunk}),
        }
        out.extend(t for t in session.execute(stmt, params) if (t.seq, t.event_id) in keys)
    return out


def _events_of(session: Session, keys: set[tuple[int, str]]) -> dict[tuple[int, str], Any]:
    """The event JSON of each (log seq, event id): its timeline row as received."""
    rows = _timeline_rows(session, keys, _AS_RECEIVED)
    found = {(t.seq, t.event_id): t.data for t in rows}
    missing = keys - found.keys()
    if missing:  # every tag fact is written with its event's row: a rebuild is needed
        raise LookupError(f"no timeline row for the events at {sorted(missing)[:3]}")
    return found


def _column_in(
    session: Session,
    wanted: Any,
    column: Any,
    values: Iterable[str],
    *,
    kind: EdgeKind | None = None,
    where: Any = None,
) -> set[str]:
    """The distinct values of `wanted` in the rows whose `column` is in `values`."""
    rows = _select_in(
        session, (wanted,), column, values, kind=kind, at_least=None, where=where, distinct=True
    )
    return {str(v) for (v,) in rows if v is not None}


__all__ = ["Touched", "recompute", "reconcile_pullers"]
