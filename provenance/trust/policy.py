"""The trust policy and what is judged under it: plain values, no cryptography.

    TrustPolicy.load(path) / TrustPolicy.parse(raw)   `PROVENANCE_TRUST_POLICY` (YAML or JSON)
    Attestation                                        a parsed signature or attestation
    Verdict, SignatureVerdict                          what verifying one concluded
    AttestationVerifier                                the Protocol sources are handed

Parsing and the cryptography live in `provenance.trust.attestations` (the one module that
imports in-toto / securesystemslib); this module only says *what* is trusted, so the
policy can be read, hashed and shown without touching a key.

The policy (version 1)::

    version: 1
    keys:                      # public keys whose signatures are trusted
      - id: ci-release         # the name verdicts and blast radius (`key`) use
        public_key: |          # PEM (ed25519, ECDSA P-256, RSA) or a securesystemslib key
          -----BEGIN PUBLIC KEY-----
        scheme: rsa-pkcs1v15-sha256   # optional; RSA tries PSS and PKCS#1 v1.5 otherwise
        not_before: 2026-01-01T00:00:00Z   # optional: signatures first seen outside
        not_after: 2026-12-31T00:00:00Z    #   [not_before, not_after) do not verify
        revoked: false         # optional: nothing this key signed is trusted any more
    builders:                  # SLSA builder ids whose provenance is trusted (`*` globs)
      - https://ci.acme.io/runners/release
    identities:                # keyless (Sigstore) signers: OIDC issuer + subject regex
      - issuer: https://token.actions.githubusercontent.com
        subject: ^https://github\\.com/acme/.*$
    sigstore:                  # optional: a private Sigstore deployment's TrustedRoot JSON
      trusted_root: /etc/provenance/trusted_root.json   # (relative: to the policy file)
    repositories:              # optional: the signers expected per repository pattern
      - pattern: registry.acme.io/acme/*
        keys: [ci-release]
        identities: [{issuer: ..., subject: ...}]
    admission:                 # optional: how POST /v1/admission judges images
      mode: enforce            # or warn: always allowed, the reasons as warnings
      require: [signed, attested]   # any of signed, attested, known_build
      max_severity: high       # refuse a digest whose latest scan has worse findings
      registries: [registry.acme.io/, ghcr.io/acme/]   # prefixes; other images refused
      unknown_image: deny      # an image the graph has never seen: deny or allow

`admission` defaults (`AdmissionPolicy`): each field left out takes the value shown above,
except `max_severity` (no ceiling) and `registries` (any registry). A policy without an
`admission` section (or no policy at all) judges in `warn` mode: the webhook reports what
it would refuse but never blocks until a policy asks it to.

Without `sigstore.trusted_root`, keyless signatures are judged against the Sigstore
public-good trust root that sigstore-python carries (read offline, never fetched).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from provenance.model import scan_shape
from provenance.model.errors import InvalidConfiguration, InvalidPayload
from provenance.model.kinds import NodeKind
from provenance.model.timeutil import format_time, parse_time

Kind = Literal[NodeKind.SIGNATURE, NodeKind.ATTESTATION]  # the node a verified envelope makes
NO_POLICY = "no trust policy"
# Scanner severities, least to worst (`unknown` below `low`, as Trivy ranks them); `none`
# as a ceiling: no finding at all.
SEVERITIES = tuple(reversed(scan_shape.SEVERITIES))
REQUIREMENTS = ("signed", "attested", "known_build")


# --- the policy ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrustedKey:
    id: str
    public_key: str | Mapping[str, Any]  # PEM text, or a securesystemslib key dict
    scheme: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    revoked: bool = False

    def usable_at(self, when: datetime) -> str | None:
        """None when the key may vouch for a signature first seen at `when`, else why not."""
        if self.revoked:
            return f"key {self.id} is revoked by the trust policy"
        if self.not_before is not None and when < self.not_before:
            return f"key {self.id} is valid only from {format_time(self.not_before)}"
        if self.not_after is not None and when >= self.not_after:
            return (
                f"key {self.id} expired at {format_time(self.not_after)}, before the "
                f"signature was first seen at {format_time(when)}"
            )
        return None


@dataclass(frozen=True, slots=True)
class Identity:
    """A keyless signer: the certificate's OIDC issuer and a regex over its subject (SAN)."""

    issuer: str
    subject: str

    def matches(self, issuer: str | None, subject: str | None) -> bool:
        return (
            issuer == self.issuer
            and subject is not None
            and re.search(self.subject, subject) is not None
        )

    @property
    def name(self) -> str:
        return f"{self.issuer} {self.subject}"


