"""Answers are a function of the set of events ordered by event time, never of arrival.

The property: any set of events (tags that move, pulls, deployments that replace each other,
deletes, signatures, builds), posted in any order, duplicated, in any delivery and projection
batch sizes, gives the same tag histories, deployments (now and as of any moment), artifact
views, timelines, blast radii and current alerts as the same events posted in time order, on
both backends. Then the documented out-of-order cases, one by one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.query import artifacts, deployments
from provenance.store import Database, projection
from provenance.store.alerting import list_alerts
from tests.answers import Answers
from tests.factories import T0, at, delivery, digest, event, sha
from tests.replay import post, wipe

REPO = "registry.acme.io/acme/app"
DIGESTS = [digest(n) for n in "abc"]
TAGS = ["v1", "latest"]
ACTORS = ["ci", "bob", "node-1"]
COMMIT = sha("c")
PROD = {"cluster": "eu-1", "namespace": "prod", "environment": "production"}
TARGETS = [
    {**PROD, "workload": "deployment/app", "container": "app"},
    {**PROD, "workload": "deployment/app", "container": "sidecar"},
    {**PROD, "workload": "deployment/api", "container": "api"},
]
# A CDEvents-like deployment: the service and the environment only.
PARTIAL = {"workload": "deployment/app", "environment": "production"}


@st.composite
def event_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 12))
    minutes = draw(st.lists(st.integers(0, 300), min_size=n, max_size=n, unique=True))
    out = []
    for i, m in enumerate(minutes):
        kind = draw(
            st.sampled_from(
                [
                    "push",
                    "push",
                    "pull",
                    "deploy",
                    "deploy",
                    "deploy_tag",
                    "deploy_partial",
                    "undeploy",
                    "delete",
                    "untag",
                    "sign",
                    "build",
                ]
            )
        )
        d = draw(st.sampled_from(DIGESTS))
        base: dict[str, Any] = {"id": f"p-{i}", "time": at(m), "source": "test"}
        if kind == "push":
            tag = draw(st.sampled_from([*TAGS, None]))
            e = base | {
                "type": "artifact.pushed",
                "digest": d,
                "repository": REPO,
                "media_type": "application/vnd.oci.image.manifest.v1+json",
                "actor": draw(st.sampled_from(ACTORS)),
            }
            if tag:
                e["tag"] = tag
        elif kind == "pull":
            e = base | {
                "type": "artifact.pulled",
                "digest": d,
                "repository": REPO,
                "actor": draw(st.sampled_from(ACTORS)),
            }
        elif kind == "deploy":
            e = base | {"type": "deployment.applied", "digest": d, **draw(st.sampled_from(TARGETS))}
        elif kind == "deploy_tag":
            e = base | {
                "type": "deployment.applied",
                "repository": REPO,
                "tag": draw(st.sampled_from(TAGS)),
                **draw(st.sampled_from(TARGETS)),
            }
        elif kind == "deploy_partial":
            e = base | {"type": "deployment.applied", "digest": d, **PARTIAL}
        elif kind == "undeploy":
            e = base | {"type": "deployment.removed", **draw(st.sampled_from(TARGETS))}
        elif kind == "delete":
            e = base | {"type": "artifact.deleted", "digest": d, "repository": REPO}
        elif kind == "untag":
            e = base | {
                "type": "tag.deleted",
                "repository": REPO,
                "tag": draw(st.sampled_from(TAGS)),
            }
        elif kind == "sign":
            e = base | {"type": "artifact.signed", "digest": d}
        else:
            e = base | {
                "type": "build.finished",
                "build": f"run-{d[-4:]}",
                "commit": COMMIT,
                "digest": d,
            }
        out.append(e)
    return out


def _answers(db: Database) -> dict[str, Any]:
    moments = [None, *(T0 + timedelta(minutes=m) for m in (30, 90, 150, 210, 280))]
    with db.read() as s:
        answers = Answers(s)
        for tag in TAGS:
            answers.tag(REPO, tag)
        for when in moments:
            answers.deployments(when, drift=True)
        for d in DIGESTS:
            for when in moments:
                answers.artifact(d, when)
            answers.timeline(d)
            for when in moments[:3]:
                answers.blast("digest", d, when)
        for key, value in (("commit", COMMIT), *(("actor", a) for a in ACTORS)):
            answers.blast(key, value)
        answers.alerts(limit=10_000)
    return answers.out


def _in_time_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda e: e["time"])


@settings(
    max_examples=12,  # per backend: ~15 s on an idle machine
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=event_sets(),
    data=st.data(),
    chunk=st.integers(1, 4),
    batch=st.integers(1, 3),
)
def test_any_arrival_order_gives_the_answers_of_time_order(
    db: Database, events: list[dict[str, Any]], data: st.DataObject, chunk: int, batch: int
) -> None:
    arrival = data.draw(st.permutations(events))
    again = data.draw(st.lists(st.sampled_from(events), max_size=4))  # retried deliveries
    wipe(db)
    post(db, _in_time_order(events), chunk=1, batch=1, project_every=2)
    expected = _answers(db)
    wipe(db)
    post(db, [*arrival, *again], chunk=chunk, batch=batch, project_every=2)
    assert _answers(db) == expected
    with db.write() as s:
        projection.rebuild(s)
    ProjectionRunner(db).catch_up()
    assert _answers(db) == expected


# --- the documented cases --------------------------------------------------------------


def _ingest(db: Database, *events: dict[str, Any]) -> None:
    for e in events:  # one delivery each: each arrives after the one before
        ingest(db, delivery(e), SourceSecrets())
        ProjectionRunner(db).catch_up()


def test_a_delete_sent_before_its_push_leaves_the_digest_deleted(db: Database) -> None:
    a = digest("a")
    _ingest(
        db,
        event("artifact.deleted", 2.87, digest=a, repository=REPO),  # 16:54:53 in Azure's docs
        event("artifact.pushed", 0, digest=a, repository=REPO, tag="v1"),  # 16:52:01
    )
    with db.read() as s:
        view = artifacts.artifact(s, a)
    assert view.deleted and view.deleted_at == T0 + timedelta(minutes=2.87)
    assert [(t.tag, t.current) for t in view.tags] == [("v1", False)]


def test_a_pull_before_its_push_is_not_first_seen_unless_earlier(db: Database) -> None:
    a = digest("a")
    _ingest(
        db,
        event("artifact.pulled", 5, digest=a, repository=REPO, actor="node-1"),
        event("artifact.pushed", 1, digest=a, repository=REPO, tag="v1"),
    )
    with db.read() as s:
        assert artifacts.artifact(s, a).first_seen == T0 + timedelta(minutes=1)


def test_a_late_push_takes_its_place_in_the_tag_history_and_the_alerts(db: Database) -> None:
    a, b, c = digest("a"), digest("b"), digest("c")
    _ingest(
        db,
        event("artifact.pushed", 0, digest=a, repository=REPO, tag="v1"),
        event("artifact.pushed", 20, digest=c, repository=REPO, tag="v1"),
    )
    with db.read() as s:
        (first,) = list_alerts(s, kind="tag_moved")
        assert (first.details["previous_digest"], first.digest) == (a, c)
    _ingest(db, event("artifact.pushed", 10, digest=b, repository=REPO, tag="v1"))  # late
    with db.read() as s:
        history = artifacts.tag_history(s, REPO, "v1").history
        assert [h.digest for h in history] == [a, b, c]
        assert history[0].until == history[1].since == T0 + timedelta(minutes=10)
        current = list_alerts(s, kind="tag_moved", superseded=False)
        assert [(m.details["previous_digest"], m.digest) for m in current] == [(a, b), (b, c)]
        everything = list_alerts(s, kind="tag_moved")
        old = next(m for m in everything if m.id == first.id)
        assert old.superseded_at is not None  # kept, marked, with what replaced it
        replacing = next(m for m in current if m.digest == c)  # c now moved the tag from b
        assert old.superseded_by == [replacing.key]
        moved = [e.event for e in artifacts.timeline(s, b).events if e.event.type == "tag.updated"]
        assert [(e.previous_digest, e.digest) for e in moved] == [(a, b), (b, c)]


def test_the_timeline_is_in_event_time_order(db: Database) -> None:
    a = digest("a")
    _ingest(
        db,
        event("artifact.pulled", 9, digest=a, repository=REPO, actor="node-1"),
        event("artifact.pushed", 1, digest=a, repository=REPO, tag="v1"),
        event("artifact.signed", 3, digest=a),
    )
    with db.read() as s:
        page = artifacts.timeline(s, a, limit=2)
        rest = artifacts.timeline(s, a, limit=2, cursor=page.next_cursor)
    types = [e.event.type for e in (*page.events, *rest.events)]
    assert types == ["artifact.pushed", "artifact.signed", "artifact.pulled"]
    assert rest.next_cursor is None


def test_a_late_signature_supersedes_the_unsigned_alert(db: Database) -> None:
    a = digest("a")
    where = TARGETS[0]
    _ingest(
        db,
        event("artifact.pushed", 0, digest=a, repository=REPO),
        event("deployment.applied", 2, digest=a, **where),
    )
    with db.read() as s:
        assert {x.details["reason"] for x in list_alerts(s, kind="unsigned_deployed")} == {
            "none recorded"
        }
    _ingest(db, event("artifact.signed", 1, digest=a))  # an unverified claim, sent late
    with db.read() as s:
        now = list_alerts(s, kind="unsigned_deployed", superseded=False)
        assert [x.details["reason"] for x in now] == ["none verified against the trust policy"]
        assert len(list_alerts(s, kind="unsigned_deployed")) == 2


def test_a_late_deployment_makes_a_delete_alert(db: Database) -> None:
    a = digest("a")
    _ingest(
        db,
        event("artifact.pushed", 0, digest=a, repository=REPO),
        event("artifact.deleted", 5, digest=a, repository=REPO),
        event("deployment.applied", 2, digest=a, **TARGETS[0]),  # sent after the delete
    )
    with db.read() as s:
        kinds = {x.kind for x in list_alerts(s, superseded=False)}
    assert "deleted_while_deployed" in kinds


def test_the_first_pull_by_event_time_makes_the_new_puller(db: Database) -> None:
    a, b = digest("a"), digest("b")
    _ingest(
        db,
        event("artifact.pulled", 9, digest=b, repository=REPO, actor="eve"),
        event("artifact.pulled", 4, digest=a, repository=REPO, actor="eve"),
    )
    with db.read() as s:
        (alert,) = list_alerts(s, kind="new_puller", superseded=False)
        assert (alert.digest, alert.time) == (a, T0 + timedelta(minutes=4))


def test_a_partial_deployment_applies_to_containers_known_later(db: Database) -> None:
    a, b = digest("a"), digest("b")
    _ingest(
        db,
        event("deployment.applied", 10, digest=b, **PARTIAL),  # the service was upgraded
        event("deployment.applied", 0, digest=a, **TARGETS[0]),  # its container, heard later
    )
    with db.read() as s:
        running = deployments.deployments(s)
        before = deployments.deployments(s, as_of=T0 + timedelta(minutes=5))
    assert [(d.cluster, d.container, d.digest) for d in running] == [("eu-1", "app", b)]
    assert [(d.cluster, d.digest) for d in before] == [("eu-1", a)]


@pytest.mark.parametrize("late", [True, False])
def test_a_deployment_by_tag_runs_what_the_tag_held_by_event_time(db: Database, late: bool) -> None:
    a, b = digest("a"), digest("b")
    pushes = [
        event("artifact.pushed", 0, digest=a, repository=REPO, tag="v1"),
        event("artifact.pushed", 10, digest=b, repository=REPO, tag="v1"),
    ]
    deploy = event("deployment.applied", 5, repository=REPO, tag="v1", **TARGETS[0])
    _ingest(db, *([deploy, *pushes] if late else [*pushes, deploy]))
    with db.read() as s:
        assert [(d.digest, d.pinned) for d in deployments.deployments(s)] == [(a, False)]
        shown = [
            e.event for e in artifacts.timeline(s, a).events if e.event.type == "deployment.applied"
        ]
        assert [e.digest for e in shown] == [a]


@pytest.mark.parametrize("reverse", [False, True])
def test_a_build_named_with_two_commits_gives_the_earliest_stated(
    db: Database, reverse: bool
) -> None:
    a = digest("a")
    builds = [
        event("build.finished", 1, build="run-1", commit=sha("1"), digest=a),
        event("build.finished", 3, build="run-1", commit=sha("2"), digest=a),
    ]
    deploy = event("deployment.applied", 5, digest=a, **TARGETS[0])
    _ingest(db, *(builds[::-1] if reverse else builds), deploy)
    with db.read() as s:
        assert [d.commit for d in deployments.deployments(s)] == [sha("1")]
        view = artifacts.artifact(s, a)
    assert [(c.sha, c.evidence) for c in view.commits] == [(sha("1"), "build"), (sha("2"), "build")]
