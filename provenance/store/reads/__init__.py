"""Row lookups the query layer builds its answers from, one module per thing read.

    graph      nodes and edges: by id, by endpoint and kind, as of a time; tag histories,
               running deployments, what a registry host holds now
    timeline   a digest's events in event-time order, event times of a period, deletes
    pulls      who pulled a digest: the aggregate rows, a summary, or counted as of a time
    exports    what a compliance export reads: its cut of the log, pushes and deployments
               in a period (paged by keyset), the build facts of its digests

Rows out, no interpretation: the answers are made in `provenance.query`.
"""

from provenance.store.reads import exports, graph, pulls, timeline

__all__ = ["exports", "graph", "pulls", "timeline"]