@dataclass(frozen=True, slots=True)
class RepositoryRule:
    """The signers expected for repositories matching `pattern` (an fnmatch glob)."""

    pattern: str
    keys: frozenset[str]
    identities: tuple[Identity, ...]

    def allows(self, key: str | None, issuer: str | None, subject: str | None) -> bool:
        if key is not None:
            return key in self.keys
        return any(i.matches(issuer, subject) for i in self.identities)


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """The `admission` section: what `POST /v1/admission` requires of each image.

    `registries` are name prefixes of `registry/repository` (each ends with `/`, so
    `ghcr.io/acme/` never admits `ghcr.io/acme-evil/`); empty: any registry. `max_severity`
    None: no ceiling; `none`: any finding refuses. The default is what a policy without
    the section gets: warn mode, so installing the webhook never blocks by surprise."""

    mode: Literal["enforce", "warn"] = "warn"
    require: frozenset[str] = frozenset({"signed", "attested"})
    max_severity: str | None = None
    registries: tuple[str, ...] = ()
    unknown_image: Literal["deny", "allow"] = "deny"

    def registry_allowed(self, name: str) -> bool:
        """Whether `name` (`registry/repository`, Docker-normalized) is under a prefix."""
        return not self.registries or any(f"{name}/".startswith(p) for p in self.registries)

    def too_severe(self, worst: str | None) -> bool:
        """Whether a digest whose latest scan's worst finding is `worst` is refused."""
        if self.max_severity is None or worst is None:
            return False
        rank = SEVERITIES.index(worst) if worst in SEVERITIES else len(SEVERITIES) - 1
        ceiling = -1 if self.max_severity == "none" else SEVERITIES.index(self.max_severity)
        return rank > ceiling


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    version: int
    keys: tuple[TrustedKey, ...]
    builders: tuple[str, ...]
    identities: tuple[Identity, ...]
    repositories: tuple[RepositoryRule, ...]
    sha256: str  # of the file's exact bytes: every verdict names it
    # A private Sigstore's TrustedRoot JSON; None: the public-good root.
    sigstore_trusted_root: Path | None = None
    admission: AdmissionPolicy = field(default_factory=AdmissionPolicy)

    @classmethod
    def load(cls, path: str | Path) -> TrustPolicy:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidConfiguration(f"trust policy {path}: {exc.strerror or exc}") from exc
        try:
            return cls.parse(raw, base=Path(path).parent)
        except InvalidConfiguration as exc:
            raise InvalidConfiguration(f"trust policy {path}: {exc.detail}") from exc

    @classmethod
    def parse(cls, raw: bytes, *, base: Path | None = None) -> TrustPolicy:
        """`base`: the directory a relative `sigstore.trusted_root` is read from."""
        try:
            doc = yaml.safe_load(raw)  # JSON is YAML too
        except yaml.YAMLError as exc:
            raise InvalidConfiguration(f"not YAML or JSON: {exc}") from exc
        if not isinstance(doc, Mapping):
            raise InvalidConfiguration("must be a mapping with version, keys, builders")
        version = doc.get("version", 1)
        if version != 1:
            raise InvalidConfiguration(f"version {version!r} is not supported (1 is)")
        unknown = set(doc) - {
            "version",
            "keys",
            "builders",
            "identities",
            "sigstore",
            "repositories",
            "admission",
        }
        if "certificate_authorities" in unknown:
            # The old keyless list: CA certificates alone cannot judge a Sigstore signature
            # (no CT log, no Rekor key), so it is refused rather than half-honoured.
            raise InvalidConfiguration(
                "certificate_authorities is no longer supported: keyless signatures are "
                "judged against the Sigstore public-good trust root, or a private one named "
                "with sigstore: {trusted_root: PATH}"
            )
        if unknown:
            raise InvalidConfiguration(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
        keys = tuple(_key(k, i) for i, k in enumerate(_list(doc, "keys")))
        ids = [k.id for k in keys]
        if len(set(ids)) != len(ids):
            raise InvalidConfiguration("key ids must be unique")
        builders = tuple(_text(b, f"builders[{i}]") for i, b in enumerate(_list(doc, "builders")))
        identities = tuple(
            _identity(x, f"identities[{i}]") for i, x in enumerate(_list(doc, "identities"))
        )
        trusted_root = _sigstore(doc.get("sigstore"), base)
        rules = tuple(
            _rule(r, f"repositories[{i}]", set(ids))
            for i, r in enumerate(_list(doc, "repositories"))
        )
        return cls(
            1,
            keys,
            builders,
            identities,
            rules,
            hashlib.sha256(raw).hexdigest(),
            trusted_root,
            _admission(doc.get("admission", _ABSENT)),
        )

    def builder_trusted(self, builder_id: str) -> bool:
        return any(
            builder_id == b or ("*" in b and fnmatch.fnmatchcase(builder_id, b))
            for b in self.builders
        )

    def signer_allowed(
        self,
        repository: str | None,
        *,
        key: str | None = None,
        issuer: str | None = None,
        subject: str | None = None,
    ) -> str | None:
        """None when this signer may vouch for `repository`, else why not.

        A subject that names no repository is judged against every rule: it verifies
        only with a signer that every rule accepts, so dropping the name gains nothing."""
        if not self.repositories:
            return None
        signer = f"key {key}" if key is not None else f"identity {subject} ({issuer})"
        if repository is None:
            if all(r.allows(key, issuer, subject) for r in self.repositories):
                return None
            return f"{signer} is not expected for every repository and the subject names none"
        for rule in self.repositories:
            if fnmatch.fnmatchcase(repository, rule.pattern):
                if rule.allows(key, issuer, subject):
                    return None
                return f"{signer} is not an expected signer for {repository} ({rule.pattern})"
        return None


def _list(doc: Mapping[str, Any], name: str) -> list[Any]:
    value = doc.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidConfiguration(f"{name} must be a list")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidConfiguration(f"{what} must be a non-empty string")
    return value.strip()


def _when(value: object, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):  # YAML reads unquoted timestamps itself
        value = value.isoformat()
    try:
        return parse_time(value, field=what)
    except InvalidPayload as exc:
        raise InvalidConfiguration(exc.detail) from exc


def _key(item: object, index: int) -> TrustedKey:
    what = f"keys[{index}]"
    if not isinstance(item, Mapping):
        raise InvalidConfiguration(f"{what} must be a mapping with id and public_key")
    key_id = _text(item.get("id"), f"{what}.id")
    public = item.get("public_key")
    if isinstance(public, Mapping):
        if not {"keytype", "scheme", "keyval"} <= set(public):
            raise InvalidConfiguration(f"{what}.public_key needs keytype, scheme and keyval")
    elif not isinstance(public, str) or "-----BEGIN" not in public:
        raise InvalidConfiguration(f"{what}.public_key must be a PEM public key")
    scheme = item.get("scheme")
    if scheme is not None and not isinstance(scheme, str):
        raise InvalidConfiguration(f"{what}.scheme must be a string")
    revoked = item.get("revoked", False)
    if not isinstance(revoked, bool):
        raise InvalidConfiguration(f"{what}.revoked must be true or false")
    return TrustedKey(
        id=key_id,
        public_key=public,
        scheme=scheme,
        not_before=_when(item.get("not_before"), f"{what}.not_before"),
        not_after=_when(item.get("not_after", item.get("expires")), f"{what}.not_after"),
        revoked=revoked,
    )


def _identity(item: object, what: str) -> Identity:
    if not isinstance(item, Mapping):
        raise InvalidConfiguration(f"{what} must be a mapping with issuer and subject")
    subject = _text(item.get("subject"), f"{what}.subject")
    try:
        re.compile(subject)
    except re.error as exc:
        raise InvalidConfiguration(f"{what}.subject is not a regular expression: {exc}") from exc
    return Identity(_text(item.get("issuer"), f"{what}.issuer"), subject)


def _sigstore(item: object, base: Path | None) -> Path | None:
    if item is None:
        return None
    if not isinstance(item, Mapping) or set(item) - {"trusted_root"}:
        raise InvalidConfiguration("sigstore must be a mapping with trusted_root")
    path = Path(_text(item.get("trusted_root"), "sigstore.trusted_root"))
    return path if path.is_absolute() or base is None else base / path


def _rule(item: object, what: str, key_ids: set[str]) -> RepositoryRule:
    if not isinstance(item, Mapping):
        raise InvalidConfiguration(f"{what} must be a mapping with pattern and keys/identities")
    keys = frozenset(_text(k, f"{what}.keys") for k in _list(item, "keys"))
    unknown = keys - key_ids
    if unknown:
        raise InvalidConfiguration(f"{what}.keys names unknown keys: {', '.join(sorted(unknown))}")
    identities = tuple(
        _identity(x, f"{what}.identities[{i}]") for i, x in enumerate(_list(item, "identities"))
    )
    return RepositoryRule(_text(item.get("pattern"), f"{what}.pattern"), keys, identities)


_ABSENT = object()


def _admission(item: object) -> AdmissionPolicy:
    """The `admission` section. Absent: `AdmissionPolicy()` (warn). Present: enforce unless
    it says warn, and each field it leaves out takes its documented default."""
    if item is _ABSENT:
        return AdmissionPolicy()
    if item is None:
        item = {}
    if not isinstance(item, Mapping):
        raise InvalidConfiguration("admission must be a mapping")
    unknown = set(item) - {"mode", "require", "max_severity", "registries", "unknown_image"}
    if unknown:
        names = ", ".join(sorted(map(str, unknown)))
        raise InvalidConfiguration(f"admission: unknown fields: {names}")
    mode = item.get("mode", "enforce")
    if mode not in ("enforce", "warn"):
        raise InvalidConfiguration("admission.mode must be enforce or warn")
    require = item.get("require", ["signed", "attested"])
    if not isinstance(require, list) or any(r not in REQUIREMENTS for r in require):
        raise InvalidConfiguration(f"admission.require must be a list of {', '.join(REQUIREMENTS)}")
    severity = item.get("max_severity")
    if severity is not None and (
        not isinstance(severity, str)
        or severity.lower()
        not in (
            *SEVERITIES,
            "none",
        )
    ):
        raise InvalidConfiguration(
            f"admission.max_severity must be one of {', '.join(SEVERITIES)} or none"
        )
    listed = item.get("registries") or []
    if not isinstance(listed, list):
        raise InvalidConfiguration("admission.registries must be a list of name prefixes")
    registries = tuple(
        _prefix(_text(r, f"admission.registries[{i}]")) for i, r in enumerate(listed)
    )
    unknown_image = item.get("unknown_image", "deny")
    if unknown_image not in ("deny", "allow"):
        raise InvalidConfiguration("admission.unknown_image must be deny or allow")
    return AdmissionPolicy(
        mode=mode,
        require=frozenset(require),
        max_severity=severity.lower() if isinstance(severity, str) else None,
        registries=registries,
        unknown_image=unknown_image,
    )


def _prefix(text: str) -> str:
    """`Registry.ACME.io` -> `registry.acme.io/`: hosts are case-insensitive (references
    lower them), and a prefix ends at a path boundary."""
    head, slash, rest = text.partition("/")
    prefix = head.lower() + slash + rest
    return prefix if prefix.endswith("/") else f"{prefix}/"


# --- what is verified ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subject:
    digest: str  # sha256:<hex>, or `<algorithm>:<value>` for a subject without one
    name: str | None = None  # usually the repository, as in an image reference

    @property
    def is_artifact(self) -> bool:
        """Only a sha256 digest names something the graph can hold (an OCI artifact);
        an npm package's sha512 or a GCE image id is judged but linked to nothing."""
        return self.digest.startswith("sha256:")


@dataclass(frozen=True, slots=True)
class RawSignature:
    sig: bytes
    keyid: str | None = None  # an unauthenticated hint
    scheme: str | None = None  # "gpg": an OpenPGP signature (in-toto links)


@dataclass(frozen=True, slots=True)
class BuildInfo:
    """What SLSA provenance (v0.2 or v1) says about the build that made the subjects."""

    builder_id: str | None = None
    build_type: str | None = None
    invocation_id: str | None = None
    started_on: str | None = None
    finished_on: str | None = None
    source_uri: str | None = None
    source_commit: str | None = None
    # Resolved dependencies that are OCI images: the base images (sha256:<hex>).
    base_images: tuple[Subject, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: getattr(self, k)
            for k in (
                "builder_id",
                "build_type",
                "invocation_id",
                "started_on",
                "finished_on",
                "source_uri",
                "source_commit",
            )
            if getattr(self, k) is not None
        }
        if self.base_images:
            out["dependencies"] = [
                {"digest": b.digest, **({"name": b.name} if b.name else {})}
                for b in self.base_images
            ]
        return out


@dataclass(frozen=True, slots=True)
class Attestation:
    """A signature or attestation as received, parsed but not yet judged.

    `signed` holds the byte strings a valid signature may cover (one for DSSE: the PAE;
    two for in-toto links, whose signers canonicalize JSON in two ways)."""

    format: Literal["dsse", "sigstore-bundle", "in-toto-link", "cosign-simple-signing"]
    kind: Kind
    subjects: tuple[Subject, ...]
    signed: tuple[bytes, ...]
    signatures: tuple[RawSignature, ...]
    media_type: str | None = None
    payload_type: str | None = None
    predicate_type: str | None = None
    build: BuildInfo | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)  # SBOM / scan / link facts
    certificates: tuple[bytes, ...] = ()  # DER, leaf first (keyless signing)
    message_digest: bytes | None = None  # a bundle's messageSignature is over this digest
    integrated_time: datetime | None = None  # what the bundle says (sigstore verifies it)
    key_hint: str | None = None
    # A Sigstore bundle as JSON, for sigstore-python to verify whole (keyless signing).
    sigstore_bundle: bytes | None = None


