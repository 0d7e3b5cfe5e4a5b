"""Bytes -> `Attestation`: DSSE envelopes, in-toto links, Sigstore bundles, cosign payloads.

Everything malformed becomes `InvalidPayload` (422) or `Unparseable` (400), never another
exception: the body is quarantined with the reason. A well-formed envelope is parsed
whether or not its signature is any good; judging it is `_verify`'s job.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from in_toto.models.metadata import Metablock
from securesystemslib import dsse
from securesystemslib.exceptions import FormatError

from provenance.model.errors import InvalidPayload, Unparseable
from provenance.model.kinds import NodeKind
from provenance.trust.policy import Attestation, BuildInfo, Kind, RawSignature, Subject

IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
STATEMENT_TYPES = frozenset(
    {"https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"}
)
BUNDLE_TYPES = frozenset(
    {
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
    }
)
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"
SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
LINK_PREDICATE = "https://in-toto.io/attestation/link/v0.3"
_SIMPLE_SIGNING_TYPES = ("cosign container image signature", "atomic container signature")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def parse(body: bytes, *, params: Mapping[str, str] | None = None) -> Attestation:
    """Recognize the format by its shape (content types are too often generic)."""
    params = params or {}
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Unparseable(f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise InvalidPayload("an attestation must be a JSON object")
    media_type = doc.get("mediaType")
    if isinstance(media_type, str) and media_type.startswith("application/vnd.dev.sigstore"):
        return _bundle(doc, media_type)
    if "payloadType" in doc:
        return _dsse(doc, params)
    if "signed" in doc and "signatures" in doc:
        return _link_metablock(doc, params)
    lower = {str(k).lower(): v for k, v in doc.items()}
    if "payload" in lower:
        return _cosign_wrapper(lower)
    if "critical" in lower:
        signature = params.get("signature")
        if not signature:
            raise InvalidPayload(
                "a cosign simple-signing payload needs its signature: send "
                '{"payload": <base64 payload>, "signature": <base64 signature>} or ?signature='
            )
        return _simple_signing(body, [RawSignature(_b64(signature, "signature"))], ())
    raise InvalidPayload(
        "not a DSSE envelope, an in-toto link, a Sigstore bundle or a cosign signature"
    )


# --- DSSE and in-toto statements ---------------------------------------------------------


def _dsse(doc: Mapping[str, Any], params: Mapping[str, str]) -> Attestation:
    payload_type = doc.get("payloadType")
    if not isinstance(payload_type, str):
        raise InvalidPayload("DSSE envelope: payloadType must be a string")
    if payload_type != IN_TOTO_PAYLOAD:
        raise InvalidPayload(f"DSSE payloadType {payload_type!r} is not {IN_TOTO_PAYLOAD}")
    payload = _b64(doc.get("payload"), "DSSE payload")
    signatures = _dsse_signatures(doc.get("signatures"))
    pae: bytes = dsse.Envelope(payload, payload_type, {}).pae()
    statement = _json_object(payload, "DSSE payload")
    if statement.get("_type") == "link":
        return _link(statement, (pae,), signatures, params, fmt="dsse")
    # slsa-github-generator's early envelopes put the Fulcio certificate beside the sig.
    return _statement(
        statement,
        signed=(pae,),
        signatures=signatures,
        fmt="dsse",
        certificates=_signature_certificates(doc.get("signatures")),
    )


def _dsse_signatures(value: object) -> tuple[RawSignature, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidPayload("DSSE envelope: signatures must be a non-empty list")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise InvalidPayload(f"DSSE signatures[{i}] must be an object")
        keyid = item.get("keyid")
        if keyid is not None and not isinstance(keyid, str):
            raise InvalidPayload(f"DSSE signatures[{i}].keyid must be a string")
        out.append(RawSignature(_b64(item.get("sig"), f"DSSE signatures[{i}].sig"), keyid or None))
    return tuple(out)


def _signature_certificates(value: object) -> tuple[bytes, ...]:
    out: list[bytes] = []
    for i, item in enumerate(value if isinstance(value, list) else []):
        pem = _obj(item).get("cert")
        if pem is None or pem == "":
            continue
        if not isinstance(pem, str):
            raise InvalidPayload(f"DSSE signatures[{i}].cert must be PEM text")
        out.extend(_pem_certificates(pem, f"DSSE signatures[{i}].cert"))
    return tuple(out)


def _pem_certificates(pem: str, what: str) -> list[bytes]:
    try:
        return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(pem.encode())]
    except ValueError as exc:
        raise InvalidPayload(f"{what} is not a PEM certificate") from exc


def _statement(
    st: Mapping[str, Any],
    *,
    signed: tuple[bytes, ...],
    signatures: tuple[RawSignature, ...],
    fmt: Any,
    media_type: str | None = None,
    certificates: tuple[bytes, ...] = (),
    integrated_time: datetime | None = None,
    key_hint: str | None = None,
    sigstore_bundle: bytes | None = None,
) -> Attestation:
    kind_of = st.get("_type")
    if kind_of not in STATEMENT_TYPES:
        raise InvalidPayload(f"payload _type {kind_of!r} is not an in-toto Statement v1 or v0.1")
    predicate_type = st.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise InvalidPayload("in-toto Statement: predicateType must be a non-empty string")
    subjects = _subjects(st.get("subject"))
    predicate = st.get("predicate")
    predicate = predicate if isinstance(predicate, Mapping) else {}
    kind: Kind = NodeKind.SIGNATURE if predicate_type == COSIGN_SIGN else NodeKind.ATTESTATION
    build = None
    if predicate_type == SLSA_V1:
        build = _slsa_v1(predicate)
    elif predicate_type.startswith("https://slsa.dev/provenance/v0."):
        build = _slsa_v02(predicate)
    return Attestation(
        format=fmt,
        kind=kind,
        subjects=subjects,
        signed=signed,
        signatures=signatures,
        media_type=media_type,
        payload_type=IN_TOTO_PAYLOAD,
        predicate_type=predicate_type,
        build=build,
        summary=_summary(predicate_type, predicate),
        certificates=certificates,
        integrated_time=integrated_time,
        key_hint=key_hint,
        sigstore_bundle=sigstore_bundle,
    )


def _subjects(value: object) -> tuple[Subject, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidPayload("in-toto Statement: subject must be a non-empty list")
    found: dict[str, Subject] = {}
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("digest"), Mapping):
            raise InvalidPayload(f"in-toto Statement: subject[{i}] needs a digest object")
        digest = _sha256(item["digest"]) or _other_digest(item["digest"], i)
        if digest not in found:
            name = item.get("name")
            if not isinstance(name, str) or not name:
                name = None
            elif digest.startswith("sha256:"):
                name = _repository(name)
            found[digest] = Subject(digest, name)
    return tuple(found.values())


_OTHER_DIGEST = re.compile(r"^[A-Za-z0-9_.+-]{1,40}$")
_OTHER_VALUE = re.compile(r"^[A-Za-z0-9_.+/=:-]{1,200}$")
# When a subject has no sha256 (npm: sha512; a Google VSA: gce_image_id), the one it is
# known by: the strongest common hash first, else the first the statement lists.
_PREFERRED = ("sha512", "sha384", "sha3-512", "sha3-256", "sha224", "sha1")
_HEX_LENGTHS = {"sha512": 128, "sha384": 96, "sha3-512": 128, "sha3-256": 64, "sha224": 56}
_HEX_LENGTHS |= {"sha1": 40}


def _other_digest(digests: Mapping[str, Any], index: int) -> str:
    """`<algorithm>:<value>` for a subject without a sha256 (judged, linked to nothing)."""
    pairs = [(str(k), v) for k, v in digests.items()]
    if not pairs:
        raise InvalidPayload(f"in-toto Statement: subject[{index}].digest is empty")
    for alg, v in pairs:
        if not isinstance(v, str) or not _OTHER_VALUE.match(v) or not _OTHER_DIGEST.match(alg):
            raise InvalidPayload(f"in-toto Statement: subject[{index}].digest.{alg} is malformed")
    chosen = dict(pairs)
    alg = next((a for a in _PREFERRED if a in chosen), pairs[0][0])
    value: str = chosen[alg]
    width = _HEX_LENGTHS.get(alg)
    if width is not None:
        if not re.fullmatch(f"[0-9a-fA-F]{{{width}}}", value):
            raise InvalidPayload(
                f"in-toto Statement: subject[{index}].digest.{alg} is not {width} hex characters"
            )
        value = value.lower()
    return f"{alg}:{value}"


def _sha256(digests: Mapping[str, Any]) -> str | None:
    value = digests.get("sha256")
    if not isinstance(value, str):
        return None
    value = value.lower().removeprefix("sha256:")
    if not _HEX64.match(value):
        raise InvalidPayload(f"sha256 digest {value!r} is not 64 hex characters")
    return f"sha256:{value}"


def _slsa_v1(p: Mapping[str, Any]) -> BuildInfo:
    definition = _obj(p.get("buildDefinition"))
    run = _obj(p.get("runDetails"))
    meta = _obj(run.get("metadata"))
    deps = definition.get("resolvedDependencies")
    uri, commit = _source(deps)
    return BuildInfo(
        builder_id=_str(_obj(run.get("builder")).get("id")),
        build_type=_str(definition.get("buildType")),
        invocation_id=_str(meta.get("invocationId")),
        started_on=_str(meta.get("startedOn")),
        finished_on=_str(meta.get("finishedOn")),
        source_uri=uri,
        source_commit=commit,
        base_images=_base_images(deps),
    )


def _slsa_v02(p: Mapping[str, Any]) -> BuildInfo:
    meta = _obj(p.get("metadata"))
    config = _obj(_obj(p.get("invocation")).get("configSource"))
    materials = p.get("materials")
    uri, commit = _source([config, *(materials if isinstance(materials, list) else [])])
    return BuildInfo(
        builder_id=_str(_obj(p.get("builder")).get("id")),
        build_type=_str(p.get("buildType")),
        # The spec spells it buildInvocationId; slsa-github-generator emits ...ID.
        invocation_id=_str(meta.get("buildInvocationId")) or _str(meta.get("buildInvocationID")),
        started_on=_str(meta.get("buildStartedOn")),
        finished_on=_str(meta.get("buildFinishedOn")),
        source_uri=uri,
        source_commit=commit,
        base_images=_base_images(materials),
    )


def _source(deps: object) -> tuple[str | None, str | None]:
    """The first dependency that names a git commit: (uri, sha)."""
    for dep in deps if isinstance(deps, list) else []:
        digest = _obj(_obj(dep).get("digest"))
        for alg in ("gitCommit", "sha1"):
            sha = _str(digest.get(alg))
            if sha and _COMMIT.match(sha.lower()):
                return _str(_obj(dep).get("uri")), sha.lower()
    return None, None


_OCI_SCHEMES = ("oci://", "docker://", "pkg:docker/", "pkg:oci/")
_OCI_MEDIA = ("application/vnd.oci.image", "application/vnd.docker.distribution.manifest")


def _base_images(deps: object) -> tuple[Subject, ...]:
    """Resolved dependencies that are OCI images (by scheme, media type or `@sha256:`)."""
    out: dict[str, Subject] = {}
    for item in deps if isinstance(deps, list) else []:
        dep = _obj(item)
        uri = _str(dep.get("uri")) or ""
        media = _str(dep.get("mediaType")) or ""
        is_image = uri.startswith(_OCI_SCHEMES) or media.startswith(_OCI_MEDIA)
        is_image = is_image or ("@sha256:" in uri and not uri.startswith("git+"))
        if not is_image:
            continue
        try:
            digest = _sha256(_obj(dep.get("digest")))
        except InvalidPayload:
            digest = None
        if digest is None and "@sha256:" in uri:
            hex_part = uri.rsplit("@sha256:", 1)[1][:64].lower()
            digest = f"sha256:{hex_part}" if _HEX64.match(hex_part) else None
        if digest is not None and digest not in out:
            name = _str(dep.get("name")) or (uri and _repository(uri))
            out[digest] = Subject(digest, name or None)
    return tuple(out.values())


def _summary(predicate_type: str, p: Mapping[str, Any]) -> dict[str, Any]:
    """What we can say about predicates we do not model (SBOMs, scans): store, summarize."""
    lowered = predicate_type.lower()
    if "spdx" in lowered:
        packages = p.get("packages")
        return {"sbom": "spdx", "packages": len(packages) if isinstance(packages, list) else None}
    if "cyclonedx" in lowered:
        components = p.get("components")
        count = len(components) if isinstance(components, list) else None
        return {"sbom": "cyclonedx", "components": count}
    if "vuln" in lowered:
        scanner = _obj(p.get("scanner"))
        return {
            "scanner": _str(scanner.get("uri")) or _str(scanner.get("name")),
            "scanner_version": _str(scanner.get("version")),
        }
    return {}


# --- in-toto links ---------------------------------------------------------------------


def _link_metablock(doc: Mapping[str, Any], params: Mapping[str, str]) -> Attestation:
    signed = doc.get("signed")
    if not isinstance(signed, Mapping) or signed.get("_type") != "link":
        raise InvalidPayload("in-toto metadata: only links (signed._type = link) are accepted")
    raw = doc.get("signatures")
    if not isinstance(raw, list) or not raw:
        raise InvalidPayload("in-toto link: signatures must be a non-empty list")
    signatures = []
    for i, item in enumerate(raw):
        # securesystemslib signatures carry `sig`; GPG ones (in-toto-run --gpg) carry
        # `signature` and `other_headers` (the OpenPGP signature packet's hashed part).
        gpg = isinstance(item, Mapping) and "sig" not in item and "signature" in item
        field = "signature" if gpg else "sig"
        if not isinstance(item, Mapping) or not isinstance(item.get(field), str):
            raise InvalidPayload(f"in-toto link: signatures[{i}] needs keyid and a hex sig")
        if gpg and not isinstance(item.get("other_headers"), str):
            raise InvalidPayload(f"in-toto link: GPG signatures[{i}] needs other_headers")
        try:
            sig = bytes.fromhex(item[field])
            if gpg:
                bytes.fromhex(item["other_headers"])
        except ValueError as exc:
            raise InvalidPayload(f"in-toto link: signatures[{i}].{field} is not hex") from exc
        keyid = item.get("keyid")
        signatures.append(
            RawSignature(sig, keyid if isinstance(keyid, str) else None, "gpg" if gpg else None)
        )
    try:
        block = Metablock.from_dict({"signed": dict(signed), "signatures": list(raw)})
        olpc: bytes = block.signed.signable_bytes
    except (FormatError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidPayload(f"in-toto link: {exc}") from exc
    # in-toto signs the OLPC canonical JSON of `signed`; some signers use RFC 8785, which
    # differs only in how control characters are escaped. Both bind the same object.
    return _link(signed, (olpc, rfc8785.dumps(signed)), tuple(signatures), params, "in-toto-link")


def _link(
    signed: Mapping[str, Any],
    signed_bytes: tuple[bytes, ...],
    signatures: tuple[RawSignature, ...],
    params: Mapping[str, str],
    fmt: Any,
) -> Attestation:
    try:
        Metablock.from_dict({"signed": dict(signed), "signatures": []}).signed.validate()
    except (FormatError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidPayload(f"in-toto link: {exc}") from exc
    products = _obj(signed.get("products"))
    materials = _obj(signed.get("materials"))
    if params.get("digest"):  # the image the step is about, when its products are files
        subjects = tuple(
            Subject(_param_digest(d), params.get("repository") or None)
            for d in params["digest"].split(",")
        )
    else:
        found: dict[str, Subject] = {}
        for path, digests in products.items():
            digest = _sha256(_obj(digests))
            if digest is not None:
                found.setdefault(digest, Subject(digest, str(path)))
        subjects = tuple(found.values())
    if not subjects:
        raise InvalidPayload(
            "in-toto link: no product has a sha256 digest (name the image with ?digest=)"
        )
    byproducts = _obj(signed.get("byproducts"))
    return Attestation(
        format=fmt,
        kind=NodeKind.ATTESTATION,
        subjects=subjects,
        signed=signed_bytes,
        signatures=signatures,
        payload_type=IN_TOTO_PAYLOAD if fmt == "dsse" else None,
        predicate_type=LINK_PREDICATE,
        summary={
            "step": _str(signed.get("name")),
            "command": [str(c) for c in signed.get("command") or []],
            "materials": {str(k): _str(_obj(v).get("sha256")) for k, v in materials.items()},
            "products": {str(k): _str(_obj(v).get("sha256")) for k, v in products.items()},
            "return_value": byproducts.get("return-value"),
        },
    )


def _param_digest(value: str) -> str:
    value = value.strip().lower()
    if not value.startswith("sha256:") or not _HEX64.match(value[7:]):
        raise InvalidPayload(f"?digest={value!r} is not sha256:<64 hex>")
    return value


# --- Sigstore bundles ------------------------------------------------------------------


def _bundle(doc: Mapping[str, Any], media_type: str) -> Attestation:
    normalized = media_type.replace(" ", "")
    if normalized not in BUNDLE_TYPES:
        raise InvalidPayload(f"Sigstore bundle media type {media_type!r} is not supported")
    material = doc.get("verificationMaterial")
    if not isinstance(material, Mapping):
        raise InvalidPayload("Sigstore bundle: verificationMaterial must be an object")
    certificates = _bundle_certificates(material)
    hint = _str(_obj(material.get("publicKey")).get("hint"))
    integrated = _integrated_time(material.get("tlogEntries"))
    # Keyless: sigstore-python verifies the bundle whole (its media type as normalized).
    whole = orjson.dumps({**doc, "mediaType": normalized}) if certificates else None
    if isinstance(doc.get("dsseEnvelope"), Mapping):
        env = doc["dsseEnvelope"]
        payload_type = env.get("payloadType")
        if payload_type != IN_TOTO_PAYLOAD:
            raise InvalidPayload(f"bundle DSSE payloadType {payload_type!r} is not in-toto")
        payload = _b64(env.get("payload"), "bundle DSSE payload")
        pae: bytes = dsse.Envelope(payload, payload_type, {}).pae()
        return _statement(
            _json_object(payload, "bundle DSSE payload"),
            signed=(pae,),
            signatures=_dsse_signatures(env.get("signatures")),
            fmt="sigstore-bundle",
            media_type=normalized,
            certificates=certificates,
            integrated_time=integrated,
            key_hint=hint,
            sigstore_bundle=whole,
        )
    if isinstance(doc.get("messageSignature"), Mapping):
        msg = doc["messageSignature"]
        md = _obj(msg.get("messageDigest"))
        if md.get("algorithm") != "SHA2_256":
            raise InvalidPayload("bundle messageSignature: only SHA2_256 digests are supported")
        digest = _b64(md.get("digest"), "bundle messageDigest.digest")
        if len(digest) != 32:
            raise InvalidPayload("bundle messageDigest.digest is not a sha256 digest")
        return Attestation(
            format="sigstore-bundle",
            kind=NodeKind.SIGNATURE,
            subjects=(Subject(f"sha256:{digest.hex()}"),),
            signed=(),
            signatures=(RawSignature(_b64(msg.get("signature"), "bundle signature")),),
            media_type=normalized,
            certificates=certificates,
            message_digest=digest,
            integrated_time=integrated,
            key_hint=hint,
            sigstore_bundle=whole,
        )
    raise InvalidPayload("Sigstore bundle: needs a dsseEnvelope or a messageSignature")


def _bundle_certificates(material: Mapping[str, Any]) -> tuple[bytes, ...]:
    raws: list[object] = []
    if isinstance(material.get("certificate"), Mapping):
        raws.append(material["certificate"].get("rawBytes"))
    chain = _obj(material.get("x509CertificateChain")).get("certificates")
    for cert in chain if isinstance(chain, list) else []:
        raws.append(_obj(cert).get("rawBytes"))
    out = []
    for i, raw in enumerate(raws):
        der = _b64(raw, f"bundle certificate {i}")
        try:
            x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise InvalidPayload(f"bundle certificate {i} is not an X.509 certificate") from exc
        out.append(der)
    return tuple(out)


def _integrated_time(entries: object) -> datetime | None:
    for entry in entries if isinstance(entries, list) else []:
        value = _obj(entry).get("integratedTime")
        if isinstance(value, str | int) and str(value).isdigit():
            try:
                return datetime.fromtimestamp(int(value), tz=UTC)
            except (OverflowError, OSError, ValueError):
                return None
    return None


# --- cosign simple signing -------------------------------------------------------------


def _cosign_wrapper(lower: Mapping[str, Any]) -> Attestation:
    """`{"payload": b64, "signature": b64, "cert"?: PEM}`; also the field names of
    `cosign download signature` (`Payload`, `Base64Signature`, `Cert`)."""
    payload = _b64(lower.get("payload"), "payload")
    sig = lower.get("signature", lower.get("base64signature"))
    if sig is None:
        raise InvalidPayload("cosign signature: base64 `signature` is required")
    certificates: list[bytes] = []
    for field in ("cert", "chain"):
        pem = lower.get(field)
        if pem is None or pem == "":
            continue
        if not isinstance(pem, str):
            raise InvalidPayload(f"cosign signature: {field} must be PEM text")
        certificates.extend(_pem_certificates(pem, f"cosign signature: {field}"))
    return _simple_signing(payload, [RawSignature(_b64(sig, "signature"))], tuple(certificates))


def _simple_signing(
    payload: bytes, signatures: list[RawSignature], certificates: tuple[bytes, ...]
) -> Attestation:
    doc = _json_object(payload, "simple-signing payload")
    critical = _lower(doc.get("critical"))
    image = _lower(critical.get("image"))
    identity = _lower(critical.get("identity"))
    kind = critical.get("type")
    if not isinstance(kind, str) or kind.lower() not in _SIMPLE_SIGNING_TYPES:
        raise InvalidPayload(f"simple-signing payload: critical.type {kind!r} is not a signature")
    digest = image.get("docker-manifest-digest")
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise InvalidPayload("simple-signing payload: critical.image.docker-manifest-digest")
    reference = identity.get("docker-reference")
    subject = Subject(
        _param_digest(digest), _repository(reference) if isinstance(reference, str) else None
    )
    optional = doc.get("optional")
    return Attestation(
        format="cosign-simple-signing",
        kind=NodeKind.SIGNATURE,
        subjects=(subject,),
        signed=(payload,),
        signatures=tuple(signatures),
        media_type=SIMPLE_SIGNING,
        summary={"annotations": dict(optional)} if isinstance(optional, Mapping) else {},
        certificates=certificates,
    )


# --- small helpers ---------------------------------------------------------------------


def _b64(value: object, what: str) -> bytes:
    """Standard or URL-safe base64 (DSSE allows both); anything else is a 422."""
    if not isinstance(value, str) or not value:
        raise InvalidPayload(f"{what} must be a non-empty base64 string")
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidPayload(f"{what} is not valid base64") from exc


def _json_object(raw: bytes, what: str) -> Mapping[str, Any]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidPayload(f"{what} is not JSON: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise InvalidPayload(f"{what} must be a JSON object")
    return doc


def _obj(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _lower(value: object) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in _obj(value).items()}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _repository(ref: str) -> str:
    """`oci://host/path:tag@sha256:..` -> `host/path` (a `:port` in the host is kept)."""
    for prefix in ("oci://", "docker://", "https://", "http://", "pkg:docker/", "pkg:oci/"):
        ref = ref.removeprefix(prefix)
    name = ref.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    return head + slash + last.split(":", 1)[0]


__all__ = ["BUNDLE_TYPES", "COSIGN_SIGN", "IN_TOTO_PAYLOAD", "SLSA_V02", "SLSA_V1", "parse"]
