"""What the graph says about an admission review's images (`store.admission.image_facts`),
on both backends; and that a tag resolves by event time, whatever the arrival order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.events import Event, EventType
from provenance.model.references import parse
from provenance.model.timeutil import utcnow
from provenance.store import Database, log, scans
from provenance.store.admission import append_decision, image_facts
from provenance.trust.attestations import Verifier
from provenance.trust.policy import TrustPolicy
from tests.factories import T0, delivery, digest, event
from tests.signing import Key, dsse_envelope, policy, simple_signing, statement_v1

REPO = "registry.acme.io/acme/api"
A, B, C = (digest(n) for n in "abc")


def _load(db: Database, *events: dict[str, Any]) -> None:
    ingest(db, delivery(*events), SourceSecrets())
    ProjectionRunner(db).catch_up()


def _facts(db: Database, *images: str, at: datetime | None = None) -> list[Any]:
    refs = [parse(i) for i in images]
    with db.read() as s:
        found = image_facts(s, refs, at=at or utcnow())
    return [found[r] for r in refs]


def test_pinned_and_tagged_images(db: Database) -> None:
    _load(
        db,
        event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1"),
        event("artifact.pushed", 1, digest=B, repository=REPO, tag="latest"),
    )
    pinned, tagged, implied, unknown, untagged = _facts(
        db, f"{REPO}@{A}", f"{REPO}:v1", REPO, f"{REPO}@{C}", f"{REPO}:v9"
    )
    assert (pinned.digest, pinned.resolved_by, pinned.known) == (A, "digest", True)
    assert (tagged.digest, tagged.resolved_by, tagged.known) == (A, "tag", True)
    assert (implied.digest, implied.resolved_by) == (B, "tag")  # no tag: :latest
    assert (unknown.digest, unknown.known) == (C, False)
    assert (untagged.digest, untagged.resolved_by, untagged.known) == (None, None, False)


def test_a_tag_resolves_to_what_it_held_at_that_moment(db: Database) -> None:
    _load(
        db,
        event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1"),
        event("artifact.pushed", 10, digest=B, repository=REPO, tag="v1"),
        event("tag.deleted", 20, repository=REPO, tag="v1"),
    )
    at = [T0 + timedelta(minutes=m) for m in (-1, 5, 15, 25)]
    assert [_facts(db, f"{REPO}:v1", at=t)[0].digest for t in at] == [None, A, B, None]


def test_only_verdicts_of_this_service_count_as_signed(db: Database) -> None:
    key = Key.make()
    secrets = SourceSecrets(verifier=Verifier(TrustPolicy.parse(policy({"ci": key}))))
    # A registry's claim of a signature: recorded, never verified by this service.
    _load(
        db,
        event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1"),
        event("artifact.pushed", 0, digest=B, repository=REPO, tag="v2"),
        event("artifact.signed", 1, digest=B, attributes={"key": "ci"}),
    )
    for body, media in (
        (simple_signing(A, key, repository=REPO), "application/json"),
        (dsse_envelope(statement_v1(A, name=REPO), key), "application/vnd.dsse.envelope.v1+json"),
    ):
        d = Delivery(
            source="attestations", body=orjson.dumps(body), received_at=utcnow(), content_type=media
        )
        ingest(db, d, secrets)
    ProjectionRunner(db).catch_up()
    a, b = _facts(db, f"{REPO}@{A}", f"{REPO}@{B}")
    assert (a.signed, a.attested, a.known_build) == (True, True, True)
    assert (b.signed, b.attested, b.known_build) == (False, False, False)
    # before the verdicts were reached, they do not count
    with db.read() as s:
        early = image_facts(s, [parse(f"{REPO}@{A}")], at=T0 - timedelta(days=1))
    assert not any(f.signed or f.attested for f in early.values())


def test_only_what_the_policy_needs_is_read(db: Database) -> None:
    _load(db, event("build.finished", 0, build="ci-1", digest=A))
    ref = parse(f"{REPO}@{A}")
    with db.read() as s:
        assert image_facts(s, [ref], at=utcnow())[ref].known_build is True
        assert image_facts(s, [ref], at=utcnow(), needs=())[ref].known_build is False


# --- event time, not arrival -----------------------------------------------------------


def _db(tmp_path_factory: Any) -> Database:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('adm') / 'db.sqlite'}")
    db.upgrade()
    return db


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    moves=st.lists(
        st.tuples(st.integers(0, 59), st.sampled_from([A, B, C])),
        min_size=1,
        max_size=8,
        unique_by=lambda m: m[0],
    ),
    order=st.randoms(use_true_random=False),
    at=st.integers(-1, 60),
)
def test_the_tag_resolves_by_event_time_whatever_the_arrival_order(
    tmp_path_factory: Any, moves: list[tuple[int, str]], order: Any, at: int
) -> None:
    events = [event("tag.updated", m, digest=d, repository=REPO, tag="v1") for m, d in moves]
    order.shuffle(events)
    db = _db(tmp_path_factory)
    for e in events:  # one delivery each: arrival order is log order
        ingest(db, delivery(e), SourceSecrets())
    ProjectionRunner(db).catch_up()
    when = T0 + timedelta(minutes=at, seconds=30)
    held = [d for m, d in sorted(moves) if T0 + timedelta(minutes=m) <= when]
    (found,) = _facts(db, f"{REPO}:v1", at=when)
    assert found.digest == (held[-1] if held else None)
    db.dispose()


# --- the decision in the log -----------------------------------------------------------


def _decided(uid: str) -> tuple[Delivery, Event]:
    e = Event(id=uid, type=EventType.ADMISSION_DECIDED, time=utcnow(), source="admission")
    body = orjson.dumps({"request": {"uid": uid}})
    return Delivery("admission", body, utcnow(), "application/json"), e


def test_decisions_are_appended_once_and_every_other_commit_still_flushes(db: Database) -> None:
    first = append_decision(db, *_decided("u-1"))
    assert first is not None
    assert append_decision(db, *_decided("u-1")) is None  # the same uid: a duplicate
    _load(db, event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1"))
    assert append_decision(db, *_decided("u-2")) == first + 2
    with db.write() as s:  # the connection the decision used is back to its setting
        if db.is_sqlite:
            assert s.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        else:
            assert s.execute(text("SHOW synchronous_commit")).scalar() == "on"
    with db.read() as s:
        assert log.verify(s).ok
        sources = [r.source for r in log.entries(s, after=0, limit=10)]
    assert sources == ["admission", "events", "admission"]


def test_a_relaxed_commit_is_relaxed_for_its_own_transaction_only(db: Database) -> None:
    def level(s: Any) -> object:
        if db.is_sqlite:
            return s.execute(text("PRAGMA synchronous")).scalar()  # 2 FULL, 1 NORMAL
        return s.execute(text("SHOW synchronous_commit")).scalar()

    relaxed, durable = (1, 2) if db.is_sqlite else ("off", "on")
    with db.write() as s:
        assert level(s) == durable
    with db.write(durable=False) as s:
        assert level(s) == relaxed
    for _ in range(2):  # the pooled connection is given its level back, each time
        with db.write() as s:
            assert level(s) == durable
    with db.write(durable=False) as s:
        assert level(s) == relaxed


def test_the_severity_of_every_digest_in_one_read_is_worst_severity(db: Database) -> None:
    def scan(minutes: float, dig: str, scanner: str, *severities: str) -> dict[str, Any]:
        found = [{"id": f"CVE-1-{i}", "severity": s} for i, s in enumerate(severities)]
        return event(
            "artifact.scanned", minutes, digest=dig, scanner=scanner, vulnerabilities=found
        )

    _load(
        db,
        event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1"),
        event("artifact.pushed", 0, digest=B, repository=REPO, tag="v2"),
        event("artifact.pushed", 0, digest=C, repository=REPO, tag="v3"),
        scan(1, A, "trivy", "low", "high"),
        scan(2, A, "grype", "medium"),
        scan(3, B, "trivy", "critical"),
        scan(4, B, "trivy"),  # the latest trivy scan of B is clean
        scan(5, B, "grype", "unknown"),
    )
    refs = [parse(f"{REPO}@{d}") for d in (A, B, C)]
    for at in (T0 + timedelta(minutes=3, seconds=30), utcnow()):
        with db.read() as s:
            found = image_facts(s, refs, at=at)
            expected = [scans.worst_severity(s, d, as_of=at) for d in (A, B, C)]
        assert [found[r].severity for r in refs] == expected
    assert expected == ["high", "unknown", None]
