"""`POST /v1/attestations`: signatures and attestations, verified on arrival.

Accepts a DSSE envelope (in-toto Statement v1 / v0.1: SLSA provenance v1 / v0.2, SBOMs,
scans, any predicate; or an in-toto link), an in-toto link Metablock as `in-toto-run`
writes it, a Sigstore bundle (v0.3 and the older media types), or a cosign simple-signing
payload with its signature (`{"payload": b64, "signature": b64}`, or the payload as the
body with `?signature=`). Links whose products are files can name the image they are
about with `?digest=sha256:…` (and `?repository=`).

One `artifact.signed` or `artifact.attested` per subject sha256 digest. A subject known
by another digest only (an npm package's sha512, a Google VSA's `gce_image_id`) names no
artifact the graph holds: it is judged all the same and recorded as a `registry.notice`
(logged, answered with its verdict, linked to nothing). Its `attributes` carry
the verdict under the trust policy (`verified`, `key`, `policy_sha256`, `reason`,
`verdict` in full) and what the predicate says; SLSA provenance also fills `builder`,
`build`, `commit` and `vcs_url`. Event ids come from the body's sha256 and the subject,
so the same envelope sent twice is a duplicate, and `provenance trust reverify` can
re-derive the same events from the stored bytes under a new policy.
"""

from __future__ import annotations

import hashlib
from typing import Any

from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.ingest.sources._common import compact, normalize_vcs_url
from provenance.model.errors import UnsupportedMedia
from provenance.model.events import COMMIT_RE, Event, EventType, content_id
from provenance.model.kinds import NodeKind
from provenance.model.timeutil import format_time
from provenance.trust import attestations
from provenance.trust.policy import Attestation, BuildInfo, Subject, Verdict

SOURCE = "attestations"


def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    _check_content_type(delivery.content_type)
    att = attestations.parse(delivery.body, params=delivery.params)
    verifier = secrets.verifier or attestations.Verifier.null()
    verdicts = verifier.verify(att, seen_at=delivery.received_at)
    body_sha256 = hashlib.sha256(delivery.body).hexdigest()
    events = []
    for subject, verdict in zip(att.subjects, verdicts, strict=True):
        if not subject.is_artifact:
            events.append(_unlinked(delivery, att, verdict, body_sha256, subject))
            continue
        build = att.build or BuildInfo()
        commit = build.source_commit if build.source_commit else None
        if commit is not None and not COMMIT_RE.match(commit):
            commit = None
        build_id = build.invocation_id
        if build_id is None and build.builder_id:
            build_id = f"{build.builder_id}#{body_sha256[:16]}"  # provenance without a run id
        events.append(
            Event(
                id=content_id(SOURCE, body_sha256, subject.digest),
                type=(
                    EventType.ARTIFACT_SIGNED
                    if att.kind == NodeKind.SIGNATURE
                    else EventType.ARTIFACT_ATTESTED
                ),
                time=delivery.received_at,
                source=SOURCE,
                digest=subject.digest,
                repository=subject.name if subject.name and "/" in subject.name else None,
                commit=commit,
                vcs_url=_vcs_url(build.source_uri) if commit else None,
                build=build_id,
                builder=build.builder_id,
                attributes=_attributes(att, verdict, body_sha256, subject.name),
            ).validate()
        )
    return events


def _unlinked(
    delivery: Delivery, att: Attestation, verdict: Verdict, body_sha256: str, subject: Subject
) -> Event:
    """A subject that is no OCI artifact: the verdict is kept, no artifact is made up."""
    return Event(
        id=content_id(SOURCE, body_sha256, subject.digest),
        type=EventType.REGISTRY_NOTICE,
        time=delivery.received_at,
        source=SOURCE,
        attributes={
            "notice": f"{att.kind} about a subject that is not an OCI artifact",
            "subject_digest": subject.digest,
            **_attributes(att, verdict, body_sha256, subject.name),
        },
    ).validate()


def _attributes(
    att: Attestation, verdict: Verdict, body_sha256: str, name: str | None
) -> dict[str, Any]:
    return compact(
        kind=att.kind,
        format=att.format,
        media_type=att.media_type,
        payload_type=att.payload_type,
        predicate_type=att.predicate_type,
        subject_name=name,
        body_sha256=body_sha256,
        key_hint=att.key_hint or next((s.keyid for s in att.signatures if s.keyid), None),
        keyless=bool(att.certificates) or None,
        integrated_time=format_time(att.integrated_time) if att.integrated_time else None,
        # The verdict, flat for the projection and in full for the evidence table.
        verified=verdict.verified,
        key=verdict.key,
        policy_sha256=verdict.policy_sha256,
        reason=verdict.reason,
        verdict=verdict.to_dict(),
        **(att.build.to_dict() if att.build else {}),
        **{k: v for k, v in att.summary.items() if v is not None},
    )


def _vcs_url(uri: str | None) -> str | None:
    """`git+https://github.com/acme/api@refs/tags/v1` -> `https://github.com/acme/api`."""
    if not uri:
        return None
    url = uri.removeprefix("git+")
    head, at, _ = url.rpartition("@")
    return normalize_vcs_url(head if at and "/" in head else url)


_ACCEPTED = ("application/octet-stream",)


def _check_content_type(content_type: str) -> None:
    """JSON in any of its vendor forms (`…+json`, `…+dsse`), or untyped bytes."""
    ct = content_type or "application/json"
    if ct in _ACCEPTED or ct.endswith(("/json", "+json", "+dsse", ".link")):
        return
    raise UnsupportedMedia(
        f"attestations are JSON (application/json, application/vnd.dsse.envelope.v1+json, "
        f"application/vnd.dev.sigstore.bundle.v0.3+json, ...); got {content_type!r}"
    )
