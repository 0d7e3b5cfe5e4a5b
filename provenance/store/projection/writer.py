"""The projection's writer: applies the facts of a batch of events to the graph tables.

What an event means is decided by `provenance.model.graph_rules`; `GraphWriter` only
stores it, set-based: `write` folds each event's facts into per-batch buffers (the
earliest time seen per node and once-only edge, one artifact row per digest, one pull
row per puller), and `flush` writes them with one bulk statement per table (the
statements: `provenance.store.projection.upserts`), writes the facts of the histories,
then derives again just the histories the batch touched (`history.recompute`).

Concurrent writers (one per lane, PostgreSQL) apply their batches side by side. What makes
that correct without a global lock:
- rows shared between lanes (hub nodes, artifacts, pulls, facts) are written in key order,
  so two transactions take their row locks in the same order and cannot deadlock on them;
- nodes and once-only edges go in with INSERT ... ON CONFLICT DO NOTHING (a unique index
  for the once-only kinds) and an UPDATE only where a stored row learns an earlier time:
  a hub (an actor, a repository) is locked only by a batch that changes it;
- attribute merges happen inside the UPDATE (a JSON merge), not read-modify-write;
- `history.recompute` takes per-key advisory locks (tag, workload, digest) before it
  reads the facts it derives from, so lanes touching one tag serialize on it alone; the
  shared rows are written after it, in one statement per table (`upserts`' arrays), so
  the locks a popular tag's lanes queue on are held for little more than the history;
- first pulls (a puller is a hub every lane's batch meets) are written very last, and
  their new_puller findings reconciled right after (`history.reconcile_pullers`).
A deadlock or serialization failure left over is retried by the caller (LaneProjector).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from provenance.model import graph_rules as rules
from provenance.model import nodes as N
from provenance.model.alerts import DEFAULT_MIN_SEVERITY
from provenance.model.events import Event
from provenance.model.kinds import EdgeKind, NodeKind, TagFactKind
from provenance.store import evidence, history, scans
from provenance.store.models import order_key
from provenance.store.projection import upserts

EdgeKey = tuple[str, str, str]  # (src, dst, kind)

# Nodes and once-only edges `history.recompute` reads (a workload's containers, what
# signs or attests a digest): written before it.
_READ_BY_HISTORY = frozenset({NodeKind.DEPLOYMENT})
_EDGES_READ_BY_HISTORY = frozenset({EdgeKind.SIGNS, EdgeKind.ATTESTS})
_TIMELINE_CHUNK = 500  # timeline rows are written as they reach this many
# Rows keep a kind's plain text (`.value`): the sqlite3 driver binds a str subclass through
# its adapter lookup, which costs more per row than the row's other columns.
_ARTIFACT = NodeKind.ARTIFACT.value
_POINT = TagFactKind.POINT  # bound once: a member's lookup on its class costs ~0.1 us (3.11)


class GraphWriter:
    """The write-behind buffers of one batch in one session, and how they are written.

    Rows that nothing reads back within the batch are written with one executemany each
    at `sync()`, instead of one statement per event; `sync()` runs before any read of
    those tables and at the end of the batch (`flush`)."""

    __slots__ = (
        "_applies",
        "_artifact_rows",
        "_attr_merges",
        "_concurrent",
        "_data",
        "_deletes",
        "_deploy_facts",
        "_edges",
        "_event",
        "_evidence_rows",
        "_first_pulls",
        "_insert",
        "_new_edges",
        "_new_nodes",
        "_nodes",
        "_okey",
        "_ord",
        "_pull_rows",
        "_seq",
        "_tag_facts",
        "_timeline",
        "_touched",
        "_trusted",
        "min_severity",
        "session",
    )

    def __init__(self, session: Session, min_severity: str = DEFAULT_MIN_SEVERITY) -> None:
        self.session = session
        # of `vulnerable_deployed` (`Settings.alert_min_severity`), passed down by the runner
        self.min_severity = min_severity
        dialect = session.get_bind().dialect.name
        self._insert: Callable[[Any], Any] = (
            sqlite.insert if dialect == "sqlite" else postgresql.insert
        )
        # PostgreSQL: other lanes' writers write at the same time (SQLite: one writer).
        self._concurrent = dialect == "postgresql"
        # Earliest time seen in this batch per node and once-only edge: an event about it
        # with an earlier time (it arrived late) moves its `first_seen` / `since` back.
        self._nodes: dict[str, datetime] = {}
        self._edges: dict[EdgeKey, datetime] = {}
        self._timeline: list[dict[str, Any]] = []
        self._new_nodes: dict[str, dict[str, Any]] = {}
        self._new_edges: dict[EdgeKey, dict[str, Any]] = {}
        self._artifact_rows: dict[str, dict[str, Any]] = {}
        self._pull_rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._evidence_rows: list[dict[str, Any]] = []
        # Attributes learnt about nodes written by earlier batches (a build that finished):
        # merged with one read and one bulk UPDATE per batch, at `sync()`.
        self._attr_merges: dict[str, dict[str, Any]] = {}
        # Facts, as stated; written at `flush`, then the histories they touch are derived.
        self._tag_facts: list[dict[str, Any]] = []
        self._deploy_facts: list[dict[str, Any]] = []
        self._deletes: list[dict[str, Any]] = []
        self._first_pulls: dict[tuple[str, str], dict[str, Any]] = {}
        self._touched = history.Touched()
        # The event being written: its log seq, index in its entry, order key (made when
        # first needed) and canonical JSON form (`Event.to_dict`, built once).
        self._event: Event | None = None
        self._seq = 0
        self._ord = 0
        self._okey: str | None = None
        self._data: dict[str, Any] = {}
        self._trusted = False
        self._applies: dict[type[Any], Callable[[Any], None]] = {
            rules.NodeFact: self._node_fact,
            rules.EdgeFact: self._edge_fact,
            rules.ArtifactFact: self._artifact_fact,
            rules.TagFact: self._tag_fact,
            rules.DeployFact: self._deploy_fact,
            rules.PullFact: self._pull_fact,
            rules.DeleteFact: self._delete_fact,
            rules.EvidenceFact: self._evidence_fact,
            rules.ScanFact: self._scan_fact,
        }

    # --- entry points ---------------------------------------------------------------

    def write(
        self,
        seq: int,
        ord_: int,
        event: Event,
        facts: rules.Facts,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Buffer what event `ord_` of log entry `seq` states (`graph_rules.facts_of`).
        `data`: the event's canonical form (`event.to_dict()`) when the caller has it."""
        self._event, self._seq, self._ord, self._okey = event, seq, ord_, None
        self._data = event.to_dict() if data is None else data
        if rules.on_timeline(event):
            row = history.timeline_row(event, seq=seq, order=2 * ord_, data=self._data)
            self._timeline.append(row)
            if len(self._timeline) >= _TIMELINE_CHUNK:
                self._write_timeline()
        applies = self._applies
        for fact in facts:
            applies[type(fact)](fact)

    def flush(self) -> None:
        """Write everything buffered, then derive the touched histories again."""
        firsts: dict[tuple[str, str], dict[str, Any]] = {}
        if not self._concurrent:
            self.sync()
        else:  # what the histories read first; the rows lanes share last (`_sync_shared`)
            firsts, self._first_pulls = self._first_pulls, {}  # a hub row: written last
            self._sync_nodes(late=False)
            self._write_evidence()
            early = {k: r for k, r in self._new_edges.items() if k[2] in _EDGES_READ_BY_HISTORY}
            if early:  # one signature's or attestation's own: no other lane writes them
                for k in early:
                    del self._new_edges[k]
                upserts.once_edges_concurrently(self.session, early)
        self._write_timeline()
        self._write_facts()
        if self._touched:
            history.recompute(
                self.session, self._insert, self._touched, min_severity=self.min_severity
            )
            self._touched = history.Touched()
        if self._concurrent:
            self._sync_shared(firsts)
        self.session.flush()

    def sync(self) -> None:
        """Write the buffered rows (nodes, once-only edges, artifacts, pulls, evidence)."""
        self._sync_nodes(late=False)
        self._merge_stored_attrs()
        self._write_evidence()
        self._write_artifacts()
        self._write_once_edges()
        self._write_pulls()

    # --- facts into buffers -----------------------------------------------------------

    def _order_key(self) -> str:
        okey = self._okey
        if okey is None:
            assert self._event is not None
            okey = self._okey = order_key(self._event.time, self._seq, self._ord)
        return okey

    def _node_fact(self, f: rules.NodeFact) -> None:
        node_id = f.id
        known = self._nodes.get(node_id)
        if known is None or f.time < known:  # the hub seen already (the usual case): done
            self._node(node_id, f.kind.value, f.time, f.attrs)
        if f.learns:
            self._merge_attrs(node_id, f.attrs)

    def _node(self, node_id: str, kind: str, time: datetime, attrs: Any) -> None:
        known = self._nodes.get(node_id)
        if known is not None and known <= time:
            return
        self._nodes[node_id] = time
        pending = self._new_nodes.get(node_id)
        if pending is not None:
            pending["first_seen"] = time
        else:  # new, or heard of earlier than this batch knew: the upsert keeps the earliest
            self._new_nodes[node_id] = {
                "id": node_id,
                "kind": kind,
                "attrs": attrs,
                "first_seen": time,
            }

    def _merge_attrs(self, node_id: str, attrs: Any) -> None:
        pending = self._new_nodes.get(node_id)
        if pending is not None:  # not written yet: a new node is written with them
            pending["attrs"] = {**pending["attrs"], **attrs}
        # ...and one already stored (the upsert keeps its attributes) learns them at sync.
        known = self._attr_merges.get(node_id)
        self._attr_merges[node_id] = dict(attrs) if known is None else {**known, **attrs}

    def _artifact_fact(self, f: rules.ArtifactFact) -> None:
        """One row per digest and batch; the latest push or delete decides `deleted`."""
        digest, time = f.digest, f.time
        node_id = N.artifact(digest)
        known = self._nodes.get(node_id)
        says = f.media_type is not None or f.size is not None or f.deleted is not None
        if known is not None and known <= time and not says:
            return
        row = self._artifact_rows.get(digest)
        if row is None:
            row = self._artifact_rows[digest] = {
                "digest": digest,
                "media_type": f.media_type,
                "size": f.size,
                "first_seen": time,
                "deleted": False,
                "deleted_at": None,
                "life_key": None,
            }
        else:  # the latest word on media type and size
            if f.media_type is not None:
                row["media_type"] = f.media_type
            if f.size is not None:
                row["size"] = f.size
            row["first_seen"] = min(row["first_seen"], time)
        if f.deleted is not None:
            okey = self._order_key()
            if row["life_key"] is None or okey > row["life_key"]:
                row["life_key"], row["deleted"] = okey, f.deleted
                row["deleted_at"] = time if f.deleted else None
        self._node(node_id, _ARTIFACT, time, {"digest": digest})

    def _edge_fact(self, f: rules.EdgeFact) -> None:
        """An edge that, once true, stays true; `since` is the earliest time it was said."""
        kind = f.kind.value
        key = (f.src, f.dst, kind)
        time = f.since
        known = self._edges.get(key)
        if known is not None and known <= time:
            return
        self._edges[key] = time
        pending = self._new_edges.get(key)
        if pending is not None:
            pending["since"] = time
            pending["seq"] = f.seq
            return
        self._new_edges[key] = {
            "src": f.src,
            "dst": f.dst,
            "kind": kind,
            "since": time,
            "until": None,
            "seq": f.seq,
            "attrs": f.attrs or {},  # a JSON column: a dict, not the facts' read-only empty
        }

    def _tag_fact(self, f: rules.TagFact) -> None:
        e = self._event
        assert e is not None
        point = f.kind is _POINT
        self._tag_facts.append(
            {
                "tag": f.tag,
                "repository": f.repository,
                "source": e.source,
                "event_id": e.id,
                "okey": self._order_key(),
                "time": f.time,
                "seq": self._seq,
                "ord": self._ord,
                "kind": f.kind.value,
                "digest": f.digest,
                "explicit": f.explicit,
                "actor": e.actor if point else None,  # the event: its timeline row
            }
        )
        touched = self._touched
        touched.tags.add(f.tag)
        if point and f.digest is not None:
            touched.digests.add(f.digest)
        touched.saw(f.time)

    def _deploy_fact(self, f: rules.DeployFact) -> None:
        e = self._event
        assert e is not None
        self._deploy_facts.append(
            {
                "workload": f.workload,
                "target": f.target,
                "source": e.source,
                "event_id": e.id,
                "okey": self._order_key(),
                "time": f.time,
                "seq": self._seq,
                "kind": f.kind.value,
                "digest": f.digest,
                "tag_ref": f.tag_ref,
                "data": self._data,
            }
        )
        touched = self._touched
        touched.workloads.add(f.workload)
        touched.saw_deploy(f.time)
        if f.names_digest is not None:
            touched.digests.add(f.names_digest)
        if f.tag_ref is not None:
            touched.tag_refs.add(f.tag_ref)

    def _pull_fact(self, f: rules.PullFact) -> None:
        key = (f.digest, f.actor, f.client)
        row = self._pull_rows.get(key)
        if row is None:
            self._pull_rows[key] = {
                "digest": f.digest,
                "actor": f.actor,
                "client": f.client,
                "count": 1,
                "first": f.time,
                "last": f.time,
            }
        else:
            row["count"] += 1
            row["first"] = min(row["first"], f.time)
            row["last"] = max(row["last"], f.time)
        if f.repository is not None:
            okey = self._order_key()
            first = self._first_pulls.get((f.repository, f.actor))
            if first is None or okey < first["okey"]:
                self._first_pulls[(f.repository, f.actor)] = {
                    "repository": f.repository,
                    "actor": f.actor,
                    "seq": self._seq,
                    "okey": okey,
                    "time": f.time,
                    "data": self._data,
                }

    def _delete_fact(self, f: rules.DeleteFact) -> None:
        e = self._event
        assert e is not None
        if f.digest is not None:
            self._touched.deleted.add(f.digest)
        self._deletes.append(
            {
                "source": e.source,
                "event_id": e.id,
                "digest": f.digest,
                "tag_ref": f.tag_ref,
                "repository": f.repository,
                "okey": self._order_key(),
                "time": f.time,
                "seq": self._seq,
                "data": self._data,
            }
        )
        self._touched.saw(f.time)

    def _evidence_fact(self, f: rules.EvidenceFact) -> None:
        e = self._event
        assert e is not None
        row = evidence.values_for(self._seq, e, origin="arrival", trusted_source=f.trusted)
        self._evidence_rows.append(row)
        self._touched.evidenced.add(f.digest)

    def _scan_fact(self, f: rules.ScanFact) -> None:
        """Recorded at once: which scan of its group is current is decided in event order."""
        e = self._event
        assert e is not None
        row = scans.fact_row(self._seq, self._order_key(), e)
        if scans.record(self.session, self._insert, row):
            self._touched.scanned.add(f.digest)

    # --- buffers into tables ------------------------------------------------------------

    def _sync_shared(self, firsts: dict[tuple[str, str], dict[str, Any]]) -> None:
        """Concurrent writers: the rows other lanes write too, last. A row new to the
        graph is inserted by one lane, and another lane inserting it waits until that
        transaction commits (an upsert also locks a row it updates until then): written
        just before the commit, the wait is short. (An actor, a repository, a base image,
        its edges are new to the graph in many batches while it grows.) Each table in key
        order, the tables in one order; the attributes stored nodes learn go after their
        rows exist whoever inserted them; the first pulls (`firsts`) and their new_puller
        findings very last, since every lane's batch meets the same pullers."""
        self._write_once_edges()
        if self._pull_rows:
            rows = [self._pull_rows[k] for k in sorted(self._pull_rows)]
            self._pull_rows.clear()
            upserts.pulls_concurrently(self.session, rows)
        if self._artifact_rows:
            rows = [self._artifact_rows[k] for k in sorted(self._artifact_rows)]
            self._artifact_rows.clear()
            upserts.artifacts_concurrently(self.session, rows)
        self._sync_nodes(late=True)
        self._merge_stored_attrs()
        self._write_first_pulls_last(firsts)

    def _write_first_pulls_last(self, firsts: dict[tuple[str, str], dict[str, Any]]) -> None:
        """Concurrent writers: store the first pulls this batch heard of earlier than the
        graph, then reconcile the new_puller findings of just those (`history.recompute`,
        run before, had none to reconcile). Until the commit, right after, each first-pull
        row written is locked: a lane writing the same puller waits that long, no more."""
        if not firsts:
            return
        rows = [firsts[k] for k in sorted(firsts)]  # key order: no deadlock between lanes
        changed = upserts.first_pulls(self.session, self._insert, rows, concurrent=True)
        moved = {(r, a): (seq, firsts[(r, a)]["data"]) for r, a, seq in changed}
        if moved:
            history.reconcile_pullers(self.session, self._insert, moved)

    def _write_timeline(self) -> None:
        if self._timeline:
            upserts.timeline(self.session, self._timeline)
            self._timeline.clear()

    def _write_evidence(self) -> None:
        if self._evidence_rows:
            upserts.evidence_rows(self.session, self._evidence_rows)
            self._evidence_rows = []

    def _write_pulls(self) -> None:
        if self._pull_rows:
            rows = [self._pull_rows[k] for k in sorted(self._pull_rows)]
            upserts.pulls(self.session, rows)
            self._pull_rows.clear()

    def _write_artifacts(self) -> None:
        if self._artifact_rows:
            rows = sorted(self._artifact_rows.values(), key=lambda r: str(r["digest"]))
            self._artifact_rows.clear()
            upserts.artifacts(self.session, rows)

    def _sync_nodes(self, *, late: bool) -> None:
        if not self._new_nodes:
            return
        if self._concurrent and not late:
            ids = sorted(k for k, r in self._new_nodes.items() if r["kind"] in _READ_BY_HISTORY)
        else:
            ids = sorted(self._new_nodes)  # lock order: by id
        rows = [self._new_nodes.pop(k) for k in ids]
        if not rows:
            return
        if self._concurrent:
            upserts.nodes_concurrently(self.session, rows)
        else:
            upserts.nodes(self.session, rows)

    def _merge_stored_attrs(self) -> None:
        if self._attr_merges:
            merges = self._attr_merges
            self._attr_merges = {}
            if self._concurrent:
                upserts.merge_attrs_concurrently(self.session, merges)
            else:
                upserts.merge_attrs(self.session, merges)

    def _write_once_edges(self) -> None:
        if self._new_edges:
            pending = self._new_edges
            self._new_edges = {}
            if self._concurrent:
                upserts.once_edges_concurrently(self.session, pending)
            else:
                upserts.once_edges(self.session, pending)

    def _write_facts(self) -> None:
        """Facts are idempotent on their identity: stated twice, stored once."""
        upserts.facts(
            self.session, self._insert, self._tag_facts, self._deploy_facts, self._deletes
        )
        self._tag_facts.clear()
        self._deploy_facts.clear()
        self._deletes.clear()
        if self._first_pulls:
            firsts = [self._first_pulls[k] for k in sorted(self._first_pulls)]
            changed = upserts.first_pulls(self.session, self._insert, firsts, self._concurrent)
            for repository, actor, seq in changed:
                row = self._first_pulls[(repository, actor)]
                self._touched.first_pulls[(repository, actor)] = (seq, row["data"])
            self._first_pulls.clear()


__all__ = ["GraphWriter"]
