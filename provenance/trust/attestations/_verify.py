"""`Verifier`: judges a parsed `Attestation` under a `TrustPolicy`, one verdict per subject.

A signature verifies when it is cryptographically valid under a policy key (ed25519,
ECDSA P-256, RSA; PEM or securesystemslib form, checked with securesystemslib) that is
usable at the time the service first saw it and expected for the subject's repository;
or, keyless, when sigstore-python verifies its Sigstore bundle under the trust root
(public-good, or the policy's `sigstore.trusted_root`) and the verified certificate names
a listed identity. An attestation that carries build provenance is trusted only if its
builder is listed too.

The key hint a signature carries is never trusted: every policy key is tried. A
certificate without a bundle (cosign's `cert`, a DSSE signature's `cert`) brings no
transparency-log evidence, so it cannot verify: keyless needs verified time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
from securesystemslib.signer import Signature, SSlibKey  # type: ignore[attr-defined]  # re-exported without __all__

from provenance.model.errors import InvalidConfiguration
from provenance.trust.attestations._sigstore import SigstoreTrust
from provenance.trust.policy import (
    NO_POLICY,
    Attestation,
    SignatureVerdict,
    TrustedKey,
    TrustPolicy,
    Verdict,
)

logger = logging.getLogger(__name__)

NO_TLOG = (
    "a keyless signature without transparency-log evidence: only a Sigstore bundle "
    "(its certificate with a Rekor entry, inclusion proof and SET, or an RFC 3161 "
    "timestamp) can be verified, and the log is not searched online"
)
GPG = (
    "an OpenPGP (GPG) signature: the trust policy holds no OpenPGP keys, so it is "
    "recorded unverified"
)
_RSA_SCHEMES = ("rsassa-pss-sha256", "rsa-pkcs1v15-sha256")


@dataclass(frozen=True, slots=True)
class _Key:
    policy: TrustedKey
    candidates: tuple[SSlibKey, ...]  # one per scheme to try
    crypto: Any  # the pyca public key, for prehashed (messageSignature) checks


@dataclass(frozen=True, slots=True)
class _Check:
    """What the cryptography alone says about one signature."""

    keys: tuple[str, ...] = ()  # policy keys it is valid under
    keyless: bool = False
    issuer: str | None = None  # keyless: the certificate's OIDC issuer
    subject: str | None = None  # keyless: the certificate's SAN
    problem: str | None = None


class Verifier:
    """The `AttestationVerifier` of this service. Built once at the entrypoint."""

    def __init__(self, policy: TrustPolicy | None) -> None:
        self.policy = policy
        self._keys = tuple(_load_key(k) for k in policy.keys) if policy else ()
        self._sigstore: SigstoreTrust | None = None
        if policy is not None:
            root = policy.sigstore_trusted_root
            self._sigstore = SigstoreTrust.from_file(root) if root else SigstoreTrust.public_good()

    @classmethod
    def from_policy(cls, path: str | Path | None) -> Verifier:
        """The policy at `path`; no path gives the null verifier (nothing verifies)."""
        if not path:
            logger.warning("PROVENANCE_TRUST_POLICY unset: no signature will verify")
            return cls(None)
        return cls(TrustPolicy.load(path))

    @classmethod
    def null(cls) -> Verifier:
        return cls(None)

    @property
    def policy_sha256(self) -> str | None:
        return self.policy.sha256 if self.policy else None

    def verify(self, attestation: Attestation, *, seen_at: datetime) -> list[Verdict]:
        policy = self.policy
        if policy is None:
            unverified = tuple(
                SignatureVerdict(i, False, keyid=s.keyid, reason=NO_POLICY)
                for i, s in enumerate(attestation.signatures)
            )
            return [
                Verdict(
                    s.digest, attestation.kind, False, None, NO_POLICY, None, seen_at, unverified
                )
                for s in attestation.subjects
            ]
        keyless = self._keyless(attestation) if attestation.certificates else None
        checks = [
            keyless or self._check(attestation, i) for i in range(len(attestation.signatures))
        ]
        builder = attestation.build.builder_id if attestation.build else None
        builder_trusted = policy.builder_trusted(builder) if builder else None
        if attestation.build is not None and builder is None:
            builder_trusted = False
        out = []
        for subject in attestation.subjects:
            sigs = tuple(
                self._judge(policy, attestation, i, check, repository=subject.name, seen_at=seen_at)
                for i, check in enumerate(checks)
            )
            good = next((s for s in sigs if s.verified), None)
            signed_ok = good is not None
            reason = None if signed_ok else _first_reason(sigs)
            if signed_ok and builder_trusted is False:
                reason = (
                    f"builder {builder} is not trusted by the policy"
                    if builder
                    else "the provenance names no builder"
                )
            key = good.key if good else next((s.key for s in sigs if s.key), None)
            out.append(
                Verdict(
                    digest=subject.digest,
                    kind=attestation.kind,
                    verified=signed_ok and builder_trusted is not False,
                    key=key,
                    reason=reason,
                    policy_sha256=policy.sha256,
                    evaluated_at=seen_at,
                    signatures=sigs,
                    signature_verified=signed_ok,
                    builder_trusted=builder_trusted,
                )
            )
        return out

    # --- one signature -------------------------------------------------------------

    def _check(self, att: Attestation, index: int) -> _Check:
        raw = att.signatures[index]
        if raw.scheme == "gpg":
            return _Check(problem=GPG)
        valid = tuple(k.policy.id for k in self._keys if _valid_under(k, raw.sig, att))
        if valid:
            return _Check(keys=valid)
        tried = ", ".join(k.policy.id for k in self._keys) or "none"
        return _Check(problem=f"no trusted key verifies the signature (tried: {tried})")

    def _keyless(self, att: Attestation) -> _Check:
        """One check for the whole bundle: sigstore verifies it as a unit."""
        if att.sigstore_bundle is None or self._sigstore is None:
            return _Check(keyless=True, problem=NO_TLOG)
        result = self._sigstore.verify(att.sigstore_bundle, digest=att.message_digest)
        return _Check(
            keyless=True, issuer=result.issuer, subject=result.subject, problem=result.problem
        )

    def _judge(
        self,
        policy: TrustPolicy,
        att: Attestation,
        index: int,
        check: _Check,
        *,
        repository: str | None,
        seen_at: datetime,
    ) -> SignatureVerdict:
        hint = att.signatures[index].keyid
        if check.keyless:
            name = check.subject
            if check.problem:
                return SignatureVerdict(index, False, name, hint, check.problem)
            if not any(i.matches(check.issuer, check.subject) for i in policy.identities):
                why = f"identity {check.subject} ({check.issuer}) is not trusted by the policy"
                return SignatureVerdict(index, False, name, hint, why)
            why_not = policy.signer_allowed(repository, issuer=check.issuer, subject=check.subject)
            return SignatureVerdict(index, why_not is None, name, hint, why_not)
        if not check.keys:
            return SignatureVerdict(index, False, None, hint, check.problem)
        reasons = []
        for key_id in check.keys:
            trusted = next(k.policy for k in self._keys if k.policy.id == key_id)
            why_not = trusted.usable_at(seen_at) or policy.signer_allowed(repository, key=key_id)
            if why_not is None:
                return SignatureVerdict(index, True, key_id, hint)
            reasons.append(why_not)
        return SignatureVerdict(index, False, check.keys[0], hint, "; ".join(reasons))


def _first_reason(sigs: tuple[SignatureVerdict, ...]) -> str:
    if not sigs:
        return "no signatures"
    return next((s.reason for s in sigs if s.reason), "no signature verifies")


# --- keys ------------------------------------------------------------------------------


def _load_key(key: TrustedKey) -> _Key:
    if isinstance(key.public_key, Mapping):
        data = key.public_key
        keyval = data.get("keyval")
        if not isinstance(keyval, Mapping) or not isinstance(keyval.get("public"), str):
            raise InvalidConfiguration(f"key {key.id}: keyval.public is required")
        sslib = SSlibKey(
            key.id, str(data["keytype"]), key.scheme or str(data["scheme"]), dict(keyval)
        )
        return _Key(key, (sslib,), None)
    try:
        public = load_pem_public_key(key.public_key.encode())
    except (ValueError, TypeError) as exc:
        raise InvalidConfiguration(f"key {key.id}: not a usable PEM public key: {exc}") from exc
    if isinstance(public, rsa.RSAPublicKey) and key.scheme is None:
        schemes: tuple[str | None, ...] = _RSA_SCHEMES
    else:
        schemes = (key.scheme,)
    try:
        candidates = tuple(SSlibKey.from_crypto(public, keyid=key.id, scheme=s) for s in schemes)
    except ValueError as exc:
        raise InvalidConfiguration(f"key {key.id}: {exc}") from exc
    return _Key(key, candidates, public)


def _valid_under(key: _Key, sig: bytes, att: Attestation) -> bool:
    if att.message_digest is not None:
        return key.crypto is not None and _prehashed_ok(key.crypto, sig, att.message_digest)
    for candidate in key.candidates:
        for data in att.signed:
            try:
                candidate.verify_signature(Signature(candidate.keyid, sig.hex()), data)
            except (UnverifiedSignatureError, VerificationError):
                continue
            return True
    return False


def _prehashed_ok(public: Any, sig: bytes, digest: bytes) -> bool:
    """A messageSignature signs the artifact, of which the bundle carries the sha256."""
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(sig, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(sig, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        else:
            return False  # ed25519 cannot verify a prehashed message
    except (InvalidSignature, ValueError):
        return False
    return True


__all__ = ["Verifier"]
