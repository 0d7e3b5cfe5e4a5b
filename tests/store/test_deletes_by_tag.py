"""A delete by tag (a Harbor retention run's `repo:tag`) deletes the digest the tag held at
the delete's time, by event time: a late push that moves the tag before then changes the
digest deleted, its `deleted` state and the `deleted_while_deployed` alerts, and no arrival
order (or a rebuild) gives other answers than time order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.query import artifacts
from provenance.store import Database, projection
from provenance.store.alerting import list_alerts
from provenance.store.models import ArtifactDelete
from tests.answers import Answers
from tests.factories import T0, at, delivery, digest, event
from tests.replay import post, wipe

REPO = "harbor.acme.example/acme/payments-api"
A, B, C = digest("a"), digest("b"), digest("c")
PROD = {"cluster": "eu-1", "namespace": "prod", "environment": "production"}


def _ingest(db: Database, *events: dict[str, Any]) -> None:
    for e in events:  # one delivery each: each arrives after the one before
        ingest(db, delivery(e), SourceSecrets())
        ProjectionRunner(db).catch_up()


def _deploy(minutes: float, d: str, workload: str) -> dict[str, Any]:
    return event(
        "deployment.applied", minutes, digest=d, workload=workload, container="app", **PROD
    )


def _active(db: Database) -> list[tuple[str | None, str]]:
    with db.read() as s:
        alerts = list_alerts(s, kind="deleted_while_deployed", superseded=False)
    return sorted((a.digest, a.details["deployments"][0]["workload"]) for a in alerts)


def test_a_late_push_moving_the_tag_before_the_delete_changes_the_digest_deleted(
    db: Database,
) -> None:
    retention = event("artifact.deleted", 60, repository=REPO, tag="v1", actor="admin")
    _ingest(
        db,
        event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1"),
        _deploy(5, A, "deployment/old"),
        _deploy(5, B, "deployment/new"),
        retention,
    )
    assert _active(db) == [(A, "deployment/old")]
    with db.read() as s:
        assert artifacts.artifact(s, A).deleted
        first = list_alerts(s, kind="deleted_while_deployed")
    _ingest(db, event("artifact.pushed", 30, digest=B, repository=REPO, tag="v1"))  # late
    assert _active(db) == [(B, "deployment/new")]
    with db.read() as s:
        a, b = artifacts.artifact(s, A), artifacts.artifact(s, B)
        assert not a.deleted and a.deleted_at is None
        assert b.deleted and b.deleted_at == T0 + timedelta(minutes=60)
        everything = list_alerts(s, kind="deleted_while_deployed")
        [old] = [x for x in everything if x.id == first[0].id]
        assert old.superseded_at is not None and old.digest == A
        [stored] = s.execute(select(ArtifactDelete.digest, ArtifactDelete.tag_ref)).all()
        assert stored == (B, f"tag:{REPO}:v1")
        shown = [e for e in artifacts.timeline(s, B).events if e.event.type == "artifact.deleted"]
        assert [e.event.to_dict()["time"] for e in shown] == [at(60)]
        assert not [
            e for e in artifacts.timeline(s, A).events if e.event.type == "artifact.deleted"
        ]


def test_a_delete_by_a_tag_that_held_nothing_then_deletes_nothing(db: Database) -> None:
    _ingest(
        db,
        _deploy(5, A, "deployment/app"),
        event("artifact.deleted", 10, repository=REPO, tag="v1"),
        event("artifact.pushed", 20, digest=A, repository=REPO, tag="v1"),  # after the run
    )
    assert _active(db) == []
    with db.read() as s:
        view = artifacts.artifact(s, A)
    assert not view.deleted
    assert [(t.tag, t.current) for t in view.tags] == [("v1", True)]


# --- arrival order ---------------------------------------------------------------------


@st.composite
def stories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Pushes of the tag (or of another), deployments and deletes by the tag, at distinct
    minutes."""
    n = draw(st.integers(3, 8))
    minutes = draw(st.lists(st.integers(0, 120), min_size=n, max_size=n, unique=True))
    out = []
    for i, m in enumerate(minutes):
        kind = draw(st.sampled_from(["push", "push", "deploy", "delete_tag", "delete_tag"]))
        d = draw(st.sampled_from([A, B, C]))
        base: dict[str, Any] = {"id": f"p-{i}", "time": at(m), "source": "test"}
        if kind == "push":
            e = base | {"type": "artifact.pushed", "digest": d, "repository": REPO}
            e["tag"] = draw(st.sampled_from(["v1", "v1", "v1", "v2"]))
        elif kind == "deploy":
            workload = f"deployment/{d[-4:]}"
            e = base | {"type": "deployment.applied", "digest": d, "workload": workload}
            e |= {"container": "app", **PROD}
        else:
            e = base | {"type": "artifact.deleted", "repository": REPO, "tag": "v1"}
        out.append(e)
    if not any(e["type"] == "artifact.deleted" for e in out):
        out[-1] = out[-1] | {"type": "artifact.deleted", "repository": REPO, "tag": "v1"}
        for key in ("digest", "workload", "container", *PROD):
            out[-1].pop(key, None)
    return out


def _answers(db: Database) -> dict[str, Any]:
    with db.read() as s:
        answers = Answers(s)
        answers.tag(REPO, "v1")
        for d in (A, B, C):
            for when in (None, T0 + timedelta(minutes=60)):
                answers.artifact(d, when)
            answers.timeline(d)
        answers.alerts(limit=1000)
        answers.out["deletes"] = sorted(
            (str(d.event_id), d.digest) for d in s.execute(select(ArtifactDelete)).scalars()
        )
    return answers.out


@settings(
    max_examples=20,  # per backend: ~10 s on an idle machine
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=stories(), data=st.data(), chunk=st.integers(1, 3))
def test_any_arrival_order_deletes_the_digests_of_time_order(
    db: Database, events: list[dict[str, Any]], data: st.DataObject, chunk: int
) -> None:
    arrival = data.draw(st.permutations(events))
    wipe(db)
    post(db, sorted(events, key=lambda e: e["time"]), chunk=1)
    expected = _answers(db)
    wipe(db)
    post(db, arrival, chunk=chunk)
    assert _answers(db) == expected
    with db.write() as s:
        projection.rebuild(s)
    ProjectionRunner(db).catch_up()
    assert _answers(db) == expected
