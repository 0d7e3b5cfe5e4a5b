"""The alert rules over derived histories, and the supersede plan, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from provenance.model.alerts import AlertKind, Raised, derive, scopes, stored_key
from provenance.model.alerts.supersede import Stored, plan
from provenance.model.scan_shape import ScanSummary
from tests.factories import digest

T = datetime(2026, 4, 2, 11, 20, tzinfo=UTC)
A = digest("rules-a")


def _running(container: str, since: int, until: int | None) -> derive.Running:
    return derive.Running(
        digest=A,
        container=container,
        since=T + timedelta(minutes=since),
        until=None if until is None else T + timedelta(minutes=until),
        seq=since,
        okey=f"{since:04d}",
        placement={"workload": container},
    )


def _deleted(minute: int) -> derive.Deleted:
    data = {
        "id": f"del-{minute}",
        "type": "artifact.deleted",
        "time": (T + timedelta(minutes=minute)).isoformat(),
        "source": "test",
        "digest": A,
    }
    return derive.Deleted(A, T + timedelta(minutes=minute), f"{minute:04d}", 100 + minute, data)


def test_a_delete_raises_while_a_deployment_interval_holds_it() -> None:
    running = [_running("c2", 0, None), _running("c1", 0, 10), _running("c3", 20, None)]
    (raised,) = derive.deletes_while_deployed([_deleted(5)], running)
    assert raised.scope == scopes.deleted(A) and raised.events == (105,)
    assert raised.finding.kind is AlertKind.DELETED_WHILE_DEPLOYED
    assert raised.finding.details["deployments"] == [{"workload": "c1"}, {"workload": "c2"}]
    assert [r.events for r in derive.deletes_while_deployed([_deleted(15)], running)] == [(115,)]
    assert derive.deletes_while_deployed([_deleted(15)], running[1:2]) == []


def test_vulnerable_deployments_follow_the_threshold() -> None:
    scan = ScanSummary(
        "trivy", T + timedelta(minutes=1), {"high": 1}, ({"id": "CVE-1", "severity": "high"},)
    )
    running = [_running("c1", 0, None)]
    assert derive.vulnerable_deployments(running, {A: [scan]}, "critical") == []
    (raised,) = derive.vulnerable_deployments(running, {A: [scan]}, "high")
    assert raised.scope == scopes.vulnerable(A)
    assert raised.finding.details["vulnerabilities"] == ["CVE-1"]
    assert raised.finding.details["found_by"] == "scan"


def test_the_plan_keeps_supersedes_and_revives() -> None:
    running = [_running("c1", 0, None)]
    (old,) = derive.deletes_while_deployed([_deleted(5)], running)
    (new,) = derive.deletes_while_deployed([_deleted(6)], running)
    scope = scopes.deleted(A)
    kept = Stored(1, stored_key(old.finding), scope, superseded=False)
    assert plan([kept], [old]) == plan([kept], [old, old])
    assert plan([kept], [old]).new == {} and plan([kept], [old]).stale == []
    todo = plan([kept], [new])
    assert todo.new == {stored_key(new.finding): new}
    assert todo.stale == [(1, [stored_key(new.finding)])]
    gone = Stored(1, stored_key(old.finding), scope, superseded=True)
    assert plan([gone], [old]).revived == [1]
    other = Raised(scopes.deleted("x"), new.finding, new.events)
    assert plan([kept], [other]).stale == [(1, [])]  # replaced by nothing of its scope
