"""`provenance trust reverify`: judge every stored signature and attestation again.

The exact bytes of each `POST /v1/attestations` delivery are in the hash-chained log;
they are parsed and verified again under the current policy, with the time each was
first seen (so a key that expired since does not retroactively void what it signed
while valid; a revoked or removed key does). Each result is appended to the evidence
table next to the earlier ones (`origin="reverify"`): nothing is overwritten; which one
holds is the rule of `provenance.model.verdicts` (the latest reached).
Signature claims from other sources (CDEvents, canonical events) carry no signature
material and keep their arrival verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provenance.ingest.sources import Delivery, SourceSecrets, normalize
from provenance.model.errors import RejectedInput
from provenance.model.events import Event, EventType
from provenance.model.timeutil import utcnow
from provenance.model.verdicts import Origin
from provenance.store import Database, evidence, log
from provenance.trust.policy import AttestationVerifier

logger = logging.getLogger(__name__)

_SIGNED = (EventType.ARTIFACT_SIGNED, EventType.ARTIFACT_ATTESTED)


@dataclass
class ReverifyReport:
    policy_sha256: str | None
    evaluated_at: datetime
    entries: int = 0
    verdicts: int = 0
    verified: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)  # verdicts that flipped


def reverify(
    db: Database,
    verifier: AttestationVerifier,
    *,
    now: datetime | None = None,
    batch: int = 200,
    progress: Callable[[int], None] | None = None,
) -> ReverifyReport:
    when = now or utcnow()
    report = ReverifyReport(verifier.policy_sha256, when)
    secrets = SourceSecrets(verifier=verifier)
    after = 0
    while True:
        with db.write() as session:
            batch_rows = log.entries(session, after=after, limit=batch)
            if not batch_rows:
                break
            after = batch_rows[-1].seq
            values: list[dict[str, Any]] = []
            for row in batch_rows:
                if row.source == evidence.VERIFYING_SOURCE:
                    values.extend(_row_values(row, secrets, report, when))
            before = evidence.latest_by_event(session, [v["event_id"] for v in values])
            evidence.add(session, values)
        for v in values:
            report.verdicts += 1
            report.verified += int(v["verified"])
            prior = before.get(v["event_id"])
            if prior is not None and prior.verified != v["verified"]:
                report.changed.append(
                    {
                        "digest": v["digest"],
                        "event_id": v["event_id"],
                        "kind": v["kind"],
                        "was": prior.verified,
                        "now": v["verified"],
                        "key": v["key_id"],
                        "reason": v["reason"],
                    }
                )
        if progress is not None:
            progress(after)
    logger.info(
        "reverified evidence",
        extra={
            "entries": report.entries,
            "verdicts": report.verdicts,
            "policy": report.policy_sha256,
        },
    )
    return report


def _row_values(
    row: Any, secrets: SourceSecrets, report: ReverifyReport, when: datetime
) -> list[dict[str, Any]]:
    """Evidence rows for the signed/attested events one log entry stored."""
    stored = [e for e in map(Event.from_dict, row.events) if e.type in _SIGNED]
    if not stored:
        return []
    report.entries += 1
    delivery = Delivery(
        source=row.source,
        body=row.body,
        received_at=row.received_at,  # keys are judged at the time it was first seen
        content_type=row.content_type,
        headers=dict(row.headers),
        params=dict(row.params),
    )
    try:
        fresh = {e.id: e for e in normalize(delivery, secrets)}
        problem = "the subject is no longer found in the stored bytes"
    except RejectedInput as exc:
        logger.warning("a stored attestation no longer parses", extra={"seq": row.seq})
        fresh, problem = {}, f"the stored bytes no longer parse: {exc.detail}"
    out = []
    for old in stored:
        new = fresh.get(old.id)
        if new is None:
            verdict = {"verified": False, "reason": problem, "policy_sha256": report.policy_sha256}
            new = old.with_changes(attributes={**old.attributes, "verdict": verdict})
        out.append(
            evidence.values_for(
                row.seq, new, origin=Origin.REVERIFY, trusted_source=True, evaluated_at=when
            )
        )
    return out


__all__ = ["ReverifyReport", "reverify"]
