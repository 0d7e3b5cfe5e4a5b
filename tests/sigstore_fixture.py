"""A private Sigstore made by the test: Fulcio-like CAs, a CT log, a Rekor-like log.

Nothing is canned. `PrivateSigstore.make()` creates a root CA and an intermediate that
issues short-lived code-signing certificates with Fulcio's extensions (OIDC issuer
1.3.6.1.4.1.57264.1.1 and .1.8, the identity as SAN) and an embedded SCT from the
test's CT log; a Rekor-like log that keeps a real RFC 6962 Merkle tree, signs inclusion
promises (SETs) over each entry and checkpoints over the tree head; an RFC 3161 timestamp
authority (`timestamp`, built with asn1crypto); and writes all of it as a Sigstore
`TrustedRoot` JSON. `sign_dsse` / `sign_message` return Sigstore
bundles (v0.1, v0.2 or v0.3) exactly as Fulcio + Rekor would have produced them, so
sigstore-python's own `Verifier` accepts them; the tampering helpers then break one
piece at a time.

The formats follow the Sigstore protobuf-specs (bundle, TrustedRoot), RFC 6962 (SCTs,
Merkle tree hashes, inclusion proofs), Rekor's `dsse`/`hashedrekord` 0.0.1 entry bodies,
its SET payload (RFC 8785 JSON of body, integratedTime, logID, logIndex) and the
transparency-dev signed-note checkpoint format.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

IN_TOTO = "application/vnd.in-toto+json"
OIDC_ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/acme/payments-api/.github/workflows/release.yml@refs/tags/v1"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_V02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
BUNDLE_V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"

_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """RFC 6962 log id: sha256 of the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki(key)).digest()


def _der_octets(data: bytes) -> bytes:
    if len(data) < 0x80:
        return bytes([0x04, len(data)]) + data
    width = (len(data).bit_length() + 7) // 8
    return bytes([0x04, 0x80 | width]) + len(data).to_bytes(width, "big") + data


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 0x80
    return bytes([0x0C, len(raw)]) + raw


