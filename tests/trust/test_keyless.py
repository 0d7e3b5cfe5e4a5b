"""Keyless verdicts agree with sigstore-python, on a private Sigstore the test stands up.

Every bundle here is made by `tests.sigstore_fixture.PrivateSigstore` (its own Fulcio-like
CAs, CT log and Rekor-like log, written as a TrustedRoot JSON). Each case asks the service
for its verdict and asks sigstore-python's `Verifier` directly, with the real identity
policy: the two must agree, tampered or not, and a refusal must say which check failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sigstore.errors import Error as SigstoreError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier as SigstoreVerifier
from sigstore.verify.policy import Identity
from sigstore_models.common.v1 import HashAlgorithm

from provenance.model.errors import InvalidConfiguration
from provenance.trust.attestations import Verifier, parse
from provenance.trust.attestations._sigstore import SigstoreTrust
from provenance.trust.policy import TrustPolicy, Verdict
from tests.signing import policy, statement_v1
from tests.sigstore_fixture import (
    BUNDLE_V01,
    BUNDLE_V02,
    BUNDLE_V03,
    OIDC_ISSUER,
    WORKFLOW,
    PrivateSigstore,
    entry_of,
    flip,
    tampered,
)

D = "sha256:" + "4b" * 32
ARTIFACT = b"payments-api-1.4.2.tar.gz contents"
IDENTITIES = [{"issuer": OIDC_ISSUER, "subject": r"^https://github\.com/acme/.*$"}]


@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return PrivateSigstore.make()


@pytest.fixture(scope="module")
def root(sigstore: PrivateSigstore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sigstore.write_trusted_root(tmp_path_factory.mktemp("sigstore") / "trusted_root.json")


def _policy(root: Path, identities: list[dict[str, str]] = IDENTITIES, **extra: Any) -> bytes:
    return policy({}, identities=identities, sigstore={"trusted_root": str(root)}, **extra)


def service_says(doc: dict[str, Any], root: Path, **kwargs: Any) -> Verdict:
    verifier = Verifier(TrustPolicy.parse(_policy(root, **kwargs)))
    (verdict,) = verifier.verify(parse(orjson.dumps(doc)), seen_at=datetime.now(UTC))
    return verdict


def sigstore_says(doc: dict[str, Any], root: Path) -> str | None:
    """sigstore-python's own answer (None: verified), with the identity the bundles carry."""
    verifier = SigstoreVerifier(trusted_root=TrustedRoot.from_file(str(root)))
    identity = Identity(identity=WORKFLOW, issuer=OIDC_ISSUER)
    try:
        bundle = Bundle.from_json(json.dumps(doc))
        if "messageSignature" in doc:
            digest = hashlib.sha256(ARTIFACT).digest()
            hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)
            verifier.verify_artifact(hashed, bundle, identity)
        else:
            verifier.verify_dsse(bundle, identity)
    except SigstoreError as exc:
        return str(exc)
    return None


def agree(doc: dict[str, Any], root: Path) -> Verdict:
    verdict = service_says(doc, root)
    theirs = sigstore_says(doc, root)
    assert verdict.verified is (theirs is None), (verdict.reason, theirs)
    if theirs is not None:  # sigstore's own words, passed through (on one line)
        assert " ".join(theirs.split()) in (verdict.reason or "")
    return verdict


# --- untampered ------------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", [BUNDLE_V01, BUNDLE_V02, BUNDLE_V03])
@pytest.mark.parametrize("content", ["dsse", "message"])
def test_untampered_bundles_verify(
    sigstore: PrivateSigstore, root: Path, media_type: str, content: str
) -> None:
    if content == "dsse":
        doc = sigstore.sign_dsse(statement_v1(D), media_type=media_type)
    else:
        doc = sigstore.sign_message(ARTIFACT, media_type=media_type)
    verdict = agree(doc, root)
    assert verdict.verified and verdict.signature_verified, verdict.reason
    assert verdict.key == WORKFLOW and verdict.signatures[0].key == WORKFLOW
    if content == "message":
        assert verdict.digest == "sha256:" + hashlib.sha256(ARTIFACT).hexdigest()


