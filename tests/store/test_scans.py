"""Scan facts: the latest scan of a digest by a scanner, by event time, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.store import Database, projection
from provenance.store.alerting import list_alerts
from provenance.store.scans import digests_listing, latest_scans, worst_severity
from tests.answers import Answers
from tests.factories import T0, delivery, digest, event
from tests.replay import post, wipe

A, B = digest("scan-a"), digest("scan-b")
WHERE = {"workload": "deployment/app", "namespace": "prod", "cluster": "eu-1", "container": "app"}


def scan(
    minutes: float, dig: str, scanner: str, *found: tuple[str, str], **extra: Any
) -> dict[str, Any]:
    vulns = [{"id": vid, "severity": sev} for vid, sev in found]
    return event(
        "artifact.scanned", minutes, digest=dig, scanner=scanner, vulnerabilities=vulns, **extra
    )


def _ingest(db: Database, *events: dict[str, Any], min_severity: str = "critical") -> None:
    for e in events:
        ingest(db, delivery(e), SourceSecrets())
    ProjectionRunner(db, min_severity=min_severity).catch_up()


def test_latest_scan_per_scanner_by_event_time(db: Database) -> None:
    _ingest(
        db,
        scan(10, A, "trivy", ("CVE-2024-1", "critical")),
        scan(5, A, "trivy", ("CVE-2024-9", "low")),  # late and older: replaces nothing
        scan(7, A, "grype", ("GHSA-xxxx", "high")),
    )
    with db.read() as s:
        got = latest_scans(s, [A, B])
        assert list(got) == [A]
        by = {x.scanner: x for x in got[A]}
        assert [v["id"] for v in by["trivy"].vulnerabilities] == ["CVE-2024-1"]
        assert by["trivy"].summary["critical"] == 1
        assert worst_severity(s, A) == "critical"
        assert worst_severity(s, B) is None
        assert digests_listing(s, "CVE-2024-1") == {A}
        assert digests_listing(s, "CVE-2024-9") == set()
        # as of minute 6, trivy's latest was the low one and grype had not scanned
        past = latest_scans(s, [A], as_of=T0.replace(minute=6))[A]
        assert [(x.scanner, x.worst()) for x in past] == [("trivy", "low")]
        assert worst_severity(s, A, as_of=T0.replace(minute=6)) == "low"
    # a newer clean scan by trivy replaces the critical one
    _ingest(db, scan(20, A, "trivy"))
    with db.read() as s:
        assert worst_severity(s, A) == "high"  # grype's still stands
        assert digests_listing(s, "CVE-2024-1") == set()


def test_duplicate_scan_is_idempotent_and_rebuild_gives_the_same(db: Database) -> None:
    one = scan(1, A, "trivy", ("CVE-1", "medium"))
    _ingest(db, one, one, scan(0, A, "trivy", ("CVE-0", "high")))
    with db.read() as s:
        before = latest_scans(s, [A])
    with db.write() as s:
        projection.rebuild(s)
    ProjectionRunner(db).catch_up()
    with db.read() as s:
        assert latest_scans(s, [A]) == before
        assert [v["id"] for v in before[A][0].vulnerabilities] == ["CVE-1"]


def test_findings_told_one_by_one_add_up_and_a_closed_one_withdraws(db: Database) -> None:
    def finding(minutes: float, vid: str, severity: str | None) -> dict[str, Any]:
        vulns = [] if severity is None else [{"id": vid, "severity": severity}]
        return event(
            "artifact.scanned",
            minutes,
            digest=A,
            scanner="amazon-inspector",
            vulnerabilities=vulns,
            attributes={"finding": vid},
        )

    _ingest(db, finding(1, "CVE-1", "critical"), finding(2, "CVE-2", "medium"))
    with db.read() as s:
        (only,) = latest_scans(s, [A])[A]
        assert only.summary["critical"] == 1 and only.summary["medium"] == 1
    _ingest(db, finding(3, "CVE-1", None))  # CLOSED
    with db.read() as s:
        assert worst_severity(s, A) == "medium"
        assert digests_listing(s, "CVE-1") == set()


@pytest.mark.parametrize("late", [False, True])
def test_vulnerable_deployed_fires_on_deployment_or_late_scan(db: Database, late: bool) -> None:
    deploy = event("deployment.applied", 5, digest=A, **WHERE)
    critical = scan(1 if not late else 8, A, "trivy", ("CVE-9", "critical"))
    _ingest(db, deploy, critical)  # the scan arrives after the deployment either way
    with db.read() as s:
        (alert,) = list_alerts(s, kind="vulnerable_deployed")
        assert alert.digest == A
        assert alert.details["vulnerabilities"] == ["CVE-9"]
        assert alert.details["found_by"] == ("scan" if late else "deployment")
        assert alert.time.minute == (8 if late else 5)
    _ingest(db, scan(30, A, "trivy"))  # clean now: the alert is superseded, and kept
    with db.read() as s:
        assert list_alerts(s, kind="vulnerable_deployed", superseded=False) == []
        (kept,) = list_alerts(s, kind="vulnerable_deployed")
        assert kept.superseded_at is not None


def test_below_the_threshold_or_after_removal_raises_nothing(db: Database) -> None:
    _ingest(
        db,
        event("deployment.applied", 0, digest=A, **WHERE),
        scan(1, A, "trivy", ("CVE-3", "high")),
        event("deployment.applied", 0, digest=B, **{**WHERE, "workload": "deployment/b"}),
        event("deployment.removed", 2, **{**WHERE, "workload": "deployment/b"}),
        scan(3, B, "trivy", ("CVE-4", "critical")),  # found after B stopped running
    )
    with db.read() as s:
        assert list_alerts(s, kind="vulnerable_deployed") == []
    # PROVENANCE_ALERT_MIN_SEVERITY=high, as the shells pass it from their Settings
    _ingest(db, scan(4, A, "grype", ("CVE-3", "high")), min_severity="high")
    with db.read() as s:
        assert [a.digest for a in list_alerts(s, kind="vulnerable_deployed")] == [A]


# --- arrival order ---------------------------------------------------------------------

SCANNERS = ("trivy", "grype")
IDS = ("CVE-1", "CVE-2", "CVE-3")
SEVERITIES = ("critical", "high", "low")


@st.composite
def scan_histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Deployments, removals, reports and one-by-one findings of two digests, each at its
    own minute (equal times are ordered by arrival, which is the log's business)."""
    count = draw(st.integers(3, 10))
    minutes = draw(st.permutations(range(60)))[:count]
    out = []
    for minute in minutes:
        dig = draw(st.sampled_from((A, B)))
        kind = draw(st.sampled_from(("report", "report", "finding", "deploy", "remove")))
        where = {**WHERE, "workload": f"deployment/{dig[-4:]}"}
        if kind == "deploy":
            out.append(event("deployment.applied", minute, digest=dig, **where))
        elif kind == "remove":
            out.append(event("deployment.removed", minute, **where))
        elif kind == "report":
            found = draw(
                st.lists(
                    st.tuples(st.sampled_from(IDS), st.sampled_from(SEVERITIES)),
                    max_size=3,
                    unique_by=lambda f: f[0],
                )
            )
            out.append(scan(minute, dig, draw(st.sampled_from(SCANNERS)), *found))
        else:
            vid = draw(st.sampled_from(IDS))
            severity = draw(st.sampled_from((None, *SEVERITIES)))
            vulns = [] if severity is None else [{"id": vid, "severity": severity}]
            out.append(
                event(
                    "artifact.scanned",
                    minute,
                    digest=dig,
                    scanner="amazon-inspector",
                    vulnerabilities=vulns,
                    attributes={"finding": vid},
                )
            )
    return out