def _ecdsa(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


# --- the Merkle tree (RFC 6962) -------------------------------------------------------------


def leaf_hash(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def tree_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(tree_root(leaves[:k]), tree_root(leaves[k:]))


def inclusion_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 PATH(m, D[n]), leaf to root."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_path(index, leaves[:k]), tree_root(leaves[k:])]
    return [*inclusion_path(index - k, leaves[k:]), tree_root(leaves[:k])]


# --- the instance ---------------------------------------------------------------------------


@dataclass
class Signer:
    """A keyless signer's ephemeral key and the certificate Fulcio gave it."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(Encoding.PEM).decode()


@dataclass
class PrivateSigstore:
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate
    ct_key: ec.EllipticCurvePrivateKey
    rekor_key: ec.EllipticCurvePrivateKey
    tsa_key: ec.EllipticCurvePrivateKey | None = None
    tsa_chain: tuple[x509.Certificate, x509.Certificate] | None = None  # leaf, root
    origin: str = "rekor.test.invalid - 1234567890"
    leaves: list[bytes] = field(default_factory=list)  # Merkle leaf hashes, in log order

    @classmethod
    def make(
        cls,
        *,
        intermediate_is_ca: bool = True,
        intermediate_valid: tuple[datetime, datetime] | None = None,
    ) -> PrivateSigstore:
        now = datetime.now(UTC)
        root_key = ec.generate_private_key(ec.SECP384R1())
        root_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test.invalid"),
                x509.NameAttribute(NameOID.COMMON_NAME, "test-sigstore"),
            ]
        )
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=30))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA384())
        )
        inter_key = ec.generate_private_key(ec.SECP384R1())
        start, end = intermediate_valid or (now - timedelta(days=30), now + timedelta(days=365))
        inter = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test.invalid"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "test-sigstore-intermediate"),
                    ]
                )
            )
            .issuer_name(root_name)
            .public_key(inter_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(
                x509.BasicConstraints(
                    ca=intermediate_is_ca, path_length=0 if intermediate_is_ca else None
                ),
                critical=True,
            )
            .add_extension(_key_usage(cert_sign=intermediate_is_ca), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
            .sign(root_key, hashes.SHA384())
        )
        instance = cls(
            root_key,
            root,
            inter_key,
            inter,
            ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP256R1()),
        )
        instance.tsa_key, instance.tsa_chain = _timestamp_authority(now)
        # Entries of other signers before ours: a tree with real neighbours.
        for i in range(5):
            instance.leaves.append(leaf_hash(f"someone else's entry {i}".encode()))
        return instance

    # --- the TrustedRoot -----------------------------------------------------------------

    def trusted_root(
        self, *, ct_key: ec.EllipticCurvePublicKey | None = None, tsa: bool = True
    ) -> dict[str, Any]:
        start = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")

        def log(url: str, key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(spki(key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": b64(key_id(key))},
            }

        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log("https://rekor.test.invalid", self.rekor_key.public_key())],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "test.invalid", "commonName": "test-sigstore"},
                    "uri": "https://fulcio.test.invalid",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": b64(self.intermediate.public_bytes(Encoding.DER))},
                            {"rawBytes": b64(self.root.public_bytes(Encoding.DER))},
                        ]
                    },
                    "validFor": {"start": start},
                }
            ],
            "ctlogs": [log("https://ctfe.test.invalid", ct_key or self.ct_key.public_key())],
            "timestampAuthorities": [
                {
                    "subject": {"organization": "test.invalid", "commonName": "test-tsa"},
                    "uri": "https://tsa.test.invalid",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": b64(c.public_bytes(Encoding.DER))}
                            for c in self.tsa_chain or ()
                        ]
                    },
                    "validFor": {"start": start},
                }
            ]
            if tsa
            else [],
        }

    def write_trusted_root(self, path: Path, **kwargs: Any) -> Path:
        path.write_bytes(orjson.dumps(self.trusted_root(**kwargs), option=orjson.OPT_INDENT_2))
        return path

    # --- Fulcio ------------------------------------------------------------------------------

    def issue(
        self,
        *,
        subject: str = WORKFLOW,
        issuer: str = OIDC_ISSUER,
        code_signing: bool = True,
        sct: str = "good",  # good | none | bad-signature | other-log
        valid_from: datetime | None = None,
    ) -> Signer:
        """A 10-minute certificate for a fresh ephemeral key, as Fulcio issues it."""
        key = ec.generate_private_key(ec.SECP256R1())
        start = valid_from or datetime.now(UTC) - timedelta(minutes=1)
        san: x509.GeneralName = (
            x509.RFC822Name(subject)
            if "@" in subject and "://" not in subject
            else x509.UniformResourceIdentifier(subject)
        )
        usage = (
            [ExtendedKeyUsageOID.CODE_SIGNING]
            if code_signing
            else [ExtendedKeyUsageOID.CLIENT_AUTH]
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(minutes=10))
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.intermediate_key.public_key()
                ),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.UnrecognizedExtension(_ISSUER_V1, issuer.encode()), critical=False)
            .add_extension(
                x509.UnrecognizedExtension(_ISSUER_V2, _der_utf8(issuer)), critical=False
            )
        )
        if sct == "none":
            return Signer(key, builder.sign(self.intermediate_key, hashes.SHA256()))
        # The SCT signs the precertificate: this TBS without the SCT list extension.
        precert = builder.sign(self.intermediate_key, hashes.SHA256())
        ct_key = self.ct_key if sct != "other-log" else ec.generate_private_key(ec.SECP256R1())
        when = int(datetime.now(UTC).timestamp() * 1000)
        issuer_key_hash = key_id(self.intermediate_key.public_key())  # type: ignore[arg-type]
        tbs = precert.tbs_certificate_bytes
        signed = (
            struct.pack("!BBQH", 0, 0, when, 1)  # v1, certificate_timestamp, time, precert_entry
            + issuer_key_hash
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack("!H", 0)  # no extensions
        )
        signature = _ecdsa(ct_key, signed)
        if sct == "bad-signature":
            signature = _ecdsa(ct_key, signed + b"tampered")
        serialized = (
            struct.pack("!B", 0)
            + key_id(self.ct_key.public_key())
            + struct.pack("!Q", when)
            + struct.pack("!H", 0)
            + struct.pack("!BB", 4, 3)  # sha256, ecdsa
            + struct.pack("!H", len(signature))
            + signature
        )
        sct_list = struct.pack("!H", len(serialized) + 2) + struct.pack("!H", len(serialized))
        sct_list += serialized
        cert = builder.add_extension(
            x509.UnrecognizedExtension(_SCT_LIST, _der_octets(sct_list)), critical=False
        ).sign(self.intermediate_key, hashes.SHA256())
        assert cert.tbs_precertificate_bytes == tbs  # the SCT covers exactly this
        return Signer(key, cert)

    # --- Rekor -------------------------------------------------------------------------------

    def log_entry(
        self, body: bytes, kind: str, *, integrated: datetime | None = None
    ) -> dict[str, Any]:
        """Append `body` to the log; the bundle's `tlogEntries[0]` for it."""
        self.leaves.append(leaf_hash(body))
        index = len(self.leaves) - 1
        size = len(self.leaves)
        root = tree_root(self.leaves)
        when = int((integrated or datetime.now(UTC)).timestamp())
        log_id = key_id(self.rekor_key.public_key())
        set_payload = rfc8785.dumps(
            {"body": b64(body), "integratedTime": when, "logID": log_id.hex(), "logIndex": index}
        )
        return {
            "logIndex": str(index),
            "logId": {"keyId": b64(log_id)},
            "kindVersion": {"kind": kind, "version": "0.0.1"},
            "integratedTime": str(when),
            "inclusionPromise": {"signedEntryTimestamp": b64(_ecdsa(self.rekor_key, set_payload))},
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": b64(root),
                "treeSize": str(size),
                "hashes": [b64(h) for h in inclusion_path(index, self.leaves)],
                "checkpoint": {"envelope": self.checkpoint(size, root)},
            },
            "canonicalizedBody": b64(body),
        }

    def checkpoint(self, size: int, root: bytes) -> str:
        note = f"{self.origin}\n{size}\n{b64(root)}\n"
        hint = key_id(self.rekor_key.public_key())[:4]
        signature = b64(hint + _ecdsa(self.rekor_key, note.encode()))
        return f"{note}\n\u2014 rekor.test.invalid {signature}\n"

    # --- the timestamp authority (RFC 3161) ---------------------------------------------------

    def timestamp(self, signature: bytes, *, when: datetime | None = None) -> bytes:
        """A DER TimeStampResp over sha256(`signature`), as a TSA answers it."""
        from asn1crypto import cms, tsp
        from asn1crypto import x509 as ax509

        assert self.tsa_key is not None and self.tsa_chain is not None
        leaf = self.tsa_chain[0]
        leaf_der = leaf.public_bytes(Encoding.DER)
        info = tsp.TSTInfo(
            {
                "version": "v1",
                "policy": "1.3.6.1.4.1.57264.2",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": hashlib.sha256(signature).digest(),
                },
                "serial_number": x509.random_serial_number(),
                "gen_time": when or datetime.now(UTC),
                "nonce": 1234,
            }
        )
        content = info.dump()
        attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "message_digest", "values": [hashlib.sha256(content).digest()]},
                {
                    "type": "signing_certificate_v2",
                    "values": [{"certs": [{"cert_hash": hashlib.sha256(leaf_der).digest()}]}],
                },
            ]
        )
        cert = ax509.Certificate.load(leaf_der)
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": cert.issuer,
                            "serial_number": cert.serial_number,
                        }
                    }
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": attrs,
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature": _ecdsa(self.tsa_key, attrs.dump()),
            }
        )
        signed = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [{"algorithm": "sha256"}],
                "encap_content_info": {"content_type": "tst_info", "content": info},
                "certificates": [cert],
                "signer_infos": [signer],
            }
        )
        response = tsp.TimeStampResp(
            {
                "status": {"status": "granted"},
                "time_stamp_token": {"content_type": "signed_data", "content": signed},
            }
        )
        out: bytes = response.dump()
        return out

    # --- bundles -----------------------------------------------------------------------------

    def sign_dsse(
        self,
        statement: dict[str, Any],
        signer: Signer | None = None,
        *,
        media_type: str = BUNDLE_V03,
        integrated: datetime | None = None,
    ) -> dict[str, Any]:
        """A bundle around a DSSE envelope of `statement`, logged as a `dsse` 0.0.1 entry."""
        signer = signer or self.issue()
        payload = orjson.dumps(statement)
        pae = b"DSSEv1 %d %s %d %s" % (len(IN_TOTO), IN_TOTO.encode(), len(payload), payload)
        sig = _ecdsa(signer.key, pae)
        envelope = {
            "payload": b64(payload),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": b64(sig), "keyid": ""}],
        }
        body = orjson.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(orjson.dumps(envelope)).hexdigest(),
                    },
                    "payloadHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(payload).hexdigest(),
                    },
                    "signatures": [{"signature": b64(sig), "verifier": b64(signer.pem.encode())}],
                },
            }
        )
        entry = self.log_entry(body, "dsse", integrated=integrated)
        return {
            "mediaType": media_type,
            "verificationMaterial": self._material(signer, entry, media_type),
            "dsseEnvelope": envelope,
        }

    def sign_message(
        self,
        artifact: bytes,
        signer: Signer | None = None,
        *,
        media_type: str = BUNDLE_V03,
    ) -> dict[str, Any]:
        """A bundle over `artifact`'s sha256, logged as a `hashedrekord` 0.0.1 entry."""
        signer = signer or self.issue()
        digest = hashlib.sha256(artifact).digest()
        sig = signer.key.sign(artifact, ec.ECDSA(hashes.SHA256()))
        body = orjson.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "hashedrekord",
                "spec": {
                    "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                    "signature": {
                        "content": b64(sig),
                        "publicKey": {"content": b64(signer.pem.encode())},
                    },
                },
            }
        )
        entry = self.log_entry(body, "hashedrekord")
        return {
            "mediaType": media_type,
            "verificationMaterial": self._material(signer, entry, media_type),
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
                "signature": b64(sig),
            },
        }

    def _material(self, signer: Signer, entry: dict[str, Any], media_type: str) -> dict[str, Any]:
        if media_type == BUNDLE_V03:
            return {"certificate": {"rawBytes": b64(signer.der)}, "tlogEntries": [entry]}
        return {
            "x509CertificateChain": {"certificates": [{"rawBytes": b64(signer.der)}]},
            "tlogEntries": [entry],
        }


def _timestamp_authority(
    now: datetime,
) -> tuple[ec.EllipticCurvePrivateKey, tuple[x509.Certificate, x509.Certificate]]:
    """A TSA root and the timestamping certificate it issued (EKU timeStamping, critical)."""
    root_key, key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-tsa-root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA384())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-tsa")]))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return key, (leaf, root)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# --- tampering ------------------------------------------------------------------------------


def entry_of(bundle: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = bundle["verificationMaterial"]["tlogEntries"][0]
    return entry


def tampered(bundle: dict[str, Any], change: Any) -> dict[str, Any]:
    """A deep copy of `bundle` with `change(copy)` applied."""
    out = copy.deepcopy(bundle)
    change(out)
    return out


def flip(value: str, at: int = 0) -> str:
    """The base64 `value` with its byte `at` changed."""
    raw = bytearray(base64.b64decode(value))
    raw[at] ^= 0x01
    return b64(bytes(raw))


__all__ = [
    "BUNDLE_V01",
    "BUNDLE_V02",
    "BUNDLE_V03",
    "OIDC_ISSUER",
    "WORKFLOW",
    "PrivateSigstore",
    "Signer",
    "entry_of",
    "flip",
    "tampered",
]