def test_email_identities_and_untrusted_identities(sigstore: PrivateSigstore, root: Path) -> None:
    signer = sigstore.issue(subject="release@acme.io", issuer="https://accounts.google.com")
    doc = sigstore.sign_dsse(statement_v1(D), signer)
    google = [{"issuer": "https://accounts.google.com", "subject": r"^release@acme\.io$"}]
    assert service_says(doc, root, identities=google).verified
    # sigstore verifies it; the policy does not trust that identity
    verdict = service_says(doc, root)
    assert not verdict.verified and verdict.key == "release@acme.io"
    assert verdict.reason == (
        "identity release@acme.io (https://accounts.google.com) is not trusted by the policy"
    )
    same_subject_other_issuer = [{"issuer": OIDC_ISSUER, "subject": r"^release@acme\.io$"}]
    assert not service_says(doc, root, identities=same_subject_other_issuer).verified


def test_repository_rules_apply_to_keyless_signers(sigstore: PrivateSigstore, root: Path) -> None:
    doc = sigstore.sign_dsse(statement_v1(D, name="registry.acme.io/other/app"))
    rules = [
        {
            "pattern": "registry.acme.io/other/*",
            "identities": [{"issuer": OIDC_ISSUER, "subject": "^https://github.com/other/"}],
        }
    ]
    verdict = service_says(doc, root, repositories=rules)
    assert not verdict.verified and "not an expected signer" in (verdict.reason or "")


# --- tampered: each must fail, and say why in sigstore's terms ---------------------------------


def _drop_promise(b: dict[str, Any]) -> None:
    del entry_of(b)["inclusionPromise"]


def _corrupt_set_and_proof(b: dict[str, Any]) -> None:
    entry = entry_of(b)
    entry["inclusionPromise"]["signedEntryTimestamp"] = flip(
        entry["inclusionPromise"]["signedEntryTimestamp"]
    )
    entry["inclusionProof"]["hashes"][0] = flip(entry["inclusionProof"]["hashes"][0])


def _corrupt_set(b: dict[str, Any]) -> None:
    promise = entry_of(b)["inclusionPromise"]
    promise["signedEntryTimestamp"] = flip(promise["signedEntryTimestamp"])


def _corrupt_checkpoint(b: dict[str, Any]) -> None:
    checkpoint = entry_of(b)["inclusionProof"]["checkpoint"]
    note, signature = checkpoint["envelope"].rsplit(" ", 1)
    # byte 0-3 are the key hint: change the signature itself
    checkpoint["envelope"] = f"{note} {flip(signature.strip(), at=10)}\n"


def _drop_set_and_proof(b: dict[str, Any]) -> None:
    entry = entry_of(b)
    del entry["inclusionPromise"], entry["inclusionProof"]


def _move_integrated_time(b: dict[str, Any]) -> None:
    entry = entry_of(b)
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 300)


def _junk_timestamp_instead(b: dict[str, Any]) -> None:
    """No inclusion promise; an RFC 3161 "timestamp" no authority signed."""
    del entry_of(b)["inclusionPromise"]
    junk = base64.b64encode(b"0\x03\x02\x01\x00").decode()
    b["verificationMaterial"]["timestampVerificationData"] = {
        "rfc3161Timestamps": [{"signedTimestamp": junk}]
    }


TAMPERINGS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no signed time", _drop_promise, "inclusion promise or signed timestamp"),
    ("corrupted SET and proof", _corrupt_set_and_proof, "inclusion proof contains invalid root"),
    ("corrupted SET", _corrupt_set, "SET: invalid inclusion promise"),
    ("corrupted checkpoint", _corrupt_checkpoint, "checkpoint: invalid signature"),
    ("SET and proof removed", _drop_set_and_proof, "inclusionProof Field required"),
    ("integratedTime moved 5 minutes", _move_integrated_time, "SET: invalid inclusion promise"),
    ("an unsigned RFC 3161 timestamp", _junk_timestamp_instead, "Invalid Timestamp Response"),
]


@pytest.mark.parametrize(
    ("change", "says"), [t[1:] for t in TAMPERINGS], ids=[t[0] for t in TAMPERINGS]
)
def test_tampered_log_evidence_never_verifies(
    sigstore: PrivateSigstore, root: Path, change: Callable[[dict[str, Any]], None], says: str
) -> None:
    good = sigstore.sign_dsse(statement_v1(D))
    assert agree(good, root).verified
    verdict = agree(tampered(good, change), root)
    assert not verdict.verified and not verdict.signature_verified
    assert says in (verdict.reason or ""), verdict.reason