def _scan_answers(db: Database) -> dict[str, Any]:
    with db.read() as s:
        answers = Answers(s)
        answers.ask("latest", lambda: latest_scans(s, [A, B]))
        for minute in (10, 30, 50):
            when = T0 + timedelta(minutes=minute)
            answers.ask(f"latest {minute}", lambda w=when: latest_scans(s, [A, B], as_of=w))
        for dig in (A, B):
            answers.ask(f"worst {dig}", lambda d=dig: worst_severity(s, d))
        for vid in IDS:
            answers.ask(f"listing {vid}", lambda v=vid: sorted(digests_listing(s, v)))
            answers.blast("vulnerability", vid)
        answers.alerts()
    return answers.out


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=scan_histories(), data=st.data(), chunk=st.integers(1, 3))
def test_latest_scans_and_alerts_do_not_depend_on_arrival(
    db: Database, events: list[dict[str, Any]], data: st.DataObject, chunk: int
) -> None:
    arrival = data.draw(st.permutations(events))
    again = data.draw(st.lists(st.sampled_from(events), max_size=2))  # retried deliveries
    wipe(db)
    post(db, sorted(events, key=lambda e: e["time"]), chunk=1)
    expected = _scan_answers(db)
    wipe(db)
    post(db, [*arrival, *again], chunk=chunk)
    assert _scan_answers(db) == expected
