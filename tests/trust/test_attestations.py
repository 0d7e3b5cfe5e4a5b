"""Parsing and verification of signatures and attestations, with keys made per test."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.model.errors import InvalidConfiguration, InvalidPayload, RejectedInput, Unparseable
from provenance.trust.attestations import Verifier, parse
from provenance.trust.policy import TrustPolicy
from tests.conftest import SAMPLES, sample_path
from tests.signing import (
    BUILDER,
    Key,
    bundle,
    dsse_envelope,
    in_toto_link,
    policy,
    sbom_statement,
    simple_signing,
    statement_v02,
    statement_v1,
    tamper_payload,
)

D = "sha256:" + "ab" * 32
BASE = "sha256:" + "cd" * 32
NOW = datetime(2026, 3, 9, 14, 10, tzinfo=UTC)


def judge(doc: dict[str, Any], raw_policy: bytes | None, **params: str) -> list[Any]:
    verifier = Verifier(TrustPolicy.parse(raw_policy) if raw_policy else None)
    return verifier.verify(parse(orjson.dumps(doc), params=params), seen_at=NOW)


@pytest.mark.parametrize(
    ("kind", "scheme"),
    [
        ("ecdsa", None),
        ("ed25519", None),
        ("rsa", "rsassa-pss-sha256"),
        ("rsa", "rsa-pkcs1v15-sha256"),
    ],
)
def test_dsse_slsa_v1_signed_by_a_trusted_key_verifies(kind: str, scheme: str | None) -> None:
    key = Key.make(kind, scheme)
    (verdict,) = judge(dsse_envelope(statement_v1(D), key), policy({"ci-release": key}))
    assert verdict.verified and verdict.signature_verified and verdict.builder_trusted
    assert verdict.key == "ci-release" and verdict.reason is None
    assert verdict.policy_sha256 == TrustPolicy.parse(policy({"ci-release": key})).sha256


def test_slsa_v1_build_side_is_parsed() -> None:
    att = parse(orjson.dumps(dsse_envelope(statement_v1(D, bases=[BASE]), Key.make())))
    assert att.kind == "attestation" and att.format == "dsse"
    assert [s.digest for s in att.subjects] == [D]
    assert att.build is not None
    assert att.build.builder_id == BUILDER
    assert att.build.invocation_id == "https://ci.acme.io/runs/42"
    assert att.build.source_commit == "1f3c0b99ee32fa789a58807755933c2f994a2acd"
    assert att.build.started_on == "2026-03-09T14:03:05Z"
    assert [b.digest for b in att.build.base_images] == [BASE]


def test_statement_v01_with_slsa_v02() -> None:
    key = Key.make()
    doc = dsse_envelope(statement_v02(D), key)
    att = parse(orjson.dumps(doc))
    assert att.build is not None and att.build.invocation_id == "13877012345-1"
    assert att.build.source_commit == "1f3c0b99ee32fa789a58807755933c2f994a2acd"
    (verdict,) = judge(doc, policy({"k": key}))
    assert verdict.verified


def test_wrong_key_is_well_formed_but_unverified() -> None:
    signer, trusted = Key.make(), Key.make()
    (verdict,) = judge(dsse_envelope(statement_v1(D), signer), policy({"ci-release": trusted}))
    assert not verdict.verified and not verdict.signature_verified
    assert verdict.key is None
    assert "no trusted key verifies" in (verdict.reason or "")


def test_tampered_payload_does_not_verify() -> None:
    key = Key.make()
    good = dsse_envelope(statement_v1(D), key)
    forged = tamper_payload(good, lambda s: s["subject"][0]["digest"].update(sha256="ef" * 32))
    (verdict,) = judge(forged, policy({"ci-release": key}))
    assert verdict.digest == "sha256:" + "ef" * 32
    assert not verdict.verified and "no trusted key" in (verdict.reason or "")


def test_untrusted_builder_fails_the_attestation_not_the_signature() -> None:
    key = Key.make()
    doc = dsse_envelope(statement_v1(D, builder="https://evil.example/runner"), key)
    (verdict,) = judge(doc, policy({"ci-release": key}))
    assert verdict.signature_verified and verdict.key == "ci-release"
    assert not verdict.verified and verdict.builder_trusted is False
    assert "https://evil.example/runner is not trusted" in (verdict.reason or "")


def test_builder_globs() -> None:
    key = Key.make()
    doc = dsse_envelope(statement_v1(D, builder="https://ci.acme.io/runners/release-7"), key)
    (verdict,) = judge(doc, policy({"k": key}, builders=["https://ci.acme.io/runners/*"]))
    assert verdict.verified


def test_other_predicates_are_kept_and_summarized() -> None:
    key = Key.make()
    doc = dsse_envelope(sbom_statement(D), key)
    att = parse(orjson.dumps(doc))
    assert att.kind == "attestation" and att.build is None
    assert att.summary == {"sbom": "spdx", "packages": 2}
    (verdict,) = judge(doc, policy({"k": key}))
    assert verdict.verified and verdict.builder_trusted is None


def test_no_policy_records_unverified() -> None:
    (verdict,) = judge(dsse_envelope(statement_v1(D), Key.make()), None)
    assert not verdict.verified and verdict.reason == "no trust policy"
    assert verdict.policy_sha256 is None


def test_expired_and_revoked_keys() -> None:
    key = Key.make()
    doc = dsse_envelope(statement_v1(D), key)
    expired = policy({"k": key}, key_k={"not_after": (NOW - timedelta(days=1)).isoformat()})
    (verdict,) = judge(doc, expired)
    assert not verdict.verified and verdict.signature_verified is False
    assert verdict.key == "k" and "expired" in (verdict.reason or "")
    still_valid = policy({"k": key}, key_k={"not_after": (NOW + timedelta(days=1)).isoformat()})
    assert judge(doc, still_valid)[0].verified
    revoked = policy({"k": key}, key_k={"revoked": True})
    assert "revoked" in (judge(doc, revoked)[0].reason or "")


def test_any_of_several_signatures_is_enough() -> None:
    trusted, other = Key.make(), Key.make("ed25519")
    (verdict,) = judge(dsse_envelope(statement_v1(D), other, trusted), policy({"t": trusted}))
    assert verdict.verified and verdict.key == "t"
    assert [s.verified for s in verdict.signatures] == [False, True]


def test_repository_rules_name_the_expected_signers() -> None:
    team, other = Key.make(), Key.make()
    rules = [{"pattern": "registry.acme.io/acme/*", "keys": ["team"]}]
    raw = policy({"team": team, "other": other}, repositories=rules)
    ok = dsse_envelope(statement_v1(D, name="registry.acme.io/acme/payments-api"), team)
    assert judge(ok, raw)[0].verified
    wrong = dsse_envelope(statement_v1(D, name="registry.acme.io/acme/payments-api"), other)
    (verdict,) = judge(wrong, raw)
    assert not verdict.verified and "not an expected signer" in (verdict.reason or "")
    elsewhere = dsse_envelope(statement_v1(D, name="docker.io/library/nginx"), other)
    assert judge(elsewhere, raw)[0].verified
    # Dropping the subject name does not escape the rule.
    nameless = statement_v1(D)
    del nameless["subject"][0]["name"]
    assert not judge(dsse_envelope(nameless, other), raw)[0].verified
    assert judge(dsse_envelope(nameless, team), raw)[0].verified


def test_in_toto_link_as_in_toto_run_writes_it(tmp_path: Path) -> None:
    key = Key.make("ed25519")
    link = in_toto_link(tmp_path, key)
    att = parse(orjson.dumps(link), params={"digest": D})
    assert att.format == "in-toto-link" and att.summary["step"] == "build"
    assert [s.digest for s in att.subjects] == [D]
    (verdict,) = judge(link, policy({"functionary": key}), digest=D)
    assert verdict.verified and verdict.key == "functionary"
    link["signed"]["command"] = ["rm", "-rf", "/"]
    assert not judge(link, policy({"functionary": key}), digest=D)[0].verified


def test_link_products_are_the_subjects_without_a_digest_param(tmp_path: Path) -> None:
    link = in_toto_link(tmp_path, Key.make(), product=b"tar")
    att = parse(orjson.dumps(link))
    assert att.subjects[0].name == "image.tar"
    assert att.subjects[0].digest.startswith("sha256:")


def test_cosign_simple_signing() -> None:
    key = Key.make()
    doc = simple_signing(D, key)
    att = parse(orjson.dumps(doc))
    assert att.kind == "signature" and att.subjects[0].name == "registry.acme.io/acme/api"
    assert judge(doc, policy({"cosign": key}))[0].verified
    # cosign download signature's field names
    download = {"Base64Signature": doc["signature"], "Payload": doc["payload"]}
    assert judge(download, policy({"cosign": key}))[0].verified
    # the payload as the body, its signature as ?signature=
    raw = base64.b64decode(doc["payload"])
    att = parse(raw, params={"signature": doc["signature"]})
    verdict = Verifier(TrustPolicy.parse(policy({"cosign": key}))).verify(att, seen_at=NOW)[0]
    assert verdict.verified


def test_sigstore_bundle_with_a_key_and_with_a_message_signature() -> None:
    key = Key.make()
    doc = bundle(statement_v1(D), key)
    assert judge(doc, policy({"k": key}))[0].verified
    artifact = b"a release tarball"
    import hashlib

    digest = hashlib.sha256(artifact).digest()
    message = {
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "verificationMaterial": {"publicKey": {"hint": "x"}},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": base64.b64encode(digest).decode()},
            "signature": base64.b64encode(key.sign(artifact)).decode(),
        },
    }
    (verdict,) = judge(message, policy({"k": key}))
    assert verdict.verified and verdict.digest == f"sha256:{digest.hex()}"


def test_the_old_certificate_authorities_list_is_refused_with_what_to_use() -> None:
    with pytest.raises(InvalidConfiguration, match=r"sigstore: \{trusted_root: PATH\}"):
        TrustPolicy.parse(policy({}, certificate_authorities=["-----BEGIN CERTIFICATE-----"]))


# --- the shared samples (signed elsewhere, verifiable with the bundled keys) ----------


def _sample_policy() -> bytes:
    pem = (SAMPLES / "cosign" / "acme-ci-signing-key.pub.pem").read_text()
    functionary = json.loads((SAMPLES / "in-toto" / "functionary-build.pub.json").read_text())
    return policy(
        {"acme-ci": pem, "functionary": functionary},
        builders=["https://github.com/actions/runner/github-hosted"],
    )


@pytest.mark.parametrize(
    "sample",
    [
        "in-toto/slsa-provenance-v1.dsse.json",
        "cosign/sigstore-bundle-v0.3.sign.json",
        "cosign/sigstore-bundle-v0.3.provenance.json",
        "in-toto/build.84aa08cb.link",
    ],
)
def test_samples_verify_with_the_bundled_keys(sample: str) -> None:
    att = parse(sample_path(sample).read_bytes())
    verifier = Verifier(TrustPolicy.parse(_sample_policy()))
    (verdict,) = verifier.verify(att, seen_at=NOW)
    assert verdict.verified, verdict.reason


def test_sample_simple_signing_payload_with_its_manifest_signature() -> None:
    manifest = json.loads(sample_path("cosign/legacy-signature-manifest.json").read_text())
    sig = manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"]
    payload = (SAMPLES / "cosign" / "simple-signing-payload.json").read_bytes()
    doc = {"payload": base64.b64encode(payload).decode(), "signature": sig}
    (verdict,) = Verifier(TrustPolicy.parse(_sample_policy())).verify(
        parse(orjson.dumps(doc)), seen_at=NOW
    )
    assert verdict.verified and verdict.key == "acme-ci"


# --- malformed input: a clear 4xx, never a crash ----------------------------------------


@pytest.mark.parametrize(
    ("body", "error", "says"),
    [
        (b"not json", Unparseable, "not valid JSON"),
        (b"[1, 2]", InvalidPayload, "JSON object"),
        (b'{"hello": 1}', InvalidPayload, "not a DSSE envelope"),
        (
            b'{"payloadType": "text/plain", "payload": "aGk=", "signatures": [{"sig": "AA=="}]}',
            InvalidPayload,
            "payloadType",
        ),
        (
            b'{"payloadType": "application/vnd.in-toto+json", "payload": "%%%", '
            b'"signatures": [{"sig": "AA=="}]}',
            InvalidPayload,
            "base64",
        ),
        (
            b'{"payloadType": "application/vnd.in-toto+json", "payload": "aGk=", "signatures": []}',
            InvalidPayload,
            "signatures",
        ),
        (
            b'{"payloadType": "application/vnd.in-toto+json", "payload": "aGk=", '
            b'"signatures": [{"sig": "AA=="}]}',
            InvalidPayload,
            "not JSON",
        ),
        (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v9+json"}', InvalidPayload, "bundle"),
        (b'{"signed": {"_type": "layout"}, "signatures": []}', InvalidPayload, "links"),
        (b'{"critical": {}}', InvalidPayload, "needs its signature"),
    ],
)
def test_malformed_input_is_refused_with_a_reason(body: bytes, error: type, says: str) -> None:
    with pytest.raises(error, match=says):
        parse(body)


def test_statement_without_sha256_subject_is_judged_but_names_no_artifact() -> None:
    st = statement_v1(D)
    st["subject"][0] = {"name": "pkg:npm/left-pad@1.3.0", "digest": {"sha512": "AB" * 64}}
    key = Key.make()
    (verdict,) = judge(dsse_envelope(st, key), policy({"k": key}))
    assert verdict.verified and verdict.digest == "sha512:" + "ab" * 64
    (subject,) = parse(orjson.dumps(dsse_envelope(st, key))).subjects
    assert not subject.is_artifact and subject.name == "pkg:npm/left-pad@1.3.0"
    st["subject"][0]["digest"] = {"sha512": "00"}
    with pytest.raises(InvalidPayload, match="sha512 is not 128 hex"):
        parse(orjson.dumps(dsse_envelope(st, Key.make())))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_shapes = st.fixed_dictionaries(
    {},
    optional={
        "payloadType": st.sampled_from(["application/vnd.in-toto+json", "x"]) | _json,
        "payload": st.text(max_size=40) | _json,
        "signatures": _json,
        "mediaType": st.sampled_from(["application/vnd.dev.sigstore.bundle.v0.3+json"]) | _json,
        "verificationMaterial": _json,
        "dsseEnvelope": _json,
        "messageSignature": _json,
        "signed": _json,
        "payload_": _json,
        "critical": _json,
        "signature": _json,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_shapes)
def test_parse_never_crashes(doc: dict[str, Any]) -> None:
    try:
        att = parse(json.dumps(doc).encode())
    except RejectedInput:
        return
    Verifier(None).verify(att, seen_at=NOW)


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=200))
def test_parse_never_crashes_on_bytes(raw: bytes) -> None:
    with contextlib.suppress(RejectedInput):
        parse(raw)


@settings(max_examples=50, deadline=None)
@given(sig=st.binary(max_size=120))
def test_garbage_signatures_are_unverified_not_errors(sig: bytes) -> None:
    key = Key.make()
    doc = dsse_envelope(statement_v1(D), key)
    doc["signatures"][0]["sig"] = base64.b64encode(sig).decode() or "AA=="
    verdicts = judge(doc, policy({"k": key, "e": Key.make("ed25519"), "r": Key.make("rsa")}))
    assert verdicts, "a signed envelope always gets a verdict"
    for verdict in verdicts:
        assert verdict.verified is False, verdict
        assert verdict.reason


# --- the policy file --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"- a list", "mapping"),
        (b"version: 2", "version"),
        (b"version: 1\nsurprise: true", "unknown fields"),
        (b"version: 1\nkeys: [{id: a, public_key: nope}]", "PEM"),
        (b"version: 1\nidentities: [{issuer: x, subject: '('}]", "regular expression"),
        (b"version: 1\nrepositories: [{pattern: '*', keys: [ghost]}]", "unknown keys"),
        (b"{version: 1, keys: [", "YAML"),
    ],
)
def test_bad_policies_are_refused(raw: bytes, says: str) -> None:
    with pytest.raises(InvalidConfiguration, match=says):
        TrustPolicy.parse(raw)


def test_a_broken_key_in_the_policy_stops_the_verifier() -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    with pytest.raises(InvalidConfiguration, match="ci"):
        Verifier(TrustPolicy.parse(policy({"ci": pem})))


def test_policy_in_json_and_its_hash(tmp_path: Path) -> None:
    key = Key.make()
    doc = {"version": 1, "keys": [{"id": "k", "public_key": key.pem}], "builders": [BUILDER]}
    path = tmp_path / "policy.json"
    path.write_bytes(orjson.dumps(doc))
    verifier = Verifier.from_policy(path)
    import hashlib

    assert verifier.policy_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(InvalidConfiguration, match=r"missing\.yaml"):
        Verifier.from_policy(tmp_path / "missing.yaml")