def test_another_entrys_log_body_never_verifies(sigstore: PrivateSigstore, root: Path) -> None:
    mine = sigstore.sign_dsse(statement_v1(D))
    theirs = sigstore.sign_dsse(statement_v1("sha256:" + "77" * 32))

    def body_only(b: dict[str, Any]) -> None:
        entry_of(b)["canonicalizedBody"] = entry_of(theirs)["canonicalizedBody"]

    verdict = agree(tampered(mine, body_only), root)
    assert not verdict.verified and "inclusion proof" in (verdict.reason or "")

    def whole_entry(b: dict[str, Any]) -> None:  # a genuine, fully proven entry: not this one's
        b["verificationMaterial"]["tlogEntries"] = theirs["verificationMaterial"]["tlogEntries"]

    verdict = agree(tampered(mine, whole_entry), root)
    assert not verdict.verified
    assert "log entry payload hash does not match bundle" in (verdict.reason or "")


def test_a_changed_payload_or_artifact_never_verifies(
    sigstore: PrivateSigstore, root: Path
) -> None:
    doc = sigstore.sign_dsse(statement_v1(D))
    other = orjson.dumps(statement_v1("sha256:" + "66" * 32))

    def swap_payload(b: dict[str, Any]) -> None:
        b["dsseEnvelope"]["payload"] = base64.b64encode(other).decode()

    verdict = agree(tampered(doc, swap_payload), root)
    assert not verdict.verified and "DSSE: invalid signature" in (verdict.reason or "")

    message = sigstore.sign_message(ARTIFACT)

    def swap_digest(b: dict[str, Any]) -> None:
        b["messageSignature"]["messageDigest"]["digest"] = base64.b64encode(
            hashlib.sha256(b"another artifact").digest()
        ).decode()

    verdict = service_says(tampered(message, swap_digest), root)
    assert not verdict.verified and "Signature is invalid for input" in (verdict.reason or "")


def test_the_certificate_is_judged_at_the_logged_time(
    sigstore: PrivateSigstore, root: Path
) -> None:
    """Logged (and SET-signed) an hour after the 10-minute certificate expired."""
    late = sigstore.sign_dsse(statement_v1(D), integrated=datetime.now(UTC) + timedelta(hours=1))
    verdict = agree(late, root)
    assert not verdict.verified and "not valid at validation time" in (verdict.reason or "")


@pytest.mark.parametrize(
    ("issue", "says"),
    [
        ({"code_signing": False}, "Extended usage does not contain `code signing`"),
        ({"sct": "none"}, "does not contain a signed certificate timestamp"),
        ({"sct": "bad-signature"}, "SCT verify failed: keyring: invalid signature"),
        ({"sct": "other-log"}, "SCT verify failed"),
    ],
    ids=["no code-signing EKU", "no SCT", "bad SCT", "SCT from another log"],
)
def test_bad_leaf_certificates_never_verify(
    sigstore: PrivateSigstore, root: Path, issue: dict[str, Any], says: str
) -> None:
    doc = sigstore.sign_dsse(statement_v1(D), sigstore.issue(**issue))
    verdict = agree(doc, root)
    assert not verdict.verified and says in (verdict.reason or ""), verdict.reason


@pytest.mark.parametrize(
    ("make", "says"),
    [
        ({"intermediate_is_ca": False}, "basicConstraints.cA must be asserted"),
        (
            {
                "intermediate_valid": (
                    datetime.now(UTC) - timedelta(days=30),
                    datetime.now(UTC) - timedelta(days=1),
                )
            },
            "not valid at validation time",
        ),
    ],
    ids=["intermediate not a CA", "expired intermediate"],
)
def test_bad_intermediates_never_verify(tmp_path: Path, make: dict[str, Any], says: str) -> None:
    instance = PrivateSigstore.make(**make)
    root = instance.write_trusted_root(tmp_path / "trusted_root.json")
    verdict = agree(instance.sign_dsse(statement_v1(D)), root)
    assert not verdict.verified and says in (verdict.reason or ""), verdict.reason


def test_a_bundle_from_another_sigstore_does_not_chain(
    sigstore: PrivateSigstore, root: Path
) -> None:
    stranger = PrivateSigstore.make().sign_dsse(statement_v1(D))
    verdict = agree(stranger, root)
    assert not verdict.verified
    assert "failed to build timestamp certificate chain" in (verdict.reason or "")


# --- RFC 3161 timestamps instead of an inclusion promise ---------------------------------------


def _timestamped(
    sigstore: PrivateSigstore, *, over: bytes | None = None, when: datetime | None = None
) -> dict[str, Any]:
    """A bundle whose only verified time is a timestamp from the instance's TSA."""
    doc = sigstore.sign_dsse(statement_v1(D))
    del entry_of(doc)["inclusionPromise"]
    signature = base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"])
    token = sigstore.timestamp(over or signature, when=when)
    doc["verificationMaterial"]["timestampVerificationData"] = {
        "rfc3161Timestamps": [{"signedTimestamp": base64.b64encode(token).decode()}]
    }
    return doc


