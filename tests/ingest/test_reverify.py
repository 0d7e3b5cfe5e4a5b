"""Evidence over time: arrival verdicts, `trust reverify`, rebuilds; nothing overwritten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from typer.testing import CliRunner

from cli import app
from provenance.ingest.reverify import reverify
from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.query import artifacts
from provenance.store import Database, evidence, projection
from provenance.trust.attestations import Verifier
from provenance.trust.policy import TrustPolicy
from tests.signing import Key, dsse_envelope, policy, simple_signing, statement_v1, write_policy

D = "sha256:" + "5e" * 32
ARRIVED = datetime(2026, 3, 9, 14, 8, tzinfo=UTC)


def _verifier(raw: bytes) -> Verifier:
    return Verifier(TrustPolicy.parse(raw))


def _deliver(db: Database, doc: dict[str, object], verifier: Verifier) -> None:
    delivery = Delivery(source="attestations", body=orjson.dumps(doc), received_at=ARRIVED)
    ingest(db, delivery, SourceSecrets(verifier=verifier))
    ProjectionRunner(db).catch_up()


def _history(db: Database) -> list[evidence.EvidenceRow]:
    with db.read() as session:
        return evidence.history(session, D)


def test_rotated_key_reverify_appends_and_keeps_the_old_verdicts(db: Database) -> None:
    old_key, new_key = Key.make(), Key.make("ed25519")
    first = _verifier(policy({"release-2025": old_key}))
    _deliver(db, dsse_envelope(statement_v1(D), old_key), first)
    _deliver(db, simple_signing(D, old_key), first)
    (arrival_a, arrival_s) = _history(db)
    assert arrival_a.verified and arrival_s.verified and arrival_a.origin == "arrival"
    assert arrival_a.key_id == "release-2025" and arrival_a.policy_sha256 == first.policy_sha256

    # The key is rotated: the old one leaves the policy, a new one comes in.
    rotated = _verifier(policy({"release-2026": new_key}))
    report = reverify(db, rotated, now=ARRIVED + timedelta(days=30))
    assert report.entries == 2 and report.verdicts == 2 and report.verified == 0
    assert {c["kind"] for c in report.changed} == {"attestation", "signature"}

    rows = _history(db)
    assert [r.origin for r in rows] == ["arrival", "arrival", "reverify", "reverify"]
    assert rows[:2] == [arrival_a, arrival_s]  # untouched
    assert all(not r.verified for r in rows[2:])
    assert all(r.policy_sha256 == rotated.policy_sha256 for r in rows[2:])
    assert all("no trusted key" in (r.reason or "") for r in rows[2:])
    assert rows[2].evaluated_at == ARRIVED + timedelta(days=30)

    with db.read() as session:
        view = artifacts.artifact(session, D)
        assert view.attestations[0].verdict is not None
        assert view.attestations[0].verdict.verified is False
        assert view.attestations[0].verdict.origin == "reverify"
        # As the service saw it at the time, it was verified.
        event_id = str(view.attestations[0].verdict.event_id)
        then = evidence.latest_by_event(session, [event_id], as_of=ARRIVED + timedelta(days=1))
        assert then[event_id].verified is True

    # And back: a policy trusting the old key again flips the latest verdict back.
    reverify(db, first)
    assert _history(db)[-1].verified


def test_expired_key_is_judged_at_the_time_the_signature_was_first_seen(db: Database) -> None:
    key = Key.make()
    _deliver(db, dsse_envelope(statement_v1(D), key), _verifier(policy({"k": key})))
    expired_later = policy(
        {"k": key}, key_k={"not_after": (ARRIVED + timedelta(days=1)).isoformat()}
    )
    reverify(db, _verifier(expired_later))
    assert _history(db)[-1].verified  # it was valid when the signature arrived
    expired_before = policy(
        {"k": key}, key_k={"not_after": (ARRIVED - timedelta(days=1)).isoformat()}
    )
    reverify(db, _verifier(expired_before))
    last = _history(db)[-1]
    assert not last.verified and "expired" in (last.reason or "")
    revoked = policy({"k": key}, key_k={"revoked": True})
    reverify(db, _verifier(revoked))
    assert "revoked" in (_history(db)[-1].reason or "")
    assert len(_history(db)) == 4


def test_rebuild_reproduces_arrival_verdicts_and_keeps_reverified_ones(db: Database) -> None:
    key = Key.make()
    _deliver(db, dsse_envelope(statement_v1(D), key), _verifier(policy({"k": key})))
    reverify(db, Verifier(None), now=ARRIVED + timedelta(days=2))
    before = _history(db)
    with db.write() as session:
        projection.rebuild(session)
    ProjectionRunner(db).catch_up()
    after = _history(db)
    strip = [
        (r.origin, r.verified, r.key_id, r.policy_sha256, r.reason, r.evaluated_at) for r in before
    ]
    assert sorted(strip, key=str) == sorted(
        [
            (r.origin, r.verified, r.key_id, r.policy_sha256, r.reason, r.evaluated_at)
            for r in after
        ],
        key=str,
    )


def test_other_sources_claims_stay_unverified(db: Database) -> None:
    """A canonical event saying "verified" is a claim, not this service's verdict."""
    claim = {
        "id": "claim-1",
        "type": "artifact.signed",
        "time": "2026-03-09T14:08:00Z",
        "source": "attestations",
        "digest": D,
        "attributes": {"verified": True, "key": "ci", "verdict": {"verified": True}},
    }
    delivery = Delivery(source="events", body=orjson.dumps(claim), received_at=ARRIVED)
    ingest(db, delivery, SourceSecrets())
    ProjectionRunner(db).catch_up()
    (row,) = _history(db)
    assert not row.verified and "not verified by this service" in (row.reason or "")


