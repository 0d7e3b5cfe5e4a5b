"""Supply-chain provenance for container registries: the domain, laid out by its flow.

    provenance.model     events, deliveries, node ids and the graph's kinds (`kinds`), errors,
                         time, the hash chain, what an event means for the graph
                         (`graph_rules`), which verdict holds (`verdicts`), the alerts
                         (`alerts/`), the rules of retention and scans: pure values and
                         functions
    provenance.trust     the trust policy and the verification of signatures, attestations
                         and push tokens (the only importer of the cryptography libraries)
    provenance.store     the only importer of SQLAlchemy: the hash-chained log, the
                         projection of it into the graph (`projection/`: the runner and
                         its cursors, the writer of the rules' facts), event-time
                         histories, and the reads (`reads/`); its `Session` is the unit of
                         work the layers above name
    provenance.ingest    bytes -> log: source adapters, the ingest use case, the wire format
                         of distributed mode, outboxes, reconciliation, admission, the demo;
                         `opening` (the database handle, its type, `connect`,
                         `open_database`), `quarantine.keep`, `rebuild`
    provenance.query     graph -> answers, each a frozen dataclass: artifacts, lineage and
                         its rendering, blast radius, deployments, the catalog, exports,
                         checkpoints, the audit (log entries, verification, the
                         quarantine), `health` (log head, projection lag), `alerts`,
                         `retention`, `evidence`
    provenance.settings  the one settings object

Each layer uses only the layers below it (import-linter checks it in `make test`). `api`,
`streams` and `cli` are thin shells around this package, which imports none of them: they
call the use cases of `ingest` and `query`, never the store, and own the transaction
through the handle `provenance.ingest.opening` names.
"""

__all__: list[str] = []