def test_a_timestamp_from_a_listed_authority_is_verified_time(
    sigstore: PrivateSigstore, root: Path
) -> None:
    verdict = agree(_timestamped(sigstore), root)
    assert verdict.verified, verdict.reason


def test_timestamps_that_prove_nothing_never_verify(
    sigstore: PrivateSigstore, root: Path, tmp_path: Path
) -> None:
    verdict = agree(_timestamped(sigstore, over=b"another signature"), root)
    assert not verdict.verified and "not enough sources of verified time" in (verdict.reason or "")
    late = agree(_timestamped(sigstore, when=datetime.now(UTC) + timedelta(hours=1)), root)
    assert not late.verified and "not valid at validation time" in (late.reason or "")
    no_tsa = sigstore.write_trusted_root(tmp_path / "no-tsa.json", tsa=False)
    verdict = agree(_timestamped(sigstore), no_tsa)
    assert not verdict.verified and "no Timestamp Authorities" in (verdict.reason or "")


# --- keyless material without a bundle ---------------------------------------------------------


def test_a_certificate_without_log_evidence_is_recorded_unverified(
    sigstore: PrivateSigstore, root: Path
) -> None:
    """slsa-github-generator's early envelopes: the Fulcio certificate beside the sig, and
    the Rekor entry left online. Without it there is no verified time: never verified."""
    bundle = sigstore.sign_dsse(statement_v1(D))
    envelope = bundle["dsseEnvelope"]
    signer_pem = base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = x509.load_der_x509_certificate(signer_pem).public_bytes(Encoding.PEM).decode()
    old = {
        "payloadType": envelope["payloadType"],
        "payload": envelope["payload"],
        "signatures": [{"keyid": "", "sig": envelope["signatures"][0]["sig"], "cert": pem}],
    }
    att = parse(orjson.dumps(old))
    assert att.certificates and att.sigstore_bundle is None
    verdict = service_says(old, root)
    assert not verdict.verified
    assert "without transparency-log evidence" in (verdict.reason or "")


# --- the trust roots ---------------------------------------------------------------------------


def test_identities_alone_use_the_public_good_root_offline(sigstore: PrivateSigstore) -> None:
    raw = policy({}, identities=IDENTITIES)
    verifier = Verifier(TrustPolicy.parse(raw))
    trust = verifier._sigstore
    assert trust is not None and trust.name == "public-good"
    # The shipped root is the production one: Fulcio's sigstore.dev CA is in it.
    public = SigstoreTrust.public_good()
    subjects = {c.subject.rfc4514_string() for c in public._verifier._fulcio_certificate_chain}
    assert any("sigstore.dev" in s for s in subjects)
    # A private deployment's bundle is judged against it, and does not chain to it.
    (verdict,) = verifier.verify(
        parse(orjson.dumps(sigstore.sign_dsse(statement_v1(D)))), seen_at=datetime.now(UTC)
    )
    assert not verdict.verified
    assert "failed to build timestamp certificate chain" in (verdict.reason or "")


def test_trusted_root_paths_are_read_relative_to_the_policy(
    sigstore: PrivateSigstore, tmp_path: Path
) -> None:
    sigstore.write_trusted_root(tmp_path / "root.json")
    path = tmp_path / "policy.yaml"
    path.write_bytes(policy({}, identities=IDENTITIES, sigstore={"trusted_root": "root.json"}))
    loaded = TrustPolicy.load(path)
    assert loaded.sigstore_trusted_root == tmp_path / "root.json"
    verifier = Verifier.from_policy(path)
    (verdict,) = verifier.verify(
        parse(orjson.dumps(sigstore.sign_dsse(statement_v1(D)))), seen_at=datetime.now(UTC)
    )
    assert verdict.verified, verdict.reason


@pytest.mark.parametrize(
    ("content", "says"),
    [(None, "No such file"), (b"{}", "not a Sigstore TrustedRoot"), (b"[1]", "TrustedRoot")],
)
def test_an_unusable_trusted_root_stops_the_policy_loading(
    tmp_path: Path, content: bytes | None, says: str
) -> None:
    path = tmp_path / "root.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidConfiguration, match=says):
        Verifier(TrustPolicy.parse(_policy(path)))
    with pytest.raises(InvalidConfiguration, match="sigstore must be a mapping"):
        TrustPolicy.parse(policy({}, sigstore={"root": "x"}))
