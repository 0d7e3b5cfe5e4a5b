"""Lifecycle deletions as registries report them fire `deleted_while_deployed` like any
delete: an ECR lifecycle expiration (an `ECR Image Action` DELETE: EventBridge names no
actor or user agent for it, CloudTrail's `PolicyExecutionEvent` alone does), an Artifact
Registry clean-up (a Pub/Sub DELETE of `<repo>@<digest>`), and a Harbor tag retention run
(TAG_RETENTION, whose `deleted_artifact[].name_tag` is `repo@digest` for an artifact
without tags, and `repo:tag` for a tagged one: the digest the tag held then). Each payload
is the documented sample; the digest it deletes is deployed first. The retention report
keeps the digest while it runs and lists it no more once the registry deleted it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import Delivery, SourceSecrets, normalize
from provenance.model.events import EventType
from provenance.model.retention import Window
from provenance.model.timeutil import format_time
from provenance.query import artifacts
from provenance.store import Database
from provenance.store import retention as store_retention
from provenance.store.alerting import list_alerts
from tests.factories import delivery

SECRETS = SourceSecrets()
CE = "application/cloudevents+json"
HARBOR_DIGEST = "sha256:" + "4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"


def _untagged(body: dict[str, Any], retention: dict[str, Any]) -> dict[str, Any]:
    """The run's first deleted artifact had no tags: Harbor names it `repo@digest` (the
    others keep their `repo:tag`, a mixed run)."""
    first = retention["deleted_artifact"][0]
    first["name_tag"] = first["name_tag"].split(":", 1)[0] + f"@{HARBOR_DIGEST}"
    return body


def _harbor_default(sample_json: Callable[[str], Any], make: Callable[..., Delivery]) -> Delivery:
    body = copy.deepcopy(sample_json("harbor/tag-retention.json"))
    return make("harbor", _untagged(body, body["event_data"]["retention"]))


def _harbor_cloudevents(
    sample_json: Callable[[str], Any], make: Callable[..., Delivery]
) -> Delivery:
    body = copy.deepcopy(sample_json("vendor/harbor/tag-retention.cloudevents.json"))
    return make("harbor", _untagged(body, body["data"]["retention"]), content_type=CE)


CASES: dict[str, Callable[..., Delivery]] = {
    "ecr lifecycle expiration": lambda load, sample_json, make: load(
        "ecr", "ecr/image-action-delete.json"
    ),
    "gar clean-up policy": lambda load, sample_json, make: load(
        "gar", "gar/delete-digest.pubsub-push.json"
    ),
    "harbor tag retention": lambda load, sample_json, make: _harbor_default(sample_json, make),
    "harbor tag retention, cloudevents": lambda load, sample_json, make: _harbor_cloudevents(
        sample_json, make
    ),
}


def _story(deleted: Any, *, running: bool) -> list[dict[str, Any]]:
    before = format_time(deleted.time - timedelta(hours=1))
    events: list[dict[str, Any]] = [
        {
            "id": f"lifecycle-push-{deleted.id}",
            "source": "prop",
            "type": "artifact.pushed",
            "time": before,
            "digest": deleted.digest,
            "repository": deleted.repository,
        }
    ]
    if running:
        events.append(
            {
                "id": f"lifecycle-deploy-{deleted.id}",
                "source": "prop",
                "type": "deployment.applied",
                "time": before,
                "digest": deleted.digest,
                "workload": "deployment/payments-api",
                "namespace": "prod",
                "cluster": "eu-1",
                "environment": "production",
            }
        )
    return events


def _report(db: Database, repository: str, as_of: Any = None) -> Any:
    with db.read() as s:
        return store_retention.report(s, repository, Window(as_of=as_of))


@pytest.mark.parametrize("running", [True, False], ids=["running", "idle"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_lifecycle_delete_of_a_running_digest_raises_the_alert(
    db: Database,
    load_delivery: Callable[..., Delivery],
    sample_json: Callable[[str], Any],
    make_delivery: Callable[..., Delivery],
    case: str,
    running: bool,
) -> None:
    payload = CASES[case](load_delivery, sample_json, make_delivery)
    deletes = [e for e in normalize(payload, SECRETS) if e.type is EventType.ARTIFACT_DELETED]
    assert len(deletes) >= 1, "the registry's payload deletes a digest"
    deleted = deletes[0]
    assert deleted.digest and deleted.repository
    ingest(db, delivery(*_story(deleted, running=running)), SECRETS)
    ProjectionRunner(db).catch_up()
    kept = {i.digest: i for i in _report(db, deleted.repository).items}
    assert (kept[deleted.digest].verdict == "keep") is running

    ingest(db, payload, SECRETS)
    ProjectionRunner(db).catch_up()
    with db.read() as s:
        found = [
            a
            for a in list_alerts(s, kind="deleted_while_deployed", superseded=False)
            if a.digest == deleted.digest
        ]
    if running:
        [alert] = found
        assert alert.time == deleted.time and alert.repository == deleted.repository
    else:
        assert found == []
    after = _report(db, deleted.repository)
    assert deleted.digest not in {i.digest for i in after.items}
    assert after.already_deleted == 1
    # As of just before the delete, the report still judges it.
    before = _report(db, deleted.repository, as_of=deleted.time - timedelta(seconds=1))
    assert deleted.digest in {i.digest for i in before.items}


@pytest.mark.parametrize("running", [True, False], ids=["running", "idle"])
def test_a_retention_run_naming_a_tag_deletes_the_digest_the_tag_held(
    db: Database, load_delivery: Callable[..., Delivery], running: bool
) -> None:
    """The documented `repo:tag` form names no digest: an `artifact.deleted` by repository
    and tag, which deletes the digest the tag held at the run's time (from the tag's
    history) and the tag; a workload running that digest raises the alert."""
    payload = load_delivery("harbor", "harbor/tag-retention.json")
    notice, *by_tag = normalize(payload, SECRETS)
    assert notice.type is EventType.REGISTRY_NOTICE
    assert {e.type for e in by_tag} == {EventType.ARTIFACT_DELETED}
    assert all(e.digest is None and e.repository and e.tag for e in by_tag)
    first = by_tag[0]
    assert first.repository == "harbor.acme.example/acme/payments-api"
    assert first.tag == "v1.3.7"
    story = _story(first.with_changes(digest=HARBOR_DIGEST), running=running)
    story[0]["tag"] = first.tag
    ingest(db, delivery(*story), SECRETS)
    ProjectionRunner(db).catch_up()
    [item] = _report(db, first.repository).items
    assert item.tags == [first.tag] and item.verdict == "keep"  # tagged, and maybe running
    ingest(db, payload, SECRETS)
    ProjectionRunner(db).catch_up()
    with db.read() as s:
        found = list_alerts(s, kind="deleted_while_deployed", superseded=False)
        view = artifacts.artifact(s, HARBOR_DIGEST)
    if running:
        [alert] = found
        assert (alert.digest, alert.repository) == (HARBOR_DIGEST, first.repository)
        assert alert.time == first.time
        [deployment] = alert.details["deployments"]
        assert deployment["workload"] == "deployment/payments-api"
    else:
        assert found == []
    assert view.deleted and view.deleted_at == first.time
    assert [(t.tag, t.current) for t in view.tags] == [(first.tag, False)]
    after = _report(db, first.repository)
    assert after.items == [] and after.already_deleted == 1
    before = _report(db, first.repository, as_of=first.time - timedelta(seconds=1))
    assert [i.digest for i in before.items] == [HARBOR_DIGEST]
