"""Policy alerts, decided in one place: the vocabulary and the rules. Pure.

    kinds        AlertKind, Finding, Raised; the severity threshold (DEFAULT_MIN_SEVERITY)
    findings     one rule per kind: a fact (and what is known of it) -> a Finding
    scopes       the history a finding is derived from (tag fact, workload, deletes, ...)
    derive       derived histories (intervals, first pulls) -> the findings that hold
    supersede    stored_key, and which stored alerts stay, come back or are superseded

`provenance.store.history` derives the histories and reads the facts the rules need;
`provenance.store.alerting` stores what `supersede.plan` decides; `provenance.ingest.notify`
sends what is stored. Nothing else decides an alert.
"""

from __future__ import annotations

from provenance.model.alerts.findings import (
    Evidence,
    deleted_while_deployed,
    deployed_without_evidence,
    new_puller,
    tag_moved,
    vulnerable_deployed,
)
from provenance.model.alerts.kinds import (
    DEFAULT_MIN_SEVERITY,
    SEVERITIES,
    AlertKind,
    Finding,
    Raised,
    at_or_above,
)
from provenance.model.alerts.supersede import stored_key

__all__ = [
    "DEFAULT_MIN_SEVERITY",
    "SEVERITIES",
    "AlertKind",
    "Evidence",
    "Finding",
    "Raised",
    "at_or_above",
    "deleted_while_deployed",
    "deployed_without_evidence",
    "new_puller",
    "stored_key",
    "tag_moved",
    "vulnerable_deployed",
]