@dataclass(frozen=True, slots=True)
class SignatureVerdict:
    index: int
    verified: bool
    key: str | None = None  # the policy key id (or keyless identity) that verified it
    keyid: str | None = None  # the hint the signature carried
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "verified": self.verified,
            "key": self.key,
            "keyid": self.keyid,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """One subject's verdict. `verified`: a signature verified under a trusted, applicable
    signer and, for build provenance, the builder is trusted."""

    digest: str
    kind: Kind
    verified: bool
    key: str | None
    reason: str | None
    policy_sha256: str | None
    evaluated_at: datetime
    signatures: tuple[SignatureVerdict, ...] = ()
    signature_verified: bool = False
    builder_trusted: bool | None = None  # None: the statement names no builder

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "kind": self.kind,
            "verified": self.verified,
            "key": self.key,
            "reason": self.reason,
            "policy_sha256": self.policy_sha256,
            "evaluated_at": format_time(self.evaluated_at),
            "signature_verified": self.signature_verified,
            "builder_trusted": self.builder_trusted,
            "signatures": [s.to_dict() for s in self.signatures],
        }


class AttestationVerifier(Protocol):
    """Judges parsed attestations under one policy (`provenance.trust.attestations.Verifier`)."""

    @property
    def policy_sha256(self) -> str | None: ...

    def verify(self, attestation: Attestation, *, seen_at: datetime) -> list[Verdict]: ...


