"""Attestations real producers send that were refused or misread (issue 9).

The statements and the link are in `tests/payloads/attestations/`, in their producers'
documented formats; each test signs them itself (keyless on the test's private Sigstore,
or with a fresh key) and checks what `POST /v1/attestations` makes of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.ingest.sources.attestations import normalize
from provenance.model.events import EventType
from provenance.trust.attestations import Verifier, parse
from provenance.trust.policy import TrustPolicy
from tests.signing import Key, dsse_envelope, policy
from tests.sigstore_fixture import BUNDLE_V02, OIDC_ISSUER, PrivateSigstore

PAYLOADS = Path(__file__).parent.parent / "payloads" / "attestations"
NPM_WORKFLOW = "https://github.com/acme/payments-sdk/.github/workflows/release.yml@refs/tags/v2.4.1"
NOW = datetime(2026, 3, 9, 14, 10, tzinfo=UTC)


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads((PAYLOADS / name).read_bytes())
    return doc


def _events(doc: dict[str, Any], verifier: Verifier) -> list[Any]:
    delivery = Delivery(source="attestations", body=orjson.dumps(doc), received_at=NOW)
    return normalize(delivery, SourceSecrets(verifier=verifier))


def write_sigstore_policy(tmp_path: Path) -> tuple[PrivateSigstore, Path]:
    """A private Sigstore and a policy trusting acme's GitHub workflows on it."""
    instance = PrivateSigstore.make()
    instance.write_trusted_root(tmp_path / "trusted_root.json")
    path = tmp_path / "policy.yaml"
    path.write_bytes(
        policy(
            {},
            builders=["https://github.com/actions/runner/github-hosted"],
            identities=[{"issuer": OIDC_ISSUER, "subject": r"^https://github\.com/acme/"}],
            sigstore={"trusted_root": "trusted_root.json"},
        )
    )
    return instance, path


@pytest.fixture
def sigstore_policy(tmp_path: Path) -> tuple[PrivateSigstore, Path]:
    return write_sigstore_policy(tmp_path)


def test_npm_provenance_with_a_sha512_subject_is_judged_and_links_nothing(
    sigstore_policy: tuple[PrivateSigstore, Path],
) -> None:
    instance, path = sigstore_policy
    statement = _load("npm-provenance.statement.json")
    sha512 = statement["subject"][0]["digest"]["sha512"]
    doc = instance.sign_dsse(statement, instance.issue(subject=NPM_WORKFLOW), media_type=BUNDLE_V02)
    (event,) = _events(doc, Verifier.from_policy(path))
    assert event.type is EventType.REGISTRY_NOTICE and event.digest is None
    attrs = event.attributes
    assert attrs["subject_digest"] == f"sha512:{sha512}"
    assert attrs["subject_name"] == "pkg:npm/%40acme/payments-sdk@2.4.1"
    assert attrs["verified"] is True and attrs["key"] == NPM_WORKFLOW, attrs["reason"]
    assert attrs["verdict"]["digest"] == f"sha512:{sha512}"
    assert attrs["builder_id"] == "https://github.com/actions/runner/github-hosted"
    assert attrs["keyless"] is True


def test_a_google_vsa_about_a_gce_image_is_judged_and_links_nothing() -> None:
    key = Key.make()
    verifier = Verifier(TrustPolicy.parse(policy({"google-vsa": key})))
    (event,) = _events(dsse_envelope(_load("google-vsa-gce.statement.json"), key), verifier)
    assert event.type is EventType.REGISTRY_NOTICE and event.digest is None
    assert event.attributes["subject_digest"] == "gce_image_id:8970095005306000053"
    assert event.attributes["verified"] is True and event.attributes["key"] == "google-vsa"
    assert event.attributes["predicate_type"] == "https://slsa.dev/verification_summary/v1"


def test_mixed_subjects_link_only_the_oci_one() -> None:
    key = Key.make()
    statement = _load("npm-provenance.statement.json")
    image = {"name": "ghcr.io/acme/payments-sdk", "digest": {"sha256": "5d" * 32}}
    statement["subject"].append(image)
    verifier = Verifier(TrustPolicy.parse(policy({"k": key}, builders=["*"])))
    events = _events(dsse_envelope(statement, key), verifier)
    assert [e.type for e in events] == [EventType.REGISTRY_NOTICE, EventType.ARTIFACT_ATTESTED]
    assert events[1].digest == "sha256:" + "5d" * 32
    assert events[1].repository == "ghcr.io/acme/payments-sdk"


def test_a_gpg_signed_in_toto_link_is_recorded_unverified_with_the_reason() -> None:
    raw = (PAYLOADS / "gpg-signed.link").read_bytes()
    att = parse(raw)
    (signature,) = att.signatures
    assert signature.scheme == "gpg"
    assert signature.keyid == "8465a1e2e0fb2b40adb2478e18fb3f537e0c8a17"
    verifier = Verifier(TrustPolicy.parse(policy({"k": Key.make()})))
    (event,) = _events(orjson.loads(raw), verifier)
    assert event.type is EventType.ARTIFACT_ATTESTED
    assert event.digest == "sha256:9c2d4e6f8b0a1c3e5d7f9b1a3c5e7d9f0b2a4c6e8d0f2b4a6c8e0d2f4b6a8c0e"
    assert event.attributes["verified"] is False
    assert "OpenPGP (GPG) signature" in event.attributes["reason"]
    assert event.attributes["step"] == "build"


def test_slsa_v02_build_invocation_id_as_slsa_github_generator_spells_it() -> None:
    key = Key.make()
    statement = _load("slsa-github-generator-v0.2.statement.json")
    verifier = Verifier(TrustPolicy.parse(policy({"k": key}, builders=["*"])))
    (event,) = _events(dsse_envelope(statement, key), verifier)
    assert event.build == "4311837327-1"  # not a made-up "<builder>#<body hash>"
    assert event.attributes["invocation_id"] == "4311837327-1"
    assert event.commit == "1f3c0b99ee32fa789a58807755933c2f994a2acd"
