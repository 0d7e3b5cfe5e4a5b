"""Builders for real keys and really signed envelopes (securesystemslib, in-toto).

Nothing here is canned: every test makes fresh keys and signs what it sends, so a
signature can always be re-made, and changing one byte must break it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import yaml
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from in_toto import runlib
from securesystemslib import dsse
from securesystemslib.signer import CryptoSigner

IN_TOTO = "application/vnd.in-toto+json"
SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
BUILDER = "https://ci.acme.io/runners/release"
OIDC_ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/acme/payments-api/.github/workflows/release.yml@refs/tags/v1"


@dataclass
class Key:
    """A fresh key pair: the securesystemslib signer and the public key as PEM."""

    signer: CryptoSigner
    pem: str

    @classmethod
    def make(cls, kind: str = "ecdsa", scheme: str | None = None) -> Key:
        if kind == "ed25519":
            signer = CryptoSigner.generate_ed25519()
        elif kind == "rsa":
            signer = CryptoSigner.generate_rsa(scheme=scheme or "rsassa-pss-sha256", size=2048)
        else:
            signer = CryptoSigner.generate_ecdsa()
        public = signer.public_key._crypto_key()
        pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        return cls(signer, pem)

    def sign(self, data: bytes) -> bytes:
        return bytes.fromhex(self.signer.sign(data).signature)


def policy(
    keys: dict[str, Key | str],
    *,
    builders: Sequence[str] = (BUILDER,),
    **extra: Any,
) -> bytes:
    """A trust policy (YAML) trusting `keys` (id -> key or PEM) and `builders`."""
    doc: dict[str, Any] = {
        "version": 1,
        "keys": [
            {"id": key_id, "public_key": k.pem if isinstance(k, Key) else k}
            | extra.pop(f"key_{key_id}", {})
            for key_id, k in keys.items()
        ],
        "builders": list(builders),
    }
    doc.update(extra)
    return yaml.safe_dump(doc).encode()


def write_policy(path: Path, keys: dict[str, Key | str], **kwargs: Any) -> Path:
    path.write_bytes(policy(keys, **kwargs))
    return path


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def statement_v1(
    digest: str,
    *,
    name: str = "registry.acme.io/acme/payments-api",
    builder: str = BUILDER,
    commit: str = "1f3c0b99ee32fa789a58807755933c2f994a2acd",
    invocation: str = "https://ci.acme.io/runs/42",
    bases: Iterable[str] = (),
    predicate_type: str = SLSA_V1,
) -> dict[str, Any]:
    deps: list[dict[str, Any]] = [
        {
            "uri": "git+https://github.com/acme/payments-api@refs/tags/v1.4.2",
            "digest": {"gitCommit": commit},
        }
    ]
    deps += [
        {
            "uri": f"oci://registry.acme.io/base/distroless@{b}",
            "digest": {"sha256": b.removeprefix("sha256:")},
        }
        for b in bases
    ]
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": digest.removeprefix("sha256:")}}],
        "predicateType": predicate_type,
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {"ref": "refs/tags/v1.4.2"}},
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": builder},
                "metadata": {
                    "invocationId": invocation,
                    "startedOn": "2026-03-09T14:03:05Z",
                    "finishedOn": "2026-03-09T14:07:52Z",
                },
            },
        },
    }


def statement_v02(digest: str, *, builder: str = BUILDER) -> dict[str, Any]:
    commit = "1f3c0b99ee32fa789a58807755933c2f994a2acd"
    source = {"uri": "git+https://github.com/acme/payments-api@refs/tags/v1.4.2"}
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": SLSA_V02,
        "subject": [
            {"name": "registry.acme.io/acme/payments-api", "digest": {"sha256": digest[7:]}}
        ],
        "predicate": {
            "builder": {"id": builder},
            "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
            "invocation": {"configSource": source | {"digest": {"sha1": commit}}},
            "metadata": {
                "buildInvocationId": "13877012345-1",
                "buildStartedOn": "2026-03-09T14:03:05Z",
                "buildFinishedOn": "2026-03-09T14:07:52Z",
            },
            "materials": [source | {"digest": {"sha1": commit}}],
        },
    }


def sbom_statement(digest: str) -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": "registry.acme.io/acme/payments-api", "digest": {"sha256": digest[7:]}}
        ],
        "predicateType": "https://spdx.dev/Document/v2.3",
        "predicate": {"spdxVersion": "SPDX-2.3", "packages": [{"name": "a"}, {"name": "b"}]},
    }


def dsse_envelope(
    statement: dict[str, Any], *keys: Key, payload_type: str = IN_TOTO
) -> dict[str, Any]:
    """A DSSE envelope signed by `keys` with securesystemslib's own DSSE code."""
    env = dsse.Envelope(orjson.dumps(statement), payload_type, {})
    for key in keys:
        env.sign(key.signer)
    out: dict[str, Any] = env.to_dict()
    return out


def tamper_payload(envelope: dict[str, Any], change: Any) -> dict[str, Any]:
    """The same envelope and signatures over a changed (but well-formed) statement."""
    statement = orjson.loads(base64.b64decode(envelope["payload"]))
    change(statement)
    forged = copy.deepcopy(envelope)
    forged["payload"] = base64.b64encode(orjson.dumps(statement)).decode()
    return forged


def simple_signing(
    digest: str, key: Key, *, repository: str = "registry.acme.io/acme/api"
) -> dict[str, Any]:
    payload = orjson.dumps(
        {
            "critical": {
                "identity": {"docker-reference": repository},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": {"sha": "1f3c0b9"},
        }
    )
    return {
        "payload": base64.b64encode(payload).decode(),
        "signature": base64.b64encode(key.sign(payload)).decode(),
    }


def bundle(
    statement: dict[str, Any], key: Key, *, integrated: datetime | None = None
) -> dict[str, Any]:
    """A Sigstore bundle v0.3 around a DSSE envelope signed with a key (a key hint).
    Keyless bundles come from `tests.sigstore_fixture.PrivateSigstore`."""
    env = dsse_envelope(statement, key)
    material: dict[str, Any] = {"publicKey": {"hint": "some-key-hint"}}
    if integrated is not None:
        material["tlogEntries"] = [
            {
                "logIndex": "1",
                "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                "integratedTime": str(int(integrated.timestamp())),
            }
        ]
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": material,
        "dsseEnvelope": {
            "payloadType": env["payloadType"],
            "payload": env["payload"],
            "signatures": [{"sig": s["sig"]} for s in env["signatures"]],
        },
    }


def in_toto_link(
    tmp: Path, key: Key, *, name: str = "build", product: bytes = b"image tarball"
) -> dict[str, Any]:
    """A link exactly as `in-toto-run` writes it: run a step, record its product, sign."""
    (tmp / "Dockerfile").write_text("FROM scratch\n")
    (tmp / "image.tar").write_bytes(product)
    with warnings.catch_warnings():
        # in-toto 3.1 calls a pathspec API that pathspec has deprecated: not ours to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        block = runlib.in_toto_run(
            name,
            ["Dockerfile"],
            ["image.tar"],
            ["true"],
            base_path=str(tmp),
            metadata_directory=str(tmp),  # it writes <step>.<keyid>.link, as in-toto-run does
            signer=key.signer,
        )
    (written,) = tmp.glob(f"{name}.*.link")
    out: dict[str, Any] = orjson.loads(written.read_bytes())  # the file, byte for byte
    assert out == block.to_dict()
    return out


def body(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)
