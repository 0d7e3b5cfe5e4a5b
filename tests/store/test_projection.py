"""The graph is a projection of the log: tags move, deletes close, replay is exact."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.query import artifacts
from provenance.query import blast_radius as blast
from provenance.store import Database, log, projection
from provenance.store.models import Artifact
from tests.factories import delivery, digest, event, sha
from tests.store.snapshot import snapshot

REPO = "registry.acme.io/acme/app"


def _ingest(db: Database, *events: dict[str, Any]) -> None:
    ingest(db, delivery(*events), SourceSecrets())
    ProjectionRunner(db).catch_up()


def test_a_moved_tag_closes_its_old_edge_and_emits_tag_updated(db: Database) -> None:
    a, b = digest("a"), digest("b")
    _ingest(db, event("artifact.pushed", 0, digest=a, repository=REPO, tag="v1", actor="ci"))
    _ingest(db, event("artifact.pushed", 10, digest=a, repository=REPO, tag="v1", actor="ci"))
    _ingest(db, event("artifact.pushed", 20, digest=b, repository=REPO, tag="v1", actor="bob"))
    with db.read() as s:
        history = artifacts.tag_history(s, REPO, "v1").history
        assert [(h.digest, h.until is None) for h in history] == [(a, False), (b, True)]
        assert history[0].until == history[1].since
        moved = [e.event for e in artifacts.timeline(s, a).events if e.event.type == "tag.updated"]
        assert len(moved) == 1
        assert (moved[0].previous_digest, moved[0].digest, moved[0].actor) == (a, b, "bob")
        assert artifacts.timeline(s, b).events[-1].event.type == "tag.updated"


def test_delete_marks_the_artifact_and_closes_its_tags(db: Database) -> None:
    a = digest("a")
    _ingest(
        db,
        event("artifact.pushed", 0, digest=a, repository=REPO, tag="v1"),
        event("artifact.pushed", 1, digest=a, repository=REPO, tag="sha-1"),
        event("artifact.deleted", 5, digest=a, repository=REPO),
    )
    with db.read() as s:
        view = artifacts.artifact(s, a)
    assert view.deleted and view.deleted_at is not None
    assert {t.tag for t in view.tags} == {"v1", "sha-1"}
    assert not any(t.current for t in view.tags)


def test_pushing_again_after_a_delete_revives_the_artifact(db: Database) -> None:
    a = digest("a")
    _ingest(db, event("artifact.pushed", 0, digest=a, repository=REPO, tag="v1"))
    _ingest(db, event("artifact.deleted", 1, digest=a, repository=REPO))
    _ingest(db, event("artifact.pushed", 2, digest=a, repository=REPO, tag="v1"))
    with db.read() as s:
        view = artifacts.artifact(s, a)
    assert not view.deleted
    assert [t.current for t in view.tags] == [False, True]


def test_pulls_are_aggregated_per_actor_and_client(db: Database) -> None:
    a = digest("a")
    _ingest(
        db,
        event("artifact.pushed", 0, digest=a, repository=REPO),
        *[
            event("artifact.pulled", 1 + i, digest=a, actor="node-1", client="10.0.0.1")
            for i in range(3)
        ],
        event("artifact.pulled", 9, digest=a, actor="node-2"),
    )
    with db.read() as s:
        pulls = artifacts.artifact(s, a).pulls
    assert pulls.count == 4
    assert pulls.actors == ["node-1", "node-2"]


def test_projection_catches_up_after_a_crash_between_append_and_projection(db: Database) -> None:
    a = digest("a")
    d = delivery(event("artifact.pushed", 0, digest=a, repository=REPO, tag="v1"))
    ingest(db, d, SourceSecrets())  # committed; the process "dies" before projecting
    with db.read() as s:
        assert projection.lag(s) == 1
        assert s.get(Artifact, a) is None  # nothing projected yet
    assert ProjectionRunner(db).catch_up() == 1
    with db.read() as s:
        assert projection.lag(s) == 0
        assert artifacts.artifact(s, a).tags[0].tag == "v1"


def test_commit_build_and_deployment_lineage(db: Database) -> None:
    a, c = digest("a"), sha("c")
    _ingest(
        db,
        event("change.merged", 0, commit=c, vcs_url="https://github.com/acme/app"),
        event("build.finished", 5, build="run-1", commit=c, builder="https://ci/acme", digest=a),
        event("artifact.pushed", 6, digest=a, repository=REPO, tag="v1", actor="ci"),
        event(
            "deployment.applied",
            9,
            digest=a,
            workload="deployment/app",
            namespace="prod",
            cluster="eu-1",
            environment="production",
            container="app",
        ),
        event("artifact.pulled", 9.5, digest=a, actor="node-7", client="10.1.1.1"),
    )
    with db.read() as s:
        view = artifacts.commit(s, c)
        radius = blast.blast_radius(s, "commit", c)
    assert [b.id for b in view.builds] == ["run-1"]
    assert [asdict(x) for x in view.artifacts] == [
        {"digest": a, "evidence": "build", "build": "run-1"}
    ]
    assert view.deployments[0].active and view.deployments[0].environment == "production"
    assert radius.counts == {
        "builds": 1,
        "artifacts": 1,
        "derived": 0,
        "tags": 1,
        "deployments": 1,
        "pullers": 1,
    }
    assert radius.artifacts[0].path == [f"commit:{c}", "build:run-1", f"artifact:{a}"]
    assert radius.deployments[0].path[-1] == "deployment:eu-1/prod/deployment/app/app"
    assert radius.pullers[0].actor == "node-7"


# --- replay and idempotency, as properties ------------------------------------------------

DIGESTS = [digest(n) for n in "abcd"]
TAGS = ["v1", "v2", "latest"]
_counter = itertools.count()


@st.composite
def event_stream(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for minute in range(draw(st.integers(1, 25))):
        kind = draw(
            st.sampled_from(["push", "push", "pull", "delete", "untag", "deploy", "undeploy"])
        )
        d = draw(st.sampled_from(DIGESTS))
        tag = draw(st.sampled_from(TAGS))
        base = {
            "id": f"p-{next(_counter)}",
            "source": "prop",
            "time": f"2026-03-09T14:{minute:02d}:00Z",
        }
        if kind == "push":
            out.append(
                base
                | {
                    "type": "artifact.pushed",
                    "digest": d,
                    "repository": REPO,
                    "tag": tag,
                    "actor": draw(st.sampled_from(["ci", "bob"])),
                }
            )
        elif kind == "pull":
            out.append(base | {"type": "artifact.pulled", "digest": d, "actor": "node"})
        elif kind == "delete":
            out.append(base | {"type": "artifact.deleted", "digest": d, "repository": REPO})
        elif kind == "untag":
            out.append(base | {"type": "tag.deleted", "repository": REPO, "tag": tag})
        elif kind == "deploy":
            out.append(
                base
                | {
                    "type": "deployment.applied",
                    "digest": d,
                    "workload": "deployment/app",
                    "namespace": "prod",
                    "container": "app",
                }
            )
        else:
            out.append(
                base
                | {"type": "deployment.removed", "workload": "deployment/app", "namespace": "prod"}
            )
    return out


def _fresh(tmp_path_factory: Any) -> Database:
    path = tmp_path_factory.mktemp("prop") / "p.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    return db


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=event_stream(), chunk=st.integers(1, 5), batch=st.integers(1, 4))
def test_rebuild_from_the_log_gives_the_same_graph(
    tmp_path_factory: Any, events: list[dict[str, Any]], chunk: int, batch: int
) -> None:
    db = _fresh(tmp_path_factory)
    runner = ProjectionRunner(db, batch=batch)
    for start in range(0, len(events), chunk):
        ingest(db, delivery(*events[start : start + chunk]), SourceSecrets())
        runner.catch_up()
    live = snapshot(db)
    with db.write() as s:
        projection.rebuild(s)
    runner.catch_up()
    assert snapshot(db) == live
    db.dispose()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=event_stream(), repeats=st.lists(st.integers(0, 30), max_size=10))
def test_redelivery_is_a_no_op(
    tmp_path_factory: Any, events: list[dict[str, Any]], repeats: list[int]
) -> None:
    db = _fresh(tmp_path_factory)
    runner = ProjectionRunner(db)
    for e in events:
        ingest(db, delivery(e), SourceSecrets())
    runner.catch_up()
    before = snapshot(db)
    with db.read() as s:
        head = log.head(s)
    for i in repeats:  # registries retry, Kafka redelivers: any earlier event, again
        outcome = ingest(db, delivery(events[i % len(events)]), SourceSecrets())
        assert (outcome.accepted, outcome.duplicates) == (0, 1)
    runner.catch_up()
    assert snapshot(db) == before
    with db.read() as s:
        assert log.head(s) == head
    db.dispose()


def test_an_empty_delivery_is_logged_without_events(db: Database) -> None:
    d = Delivery(
        source="distribution",
        body=orjson.dumps({"events": []}),
        received_at=datetime.now(UTC),
        content_type="application/vnd.docker.distribution.events.v1+json",
    )
    outcome = ingest(db, d, SourceSecrets())
    assert (outcome.accepted, outcome.duplicates, outcome.seq) == (0, 0, 1)


def test_blast_radius_lists_each_digest_a_workload_ran(db: Database) -> None:
    a, b, c = digest("a"), digest("b"), sha("c")
    deploy = {
        "workload": "deployment/app",
        "namespace": "prod",
        "cluster": "eu-1",
        "container": "app",
    }
    _ingest(
        db,
        event("build.started", 0, build="run-1", commit=c),
        event("build.finished", 1, build="run-1", commit=c, digest=a),
        event("build.finished", 2, build="run-2", commit=c, digest=b),
        event("deployment.applied", 3, digest=a, **deploy),
        event("deployment.applied", 4, digest=b, **deploy),
    )
    with db.read() as s:
        radius = blast.blast_radius(s, "commit", c)
        builds = artifacts.commit(s, c).builds
    ran = sorted((d.digest, d.active) for d in radius.deployments)
    assert ran == sorted([(a, False), (b, True)])
    assert {"started", "finished"} <= set(builds[0].attrs)  # the build node learns as it goes
