"""Keyless (Sigstore) verification, done by sigstore-python itself.

    SigstoreTrust.public_good() / .from_file(path)   a trust root (Fulcio CAs, CT logs,
                                                      Rekor keys, timestamp authorities)
    SigstoreTrust.verify(bundle_json, digest=None)   -> KeylessCheck
    identity(cert)                                    (OIDC issuer, subject) of a certificate

sigstore's `Verifier` establishes a verified time (a Rekor inclusion promise or an
RFC 3161 timestamp from a listed authority), judges the Fulcio chain at that time,
checks the SCT, the code-signing usage, the inclusion proof against a signed
checkpoint, the SET, the signature and that the log entry is this signature's. Its
error message is the verdict's reason. Which identities are trusted is the trust
policy's business, judged on the verified certificate afterwards.

The public-good root is the TUF-bootstrapped `trusted_root.json` sigstore-python ships in
its package data, read from there: verification never touches the network.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier
from sigstore.errors import Error as SigstoreError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier as SigstoreVerifier
from sigstore_models.common.v1 import HashAlgorithm

from provenance.model.errors import InvalidConfiguration

logger = logging.getLogger(__name__)

PUBLIC_GOOD_TUF = "https://tuf-repo-cdn.sigstore.dev"
_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")  # DER UTF8String
_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")  # raw bytes (deprecated)
_USERNAME = ObjectIdentifier("1.3.6.1.4.1.57264.1.7")  # otherName SAN


@dataclass(frozen=True, slots=True)
class KeylessCheck:
    """What sigstore concluded about one bundle. `problem` None: it verified."""

    issuer: str | None
    subject: str | None
    problem: str | None


class _Accept:
    """A sigstore `VerificationPolicy` that lets every identity through: the trust
    policy's identity rules (regex subjects, per-repository signers) are applied by the
    caller to the certificate sigstore verified."""

    def verify(self, cert: x509.Certificate) -> None:
        return None


class SigstoreTrust:
    """One trust root and the sigstore `Verifier` built on it (built once, reused)."""

    def __init__(self, root: TrustedRoot, name: str) -> None:
        self.name = name
        try:
            self._verifier = SigstoreVerifier(trusted_root=root)
        except SigstoreError as exc:
            raise InvalidConfiguration(f"Sigstore trust root {name}: {exc}") from exc

    @classmethod
    def public_good(cls) -> SigstoreTrust:
        """The public-good instance's root, from sigstore-python's package data."""
        ref = resources.files("sigstore._store").joinpath(
            quote(PUBLIC_GOOD_TUF, safe=""), "trusted_root.json"
        )
        try:
            with resources.as_file(ref) as path:
                root = TrustedRoot.from_file(str(path))
        except (OSError, ValueError, SigstoreError) as exc:
            raise InvalidConfiguration(
                f"the Sigstore public-good trust root shipped with sigstore-python is "
                f"unreadable: {exc}"
            ) from exc
        return cls(root, "public-good")

    @classmethod
    def from_file(cls, path: Path) -> SigstoreTrust:
        try:
            root = TrustedRoot.from_file(str(path))
        except OSError as exc:
            raise InvalidConfiguration(
                f"sigstore.trusted_root {path}: {exc.strerror or exc}"
            ) from exc
        except (ValueError, SigstoreError) as exc:
            raise InvalidConfiguration(
                f"sigstore.trusted_root {path} is not a Sigstore TrustedRoot: {exc}"
            ) from exc
        return cls(root, str(path))

    def verify(self, bundle_json: bytes, *, digest: bytes | None = None) -> KeylessCheck:
        """Verify a bundle: its DSSE envelope, or (`digest`) its message signature over
        an artifact whose sha256 is `digest`."""
        try:
            bundle = Bundle.from_json(bundle_json)
        except SigstoreError as exc:
            return KeylessCheck(None, None, f"the Sigstore bundle is invalid: {_line(exc)}")
        except Exception as exc:  # the bundle is the sender's: nothing in it may crash us
            logger.warning("sigstore could not read a bundle", exc_info=True)
            return KeylessCheck(None, None, f"the Sigstore bundle is invalid: {_line(exc)}")
        issuer, subject = identity(bundle.signing_certificate)
        try:
            if digest is None:
                self._verifier.verify_dsse(bundle, _Accept())
            else:
                hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)
                self._verifier.verify_artifact(hashed, bundle, _Accept())
        except SigstoreError as exc:
            return KeylessCheck(issuer, subject, f"Sigstore verification failed: {_line(exc)}")
        except Exception as exc:  # e.g. a certificate missing an extension sigstore reads
            logger.warning("sigstore failed on a bundle", exc_info=True)
            problem = f"Sigstore verification failed: {type(exc).__name__}: {_line(exc)}"
            return KeylessCheck(issuer, subject, problem)
        if issuer is None or subject is None:
            return KeylessCheck(
                issuer, subject, "the signing certificate names no OIDC issuer and subject"
            )
        return KeylessCheck(issuer, subject, None)


def _line(exc: BaseException) -> str:
    """sigstore's message on one line (pydantic's span several)."""
    return " ".join(str(exc).split())


def identity(cert: x509.Certificate) -> tuple[str | None, str | None]:
    """(OIDC issuer, subject) of a Fulcio certificate: the issuer extension (.1.8, else
    the deprecated .1.1) and the first SAN (URI, email or Sigstore username)."""
    subject = None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names: list[str] = [
            *san.get_values_for_type(x509.UniformResourceIdentifier),
            *san.get_values_for_type(x509.RFC822Name),
            *(
                _der_utf8(o.value) or o.value.decode("utf-8", "replace")
                for o in san.get_values_for_type(x509.OtherName)
                if o.type_id == _USERNAME
            ),
        ]
        subject = names[0] if names else None
    except x509.ExtensionNotFound:
        pass
    issuer = None
    for oid, der in ((_ISSUER_V2, True), (_ISSUER_V1, False)):
        try:
            raw = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        value = getattr(raw, "value", b"")
        issuer = _der_utf8(value) if der else value.decode("utf-8", "replace")
        break
    return issuer, subject


def _der_utf8(value: bytes) -> str | None:
    if len(value) < 2 or value[0] != 0x0C:
        return None
    length, start = value[1], 2
    if length & 0x80:
        width = length & 0x7F
        length = int.from_bytes(value[2 : 2 + width], "big")
        start = 2 + width
    return value[start : start + length].decode("utf-8", "replace")


__all__ = ["KeylessCheck", "SigstoreTrust", "identity"]
