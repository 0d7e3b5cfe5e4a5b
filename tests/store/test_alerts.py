"""The alert rules on their own: facts in, findings out."""

from __future__ import annotations

from datetime import UTC, datetime

from provenance.model.alerts import (
    AlertKind,
    Evidence,
    deleted_while_deployed,
    deployed_without_evidence,
    new_puller,
    tag_moved,
)
from provenance.model.events import Event, EventType
from tests.factories import digest

T = datetime(2026, 4, 2, 11, 20, 5, tzinfo=UTC)
A, B = digest("a"), digest("b")


def _event(type_: EventType, **fields: object) -> Event:
    return Event(id="e1", type=type_, time=T, source="test", **fields)  # type: ignore[arg-type]


def test_tag_moved_names_both_digests_and_the_pusher() -> None:
    moved = _event(
        EventType.TAG_UPDATED, digest=B, previous_digest=A, repository="r/x", tag="v1", actor="bob"
    )
    finding = tag_moved(moved)
    assert finding.kind is AlertKind.TAG_MOVED
    assert finding.details == {
        "tag": "v1",
        "previous_digest": A,
        "digest": B,
        "actor": "bob",
        "source": "test",
    }


def test_deployed_without_evidence_by_presence_and_by_verdict() -> None:
    dep = _event(EventType.DEPLOYMENT_APPLIED, digest=A, workload="deployment/x", namespace="prod")
    assert [f.kind for f in deployed_without_evidence(dep, Evidence(0, 0))] == [
        AlertKind.UNSIGNED_DEPLOYED,
        AlertKind.UNATTESTED_DEPLOYED,
    ]
    assert deployed_without_evidence(dep, Evidence(1, 1)) == []
    # present but nothing verified: still an alert, with the reason
    findings = deployed_without_evidence(
        dep, Evidence(2, 1, verified_signatures=0, verified_attestations=1)
    )
    assert [f.kind for f in findings] == [AlertKind.UNSIGNED_DEPLOYED]
    assert findings[0].details["reason"] == "none verified against the trust policy"


def test_deleted_while_deployed_only_when_something_runs_it() -> None:
    deleted = _event(EventType.ARTIFACT_DELETED, digest=A, repository="r/x")
    assert deleted_while_deployed(deleted, []) is None
    finding = deleted_while_deployed(deleted, [{"workload": "deployment/x"}])
    assert finding is not None and finding.details["deployments"] == [{"workload": "deployment/x"}]


def test_new_puller_once_per_repository_and_actor() -> None:
    pulled = _event(
        EventType.ARTIFACT_PULLED, digest=A, repository="r/x", actor="eve", client="203.0.113.9"
    )
    finding = new_puller(pulled, seen_before=False)
    assert finding is not None and finding.key == "new_puller:r/x:eve"
    assert new_puller(pulled, seen_before=True) is None
