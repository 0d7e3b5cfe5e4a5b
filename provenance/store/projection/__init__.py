"""The provenance graph as a projection of the log.

Every answer is a function of the set of events ordered by event time (then log seq), not
of their arrival: nodes and once-only edges keep the earliest time anything said about
them, an artifact's `deleted` is decided by its latest push or delete, and the histories
that change over time (what a tag points to, what a workload runs) are derived from facts
by `provenance.store.history` for just the tags and workloads a batch touched. Edges point
downstream (commit -> build -> artifact -> tag / deployment) and carry `since`/`until`,
so the past stays queryable.

Three parts, one job each:
- the rules, `provenance.model.graph_rules`: what an event means for the graph, as pure
  functions from an event to frozen facts (in the model: they need nothing of the store);
- the writer, `projection.writer` (its statements in `projection.upserts`): buffers a
  batch's facts and writes them set-based, then derives the touched histories again;
- the runner, `projection.runner`: which log entries to project under which cursor.

Entry points (the runner's): `apply_entries`, `project_in`, `project_pending`, `project_lane`,
`rebuild`, `lag`, `lane_cursor`, `oldest_pending`, `set_aside`, `CURSOR`.
"""

from __future__ import annotations

from provenance.store.models import ProjectionCursor  # the rows `CURSOR` and lanes name
from provenance.store.projection.runner import (
    CURSOR,
    LANE_CURSOR,
    BatchFailed,
    apply_entries,
    lag,
    lane_cursor,
    oldest_pending,
    project_in,
    project_lane,
    project_pending,
    rebuild,
    set_aside,
)
from provenance.store.projection.writer import GraphWriter

__all__ = [
    "CURSOR",
    "LANE_CURSOR",
    "BatchFailed",
    "GraphWriter",
    "ProjectionCursor",
    "apply_entries",
    "lag",
    "lane_cursor",
    "oldest_pending",
    "project_in",
    "project_lane",
    "project_pending",
    "rebuild",
    "set_aside",
]
