"""Alerts raised by the projection, deployments by tag, and outbound delivery."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from provenance.ingest.notify import AlertNotifier, backoff
from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.timeutil import utcnow
from provenance.query.deployments import deployments
from provenance.store import Database, projection
from provenance.store.alerting import delivery_state, list_alerts
from provenance.trust.attestations import Verifier
from tests.factories import delivery, digest, event
from tests.signing import Key, dsse_envelope, simple_signing, statement_v1, write_policy
from tests.store.snapshot import snapshot

REPO = "registry.acme.io/acme/app"
A, B = digest("a"), digest("b")
WHERE = {"workload": "deployment/app", "namespace": "prod", "cluster": "eu-1", "container": "app"}


def _ingest(db: Database, *events: dict[str, Any]) -> None:
    ingest(db, delivery(*events), SourceSecrets())
    ProjectionRunner(db).catch_up()


def _alerts(db: Database) -> list[tuple[str, str | None]]:
    with db.read() as s:
        return [(a.kind, a.digest) for a in list_alerts(s)]


def test_the_four_rules_fire_from_the_projection(db: Database) -> None:
    _ingest(db, event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1", actor="ci"))
    _ingest(db, event("deployment.applied", 1, digest=A, **WHERE))
    _ingest(db, event("artifact.pulled", 2, digest=A, repository=REPO, actor="node"))
    _ingest(db, event("artifact.pulled", 3, digest=A, repository=REPO, actor="node"))
    _ingest(db, event("artifact.pushed", 4, digest=B, repository=REPO, tag="v1", actor="bob"))
    _ingest(db, event("artifact.deleted", 5, digest=A, repository=REPO))
    assert _alerts(db) == [
        ("unsigned_deployed", A),
        ("unattested_deployed", A),
        ("new_puller", A),  # once, not per pull
        ("tag_moved", B),
        ("deleted_while_deployed", A),
    ]
    with db.read() as s:
        moved = list_alerts(s, kind="tag_moved")[0]
        assert moved.details["previous_digest"] == A and moved.details["actor"] == "bob"
        assert moved.events == [5]  # the log entry that caused it


def test_verified_signature_and_attestation_deploy_quietly(db: Database, tmp_path: Path) -> None:
    key = Key.make()
    policy = write_policy(tmp_path / "policy.yaml", {"ci": key})
    secrets = SourceSecrets(verifier=Verifier.from_policy(str(policy)))
    _ingest(db, event("artifact.pushed", 0, digest=A, repository=REPO))
    for document in (simple_signing(A, key), dsse_envelope(statement_v1(A), key)):
        signed = Delivery(
            source="attestations",
            body=orjson.dumps(document),
            received_at=utcnow(),
            content_type="application/json",
        )
        assert ingest(db, signed, secrets).accepted == 1
    _ingest(db, event("deployment.applied", 2, digest=A, **WHERE))
    assert _alerts(db) == []
    with db.read() as s:
        assert [(d.signed, d.attested) for d in deployments(s)] == [(True, True)]


def test_claims_nobody_verified_still_alert(db: Database) -> None:
    _ingest(
        db,
        event("artifact.pushed", 0, digest=A, repository=REPO),
        event("artifact.signed", 1, digest=A),  # a CDEvent or canonical claim: not verified
        event("artifact.attested", 1, digest=A),
        event("deployment.applied", 2, digest=A, **WHERE),
    )
    assert _alerts(db) == [("unsigned_deployed", A), ("unattested_deployed", A)]
    with db.read() as s:
        reasons = {a.details["reason"] for a in list_alerts(s)}
        assert reasons == {"none verified against the trust policy"}


def test_rebuild_raises_the_same_alerts_once(db: Database) -> None:
    _ingest(
        db,
        event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1"),
        event("artifact.pushed", 1, digest=B, repository=REPO, tag="v1"),
        event("artifact.pulled", 2, digest=B, repository=REPO, actor="eve"),
    )
    before = _alerts(db)
    live = snapshot(db)
    with db.write() as s:
        projection.rebuild(s)
    ProjectionRunner(db).catch_up()
    assert _alerts(db) == before
    assert snapshot(db) == live


def test_an_image_deployed_by_tag_runs_what_the_tag_pointed_to_then(db: Database) -> None:
    _ingest(
        db,
        event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1"),
        event("deployment.applied", 1, repository=REPO, tag="v1", **WHERE),
        event("artifact.pushed", 2, digest=B, repository=REPO, tag="v1"),
    )
    with db.read() as s:
        running = deployments(s)
    assert [(d.digest, d.pinned) for d in running] == [(A, False)]  # resolved, not pinned


class _Receiver(BaseHTTPRequestHandler):
    fail_first = 0
    received: list[dict[str, Any]] = []  # noqa: RUF012 - shared test state

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
        else:
            _Receiver.received.append(orjson.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.fail_first, _Receiver.received = 2, []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_alerts_are_posted_with_retries_and_backoff(db: Database, receiver: str) -> None:
    _ingest(
        db,
        event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1"),
        event("artifact.pushed", 1, digest=B, repository=REPO, tag="v1", actor="bob"),
    )
    notifier = AlertNotifier(db, receiver, base_backoff=60)
    now = utcnow()
    assert notifier.deliver_due(now) == 0  # receiver answers 503
    assert notifier.deliver_due(now) == 0  # not due again yet: backing off
    with db.read() as s:
        state = delivery_state(s, "tag_moved:" + _tag_moved_id(db))
    assert state is not None and state.attempts == 1 and state.last_error == "HTTP 503"
    assert notifier.deliver_due(now + timedelta(minutes=2)) == 0  # second failure
    assert notifier.deliver_due(now + timedelta(minutes=10)) == 1
    assert notifier.deliver_due(now + timedelta(hours=1)) == 0  # delivered: never again
    assert [a["kind"] for a in _Receiver.received] == ["tag_moved"]
    assert _Receiver.received[0]["details"]["actor"] == "bob"


def _tag_moved_id(db: Database) -> str:
    with db.read() as s:
        return list_alerts(s, kind="tag_moved")[0].key.removeprefix("tag_moved:")


def test_backoff_grows_and_is_capped() -> None:
    assert timedelta(seconds=1) <= backoff(1) <= timedelta(seconds=1.2)
    assert timedelta(seconds=8) <= backoff(4) <= timedelta(seconds=9.6)
    assert backoff(40) <= timedelta(minutes=12)