def test_trust_reverify_command(db: Database, tmp_path: Path) -> None:
    key = Key.make()
    _deliver(db, dsse_envelope(statement_v1(D), key), _verifier(policy({"k": key})))
    path = write_policy(tmp_path / "p.yaml", {"other": Key.make()})
    result = CliRunner().invoke(
        app, ["trust", "reverify", "--database-url", db.url, "--policy", str(path), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["verdicts"] == 1 and report["changed"][0]["now"] is False


def test_reverify_after_the_sigstore_trust_root_changes(db: Database, tmp_path: Path) -> None:
    """A keyless bundle verified under a private Sigstore; that deployment's root is then
    replaced (its CAs and logs rotated away). `trust reverify` records the new verdict
    beside the old one, and the old root coming back restores it."""
    from tests.sigstore_fixture import OIDC_ISSUER, PrivateSigstore

    instance, rotated = PrivateSigstore.make(), PrivateSigstore.make()
    root = instance.write_trusted_root(tmp_path / "trusted_root.json")
    path = tmp_path / "policy.yaml"
    path.write_bytes(
        policy(
            {},
            identities=[{"issuer": OIDC_ISSUER, "subject": "^https://github.com/acme/"}],
            sigstore={"trusted_root": "trusted_root.json"},
        )
    )
    _deliver(db, instance.sign_dsse(statement_v1(D)), Verifier.from_policy(path))
    (arrival,) = _history(db)
    assert arrival.verified and arrival.origin == "arrival", arrival.reason

    rotated.write_trusted_root(root)

    def run() -> dict[str, object]:
        args = ["trust", "reverify", "--database-url", db.url, "--policy", str(path), "--json"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        out: dict[str, object] = orjson.loads(result.stdout)
        return out

    report = run()
    assert report["verdicts"] == 1 and report["verified"] == 0
    rows = _history(db)
    assert rows[0] == arrival and [r.origin for r in rows] == ["arrival", "reverify"]
    assert not rows[1].verified
    assert "failed to build timestamp certificate chain" in (rows[1].reason or "")

    instance.write_trusted_root(root)
    run()
    assert [r.verified for r in _history(db)] == [True, False, True]


# --- one rule: the verdict that holds is the latest reached, never the latest inserted ----


def test_a_rebuild_does_not_bring_back_the_arrival_verdict(db: Database) -> None:
    """A rebuild re-inserts the arrival verdict after the reverification it keeps: by row
    id the old verdict would be the latest again. By the time each was reached, the
    reverification still holds, for every reader."""
    from provenance.model.references import parse as parse_reference
    from provenance.store.admission import image_facts

    key = Key.make()
    _deliver(db, dsse_envelope(statement_v1(D), key), _verifier(policy({"k": key})))
    revoked = policy({"k": key}, key_k={"revoked": True})
    later = ARRIVED + timedelta(days=2)
    reverify(db, _verifier(revoked), now=later)

    def readers() -> tuple[bool, bool, bool, bool]:
        with db.read() as session:
            (event_id,) = {r.event_id for r in evidence.history(session, D)}
            view = artifacts.artifact(session, D)
            (rows,) = evidence.latest_by_digest(session, [D]).values()
            verified = evidence.verified_events(session, [event_id])
            (facts,) = image_facts(
                session, [parse_reference(f"r.example/app@{D}")], at=later
            ).values()
            return (
                _verified(view.attestations[0]),
                rows[0].verified,
                event_id in verified,
                facts.attested,
            )

    assert readers() == (False, False, False, False)
    with db.write() as session:
        projection.rebuild(session)
    ProjectionRunner(db).catch_up()
    assert readers() == (False, False, False, False)


def test_as_of_a_moment_after_a_reverification_it_holds_everywhere(db: Database) -> None:
    """As of a moment, the verdict reached by then holds: `/v1/deployments` as of a time
    after a revocation says unattested, as the artifact view does."""
    from provenance.query.deployments import deployments

    key = Key.make()
    _deliver(db, dsse_envelope(statement_v1(D), key), _verifier(policy({"k": key})))
    deploy = {
        "id": "deploy-1",
        "type": "deployment.applied",
        "time": "2026-03-09T15:00:00Z",
        "source": "events",
        "digest": D,
        "cluster": "c1",
        "namespace": "ns",
        "workload": "deployment/app",
        "container": "app",
    }
    ingest(
        db,
        Delivery(source="events", body=orjson.dumps(deploy), received_at=ARRIVED),
        SourceSecrets(),
    )
    ProjectionRunner(db).catch_up()
    revoked = policy({"k": key}, key_k={"revoked": True})
    reverify(db, _verifier(revoked), now=ARRIVED + timedelta(days=2))
    with db.read() as session:
        for when, attested in (
            (ARRIVED + timedelta(days=1), True),
            (ARRIVED + timedelta(days=3), False),
        ):
            assert [d.attested for d in deployments(session, as_of=when)] == [attested]
            assert _verified(artifacts.artifact(session, D, as_of=when).attestations[0]) is attested


def _verified(found: artifacts.Evidence) -> bool:
    """What the artifact view says of one attestation: verified, or not (never judged is not)."""
    return found.verdict is not None and found.verdict.verified
