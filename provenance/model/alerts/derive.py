"""The alerts a derived history implies: from its intervals and facts to `Raised` findings.

`provenance.store.history` derives the histories (tags' and deployments' intervals, in
event-time order) and reads what these rules need; the rules decide which findings hold,
in which scope, behind which log entries. Nothing here reads or writes a table.

    unproven_deployments(openings, evidence)             unsigned / unattested_deployed
    deletes_while_deployed(deletes, running)             deleted_while_deployed
    vulnerable_deployments(running, scans, min_severity) vulnerable_deployed
    new_pullers(first_pulls)                             new_puller
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provenance.model.alerts import scopes
from provenance.model.alerts.findings import (
    Evidence,
    deleted_while_deployed,
    deployed_without_evidence,
    new_puller,
    vulnerable_deployed,
)
from provenance.model.alerts.kinds import Raised, at_or_above
from provenance.model.events import Event
from provenance.model.kinds import EdgeKind, NodeKind
from provenance.model.scan_shape import ScanSummary

#: Where a container runs, as its node states it (the details of the placement alerts).
PLACEMENT = ("environment", "cluster", "namespace", "workload", "container")


@dataclass(frozen=True, slots=True)
class Running:
    """A deployment interval of a digest on one container (`since <= t < until`)."""

    digest: str
    container: str  # the container's node id
    since: datetime
    until: datetime | None
    seq: int
    okey: str
    placement: Mapping[str, Any] = field(default_factory=dict)

    def at(self, time: datetime) -> bool:
        return self.since <= time and (self.until is None or self.until > time)


@dataclass(frozen=True, slots=True)
class Opening:
    """A deployment fact that put `digest` on a container of `workload`."""

    workload: str
    seq: int
    data: Mapping[str, Any]  # the event, as stated
    digest: str


@dataclass(frozen=True, slots=True)
class Deleted:
    """A delete of `digest` (by tag: the digest the tag held then)."""

    digest: str
    time: datetime
    okey: str
    seq: int
    data: Mapping[str, Any]


def placement_of(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: attrs.get(k) for k in PLACEMENT}


def evidence_of(present: Mapping[str, int], verified: Mapping[str, int]) -> Evidence:
    """What a digest has: signatures/attestations linked to it (a late one clears the alert
    it answers), and how many of those verified (`signature` / `attestation` counts of
    the verdicts the log holds, `provenance.model.verdicts`)."""
    return Evidence(
        signatures=present.get(EdgeKind.SIGNS, 0),
        attestations=present.get(EdgeKind.ATTESTS, 0),
        verified_signatures=verified.get(NodeKind.SIGNATURE, 0),
        verified_attestations=verified.get(NodeKind.ATTESTATION, 0),
    )


def unproven_deployments(
    openings: Iterable[Opening], evidence: Mapping[str, Evidence]
) -> list[Raised]:
    """A digest put on a container with nothing signed (attested) that verified."""
    out = []
    for o in openings:
        e = Event.from_dict(o.data).with_changes(digest=o.digest)
        for finding in deployed_without_evidence(e, evidence[o.digest]):
            out.append(Raised(scopes.workload(o.workload), finding, (o.seq,)))
    return out


def deletes_while_deployed(deletes: Iterable[Deleted], running: Sequence[Running]) -> list[Raised]:
    """A delete inside a deployment interval of its digest, in the order of the deletes."""
    out = []
    for d in sorted(deletes, key=lambda d: d.okey):
        hits = sorted(
            (r for r in running if r.digest == d.digest and r.at(d.time)), key=lambda r: r.container
        )
        deleted = Event.from_dict(d.data).with_changes(digest=d.digest)  # by tag: resolved
        finding = deleted_while_deployed(deleted, [dict(r.placement) for r in hits])
        if finding is not None:
            out.append(Raised(scopes.deleted(d.digest), finding, (d.seq,)))
    return out


def vulnerable_scans(summaries: Iterable[ScanSummary], min_severity: str) -> list[ScanSummary]:
    """The scans that report anything at or above `min_severity`."""
    return [
        s
        for s in summaries
        if any(at_or_above(sev, min_severity) and n > 0 for sev, n in s.summary.items())
    ]


def vulnerable_deployments(
    running: Iterable[Running], latest: Mapping[str, Sequence[ScanSummary]], min_severity: str
) -> list[Raised]:
    """Each deployment interval of a digest whose latest scans report something at or above
    `min_severity` (`findings.vulnerable_deployed` says from when)."""
    bad = {
        d: v for d, summaries in latest.items() if (v := vulnerable_scans(summaries, min_severity))
    }
    out = []
    for r in sorted(running, key=lambda r: (r.okey, r.container)):
        if r.digest not in bad:
            continue
        finding = vulnerable_deployed(
            r.digest,
            r.since,
            r.until,
            placement=dict(r.placement),
            scans=bad[r.digest],
            min_severity=min_severity,
        )
        if finding is not None:
            out.append(Raised(scopes.vulnerable(r.digest), finding, (r.seq,)))
    return out


def new_pullers(
    first_pulls: Mapping[tuple[str, str], tuple[int, Mapping[str, Any]]],
) -> list[Raised]:
    """The first pull of a repository by an actor, by event time: (seq, event) of it."""
    out = []
    for (repository, actor), (seq, data) in sorted(first_pulls.items()):
        finding = new_puller(Event.from_dict(data), seen_before=False)
        if finding is not None:
            out.append(Raised(scopes.puller(repository, actor), finding, (seq,)))
    return out


__all__ = [
    "PLACEMENT",
    "Deleted",
    "Opening",
    "Running",
    "deletes_while_deployed",
    "evidence_of",
    "new_pullers",
    "placement_of",
    "unproven_deployments",
    "vulnerable_deployments",
    "vulnerable_scans",
]