def policy_document(policy: TrustPolicy) -> dict[str, Any]:
    """A JSON view of the policy (keys by id only) for `provenance trust show`."""
    return {
        "version": policy.version,
        "sha256": policy.sha256,
        "keys": [
            {
                "id": k.id,
                "revoked": k.revoked,
                "not_before": format_time(k.not_before) if k.not_before else None,
                "not_after": format_time(k.not_after) if k.not_after else None,
            }
            for k in policy.keys
        ],
        "builders": list(policy.builders),
        "identities": [{"issuer": i.issuer, "subject": i.subject} for i in policy.identities],
        "sigstore": {
            "trusted_root": str(policy.sigstore_trusted_root)
            if policy.sigstore_trusted_root
            else None,  # the public-good root
        },
        "repositories": [
            {
                "pattern": r.pattern,
                "keys": sorted(r.keys),
                "identities": [{"issuer": i.issuer, "subject": i.subject} for i in r.identities],
            }
            for r in policy.repositories
        ],
        "admission": {
            "mode": policy.admission.mode,
            "require": sorted(policy.admission.require),
            "max_severity": policy.admission.max_severity,
            "registries": list(policy.admission.registries),
            "unknown_image": policy.admission.unknown_image,
        },
    }


__all__ = [
    "NO_POLICY",
    "REQUIREMENTS",
    "SEVERITIES",
    "AdmissionPolicy",
    "Attestation",
    "AttestationVerifier",
    "BuildInfo",
    "Identity",
    "Kind",
    "RawSignature",
    "RepositoryRule",
    "SignatureVerdict",
    "Subject",
    "TrustPolicy",
    "TrustedKey",
    "Verdict",
    "policy_document",
]
