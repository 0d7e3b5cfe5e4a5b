"""The service's own signing key: DSSE envelopes for exports and checkpoints.

Where the key comes from (`ServiceSigner.for_service`):

* `PROVENANCE_SIGNING_KEY` names a PEM private key file (PKCS#8 or traditional,
  unencrypted; ed25519, ECDSA P-256 or RSA), or holds the PEM itself;
* unset, with a SQLite database file: an ECDSA P-256 key is generated once, next to the
  database (`<db name>-signing-key.pem`, mode 0600), and its path is logged, so
  `provenance serve` and the CLI on the same database sign with the same key;
* unset otherwise (PostgreSQL, in-memory SQLite): nothing is generated, because replicas
  would each invent their own key; signing answers 503 until the key is configured.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from securesystemslib import dsse
from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
from securesystemslib.signer import CryptoSigner, Signature, SSlibKey  # type: ignore[attr-defined]  # re-exported without __all__

from provenance.model.errors import InvalidConfiguration, InvalidPayload, Unavailable

logger = logging.getLogger(__name__)


class ServiceSigner:
    """Signs DSSE envelopes with the service key; `keyid` is securesystemslib's default
    key id of the public key, so `Envelope.verify` finds it from the PEM alone."""

    def __init__(self, private_key: Any, *, origin: str = "memory") -> None:
        if not isinstance(
            private_key,
            ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey,
        ):
            raise InvalidConfiguration("the signing key must be ed25519, ECDSA or RSA")
        try:
            self._signer = CryptoSigner(private_key)
        except ValueError as exc:
            raise InvalidConfiguration(f"unusable signing key: {exc}") from exc
        self._public = private_key.public_key()
        self.origin = origin

    @classmethod
    def generate(cls) -> ServiceSigner:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes, *, origin: str = "memory") -> ServiceSigner:
        try:
            key = load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise InvalidConfiguration(
                f"signing key {origin} is not an unencrypted PEM private key: {exc}"
            ) from exc
        return cls(key, origin=origin)

    @classmethod
    def load(cls, path: str | Path) -> ServiceSigner:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidConfiguration(f"signing key {path}: {exc.strerror or exc}") from exc
        return cls.from_pem(pem, origin=str(path))

    @classmethod
    def for_service(cls, signing_key: str | None, database_url: str) -> ServiceSigner:
        """The key named by the settings, or the one kept next to a SQLite database."""
        if signing_key:
            if signing_key.lstrip().startswith("-----BEGIN"):
                return cls.from_pem(signing_key.encode(), origin="PROVENANCE_SIGNING_KEY")
            return cls.load(signing_key)
        path = default_key_path(database_url)
        if path is None:
            raise Unavailable(
                "no signing key: set PROVENANCE_SIGNING_KEY to a PEM private key file "
                "(e.g. `openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 "
                "-topk8 -nocrypt > signing-key.pem`)"
            )
        return cls.load_or_create(path)

    @classmethod
    def load_or_create(cls, path: Path) -> ServiceSigner:
        if path.exists():
            return cls.load(path)
        signer = cls.generate()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.load(path)  # another process made it first: use theirs
        except OSError as exc:
            raise Unavailable(f"cannot create the signing key {path}: {exc}") from exc
        with os.fdopen(fd, "wb") as out:
            out.write(signer._signer.private_bytes)
        logger.warning(
            "generated a signing key for exports and checkpoints (set PROVENANCE_SIGNING_KEY "
            "to use your own)",
            extra={"path": str(path)},
        )
        signer.origin = str(path)
        return signer

    @property
    def keyid(self) -> str:
        return str(self._signer.public_key.keyid)

    @property
    def public_pem(self) -> str:
        pem: bytes = self._public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        return pem.decode()

    def envelope(self, payload_type: str, payload: bytes) -> dict[str, Any]:
        """A DSSE envelope (JSON form) over `payload`, signed over its PAE."""
        envelope = dsse.Envelope(payload, payload_type, {})
        envelope.sign(self._signer)
        return dict(envelope.to_dict())


def open_envelope(envelope: Mapping[str, Any], public_pem: str | bytes) -> bytes:
    """The payload of a DSSE envelope, once a signature verifies under `public_pem`."""
    pem = public_pem.encode() if isinstance(public_pem, str) else public_pem
    try:
        key = SSlibKey.from_crypto(load_pem_public_key(pem))
    except (ValueError, TypeError) as exc:
        raise InvalidPayload(f"not a usable PEM public key: {exc}") from exc
    try:
        payload_type = str(envelope["payloadType"])
        payload = base64.b64decode(str(envelope["payload"]), validate=True)
        sigs = [base64.b64decode(str(s["sig"]), validate=True) for s in envelope["signatures"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidPayload(f"not a DSSE envelope: {exc}") from exc
    pae = dsse.Envelope(payload, payload_type, {}).pae()
    for sig in sigs:
        try:
            key.verify_signature(Signature(key.keyid, sig.hex()), pae)
        except (UnverifiedSignatureError, VerificationError):
            continue
        return payload
    raise InvalidPayload("no signature on the envelope verifies with the given key")


def default_key_path(database_url: str) -> Path | None:
    """`sqlite:///./data/provenance.db` -> `./data/provenance-signing-key.pem`."""
    scheme, sep, rest = database_url.partition(":///")
    if not sep or not scheme.startswith("sqlite"):
        return None
    file = rest.split("?", 1)[0]
    if not file or file == ":memory:" or file.startswith("file::memory:"):
        return None
    db = Path(file)
    return db.with_name(f"{db.stem}-signing-key.pem")


__all__ = ["ServiceSigner", "default_key_path", "open_envelope"]
