"""The findings, one rule per kind: plain functions from one fact (and what is known about
it) to a `Finding`. Each is tested on its own. A finding's `key` is its identity: replaying
the log raises the same alerts, once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from provenance.model import scan_shape
from provenance.model.alerts.kinds import AlertKind, Finding
from provenance.model.events import Event
from provenance.model.timeutil import format_time

if TYPE_CHECKING:
    from provenance.model.scan_shape import ScanSummary


def tag_moved(moved: Event) -> Finding:
    """A tag now points to another digest: who moved it, from what, to what."""
    return Finding(
        kind=AlertKind.TAG_MOVED,
        key=f"tag_moved:{moved.id}",
        time=moved.time,
        digest=moved.digest,
        repository=moved.repository,
        details={
            "tag": moved.tag,
            "previous_digest": moved.previous_digest,
            "digest": moved.digest,
            "actor": moved.actor,
            "source": moved.source,
        },
    )


@dataclass(frozen=True, slots=True)
class Evidence:
    """What is known about a digest's signatures and attestations when it is deployed.
    `verified_*` is None while no verification has been recorded (presence only)."""

    signatures: int
    attestations: int
    verified_signatures: int | None = None
    verified_attestations: int | None = None


def deployed_without_evidence(deployed: Event, evidence: Evidence) -> list[Finding]:
    """A digest went into a cluster unsigned or unattested (or with nothing that verified)."""
    findings = []
    where = {
        "environment": deployed.environment,
        "cluster": deployed.cluster,
        "namespace": deployed.namespace,
        "workload": deployed.workload,
        "container": deployed.container,
    }
    checks = (
        (AlertKind.UNSIGNED_DEPLOYED, evidence.signatures, evidence.verified_signatures),
        (AlertKind.UNATTESTED_DEPLOYED, evidence.attestations, evidence.verified_attestations),
    )
    for kind, present, verified in checks:
        ok = present > 0 if verified is None else verified > 0
        if ok:
            continue
        reason = "none recorded" if present == 0 else "none verified against the trust policy"
        findings.append(
            Finding(
                kind=kind,
                key=f"{kind}:{deployed.id}",
                time=deployed.time,
                digest=deployed.digest,
                repository=deployed.repository,
                details={**where, "reason": reason, "present": present},
            )
        )
    return findings


def deleted_while_deployed(deleted: Event, running_in: Sequence[dict[str, Any]]) -> Finding | None:
    """The registry lost a digest that workloads still run: the next pull will fail."""
    if not running_in:
        return None
    return Finding(
        kind=AlertKind.DELETED_WHILE_DEPLOYED,
        key=f"deleted_while_deployed:{deleted.id}",
        time=deleted.time,
        digest=deleted.digest,
        repository=deleted.repository,
        details={"actor": deleted.actor, "deployments": list(running_in)},
    )


def new_puller(pulled: Event, *, seen_before: bool) -> Finding | None:
    """First pull of this repository by this actor."""
    if seen_before or pulled.repository is None:
        return None
    actor = pulled.actor or "anonymous"
    return Finding(
        kind=AlertKind.NEW_PULLER,
        key=f"new_puller:{pulled.repository}:{actor}",
        time=pulled.time,
        digest=pulled.digest,
        repository=pulled.repository,
        details={"actor": actor, "client": pulled.client, "user_agent": pulled.user_agent},
    )


_MAX_IDS = 50  # ids named in a finding's details (the artifact view lists them all)


def vulnerable_deployed(
    digest: str,
    since: datetime,
    until: datetime | None,
    *,
    placement: dict[str, Any],
    scans: Sequence[ScanSummary],
    min_severity: str,
) -> Finding | None:
    """A digest ran while scans reported something at or above `min_severity`: from the
    deployment on when a scan knew it then, else from the first scan that found it while
    it ran. A scan after the deployment ended raises nothing for that deployment."""
    bar = scan_shape.rank(min_severity)
    found = [s for s in scans if until is None or s.time < until]
    if not found:
        return None
    first = min(found, key=lambda s: (max(since, s.time), s.scanner))
    time = max(since, first.time)
    ids = sorted(
        {
            str(v["id"])
            for s in found
            for v in s.vulnerabilities
            if scan_shape.rank(str(v["severity"])) <= bar
        }
    )
    worst = min((w for s in found if (w := s.worst())), key=scan_shape.rank, default=None)
    # The placement hashed: cluster, namespace, workload and container together would not
    # fit the key column.
    where = hashlib.sha256(
        "/".join(str(placement.get(k) or "") for k in sorted(placement)).encode()
    ).hexdigest()[:16]
    return Finding(
        kind=AlertKind.VULNERABLE_DEPLOYED,
        key=f"vulnerable_deployed:{digest}:{where}",
        time=time,
        digest=digest,
        repository=None,
        details={
            **placement,
            "severity": worst,
            "min_severity": min_severity,
            "vulnerabilities": ids[:_MAX_IDS],
            "scanners": sorted({s.scanner for s in found}),
            "found_by": "deployment" if time == since else "scan",
            "deployed_since": format_time(since),
        },
    )


__all__ = [
    "Evidence",
    "deleted_while_deployed",
    "deployed_without_evidence",
    "new_puller",
    "tag_moved",
    "vulnerable_deployed",
]
