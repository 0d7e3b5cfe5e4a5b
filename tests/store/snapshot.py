"""A comparable picture of the whole projection (ids and insertion order left out)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from provenance.store import Database
from provenance.store.models import Artifact, Edge, Node, Pull, TimelineEvent


def snapshot(db: Database) -> dict[str, Any]:
    with db.read() as s:
        return {
            "nodes": sorted(
                (n.id, n.kind, repr(sorted(n.attrs.items()))) for n in s.scalars(select(Node))
            ),
            "edges": sorted(
                (e.src, e.dst, e.kind, e.since, e.until or "", e.seq, repr(sorted(e.attrs.items())))
                for e in s.scalars(select(Edge))
            ),
            "artifacts": sorted(
                (a.digest, a.media_type or "", a.deleted, a.deleted_at or "")
                for a in s.scalars(select(Artifact))
            ),
            "pulls": sorted(
                (p.digest, p.actor, p.client, p.count, p.first, p.last)
                for p in s.scalars(select(Pull))
            ),
            "timeline": sorted(
                (t.seq, t.event_id, t.type, repr(sorted(t.data.items())))
                for t in s.scalars(select(TimelineEvent))
            ),
        }
