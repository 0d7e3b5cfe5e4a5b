"""Supply-chain provenance for container registries: the domain.

Entry points:
    provenance.events      the canonical event vocabulary (Event, EventType)
    provenance.sources     source adapters: normalize(Delivery) -> list[Event]
    provenance.store       the hash-chained log, the projection, the graph tables
    provenance.queries     read side: artifacts, timelines, lineage, blast radius
    provenance.service     the ingest use case shared by `serve`, `api` and `worker`
    provenance.settings    the one settings object

Depends on none of `api`, `streams` and `cli`: they are thin shells around this package.
"""

__all__: list[str] = []
