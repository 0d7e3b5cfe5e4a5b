"""What the graph knows about the images of an admission review, at one moment.

    image_facts(session, refs, at=, needs=, severity=) -> {reference: ImageFacts}

It sits on the API server's hot path, so it is a handful of indexed queries per review,
whatever the number of images: the tags' intervals open at `at` (`ix_edges_dst_kind_until`),
the digests known (`artifacts` primary key), and only what the policy's rules need: the
latest verdict of each signature/attestation event (`ix_evidence_digest_id`), the builds
that produced the digests (`ix_edges_dst_kind_until`), the worst severity of the latest
scan (the scans reader, one call per digest).

A tag resolves to the digest its history holds at `at` (event time): the `tagged` interval
with `since <= at < until`. Signed / attested: the latest verdict of some signature /
attestation event of the digest reached by `at` verified (a reverification that revoked it
counts, as in `/v1/deployments`). A known build: a `produced` edge from a build event, a
registry's build, or build provenance that verified on arrival (an unverified attestation's
claim is not a build record).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from provenance.references import ImageReference
from provenance.store import nodes as N
from provenance.store.evidence import Evidence
from provenance.store.models import Artifact, Edge, order_key


class SeverityReader(Protocol):
    """The worst severity (critical/high/medium/low/unknown) of a digest's latest scan by
    `as_of`, None when none found anything (`provenance.store.scans.worst_severity`)."""

    def __call__(
        self, session: Session, digest: str, *, as_of: datetime | None = None
    ) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ImageFacts:
    digest: str | None  # None: a tag that pointed at nothing at that moment
    resolved_by: Literal["digest", "tag"] | None
    known: bool  # the graph holds the digest
    signed: bool = False
    attested: bool = False
    known_build: bool = False
    severity: str | None = None


def image_facts(
    session: Session,
    refs: Sequence[ImageReference],
    *,
    at: datetime,
    needs: Iterable[str] = ("signed", "attested", "known_build", "severity"),
    severity: SeverityReader | None = None,
) -> dict[ImageReference, ImageFacts]:
    wanted = frozenset(needs)
    unique = list(dict.fromkeys(refs))
    by_tag = _tags_at(
        session, {N.tag(r.name, r.tag or "latest") for r in unique if r.digest is None}, at
    )
    digest_of: dict[ImageReference, str | None] = {
        r: r.digest if r.digest else by_tag.get(N.tag(r.name, r.tag or "latest")) for r in unique
    }
    digests = sorted({d for d in digest_of.values() if d})
    known = _known(session, digests)
    present = [d for d in digests if d in known]
    verified = _verified_kinds(session, present, at) if wanted & {"signed", "attested"} else {}
    built = _built(session, present, at) if "known_build" in wanted else set()
    worst: dict[str, str | None] = {}
    if "severity" in wanted and severity is not None:
        worst = {d: severity(session, d, as_of=at) for d in present}
    out = {}
    for r in unique:
        d = digest_of[r]
        kinds = verified.get(d, set()) if d else set()
        out[r] = ImageFacts(
            digest=d,
            resolved_by=("digest" if r.digest else "tag") if d else None,
            known=d in known if d else False,
            signed="signature" in kinds,
            attested="attestation" in kinds,
            known_build=d in built if d else False,
            severity=worst.get(d) if d else None,
        )
    return out


def _tags_at(session: Session, tags: set[str], at: datetime) -> dict[str, str]:
    """Tag node -> the digest its interval open at `at` points at."""
    if not tags:
        return {}
    rows = session.execute(
        select(Edge.dst, Edge.src, Edge.since)
        .where(
            Edge.dst.in_(sorted(tags)),
            Edge.kind == "tagged",
            Edge.until_okey > order_key(at),
            Edge.since <= at,
        )
        .order_by(Edge.since)
    )
    return {str(dst): str(src).removeprefix("artifact:") for dst, src, _ in rows}  # latest wins


def _known(session: Session, digests: list[str]) -> set[str]:
    if not digests:
        return set()
    return set(
        session.execute(select(Artifact.digest).where(Artifact.digest.in_(digests))).scalars()
    )


def _verified_kinds(session: Session, digests: list[str], at: datetime) -> dict[str, set[str]]:
    """Per digest, which of signature/attestation has an event whose latest verdict by
    `at` verified."""
    if not digests:
        return {}
    newest = (
        select(func.max(Evidence.id))
        .where(Evidence.digest.in_(digests), Evidence.evaluated_at <= at)
        .group_by(Evidence.event_id)
    )
    rows = session.execute(
        select(Evidence.digest, Evidence.kind).where(Evidence.id.in_(newest), Evidence.verified)
    )
    out: dict[str, set[str]] = {}
    for digest, kind in rows:
        out.setdefault(str(digest), set()).add(str(kind))
    return out


def _built(session: Session, digests: list[str], at: datetime) -> set[str]:
    if not digests:
        return set()
    rows = session.execute(
        select(Edge.dst, Edge.attrs).where(
            Edge.dst.in_([N.artifact(d) for d in digests]),
            Edge.kind == "produced",
            Edge.since <= at,
        )
    )
    return {str(dst).removeprefix("artifact:") for dst, attrs in rows if _build_record(attrs or {})}


def _build_record(attrs: Mapping[str, object]) -> bool:
    return attrs.get("evidence") != "attestation" or attrs.get("verified") is True


__all__ = ["ImageFacts", "SeverityReader", "image_facts"]
