"""What the graph knows about the images of an admission review, at one moment.

    image_facts(session, refs, at=, needs=, severity=) -> {reference: ImageFacts}
    append_decision(db, delivery, event) -> seq | None   the log, without waiting for the disk

It sits on the API server's hot path, so it is a handful of indexed queries per review,
whatever the number of images: the tags' intervals open at `at` (`ix_edges_dst_kind_until`),
the digests known (`artifacts` primary key), and only what the policy's rules need: the
latest verdict of each signature/attestation event (`ix_evidence_digest_id`), the builds
that produced the digests (`ix_edges_dst_kind_until`), the worst severity of the latest
scans (`store.scans`, one read for all the digests).

A tag resolves to the digest its history holds at `at` (event time): the `tagged` interval
with `since <= at < until`. Signed / attested: the latest verdict of some signature /
attestation event of the digest reached by `at` verified (a reverification that revoked it
counts, as in `/v1/deployments`). A known build: a `produced` edge from a build event, a
registry's build, or build provenance that verified on arrival (an unverified attestation's
claim is not a build record).

A decision is appended to the hash-chained log like any delivery (one lock of the head, the
uid as its event key: a retried review is a duplicate), but its commit does not wait for
the disk flush (`Database.write(durable=False)`: SQLite `synchronous=NORMAL` in WAL mode for
that one transaction, PostgreSQL `synchronous_commit = off` for it). A crash of the service
loses nothing committed; a power loss may lose the last decisions (never an ingested
delivery, whose commits flush the WAL, and with it every decision before them), and cannot
break the chain: the log is a prefix of what it was. The flush is what the fsync costs (5
to 10 ms on a busy disk), and the API server waits for every answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from provenance.model import nodes as N
from provenance.model import scan_shape
from provenance.model.delivery import Delivery
from provenance.model.events import Event
from provenance.model.kinds import EdgeKind, NodeKind
from provenance.model.references import ImageReference
from provenance.store import evidence, log, scans
from provenance.store.db import Database
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
    conn = session.connection()  # Core statements: a third of the ORM's cost per query
    by_tag = _tags_at(
        conn, {N.tag(r.name, r.tag or "latest") for r in unique if r.digest is None}, at
    )
    digest_of: dict[ImageReference, str | None] = {
        r: r.digest if r.digest else by_tag.get(N.tag(r.name, r.tag or "latest")) for r in unique
    }
    digests = sorted({d for d in digest_of.values() if d})
    known = _known(conn, digests)
    present = [d for d in digests if d in known]
    verified = _verified_kinds(conn, present, at) if wanted & {"signed", "attested"} else {}
    built = _built(conn, present, at) if "known_build" in wanted else set()
    worst: dict[str, str | None] = {}
    if "severity" in wanted and severity is not None:
        worst = {d: severity(session, d, as_of=at) for d in present}
    elif "severity" in wanted and present:
        worst = _worst(session, present, at)
    out = {}
    for r in unique:
        d = digest_of[r]
        kinds = verified.get(d, set()) if d else set()
        out[r] = ImageFacts(
            digest=d,
            resolved_by=("digest" if r.digest else "tag") if d else None,
            known=d in known if d else False,
            signed=NodeKind.SIGNATURE in kinds,
            attested=NodeKind.ATTESTATION in kinds,
            known_build=d in built if d else False,
            severity=worst.get(d) if d else None,
        )
    return out


# Built once: the statements' construction costs more than their execution here, and the
# expanding IN parameters keep one cached compilation per statement.
_TAGS_AT = (
    select(Edge.dst, Edge.src, Edge.since)
    .where(
        Edge.dst.in_(bindparam("tags", expanding=True)),
        Edge.kind == EdgeKind.TAGGED,
        Edge.until_okey > bindparam("key"),
        Edge.since <= bindparam("at"),
    )
    .order_by(Edge.since)
)
_KNOWN = select(Artifact.digest).where(Artifact.digest.in_(bindparam("digests", expanding=True)))
_NEWEST_VERDICTS = evidence.holding_ids(
    Evidence.digest.in_(bindparam("digests", expanding=True)), as_of=bindparam("at")
)
_VERIFIED = select(Evidence.digest, Evidence.kind).where(
    Evidence.id.in_(_NEWEST_VERDICTS), Evidence.verified
)
_PRODUCED = select(Edge.dst, Edge.attrs).where(
    Edge.dst.in_(bindparam("artifacts", expanding=True)),
    Edge.kind == EdgeKind.PRODUCED,
    Edge.since <= bindparam("at"),
)


def _tags_at(conn: Connection, tags: set[str], at: datetime) -> dict[str, str]:
    """Tag node -> the digest its interval open at `at` points at."""
    if not tags:
        return {}
    rows = conn.execute(_TAGS_AT, {"tags": sorted(tags), "key": order_key(at), "at": at})
    return {str(dst): str(src).removeprefix("artifact:") for dst, src, _ in rows}  # latest wins


def _known(conn: Connection, digests: list[str]) -> set[str]:
    if not digests:
        return set()
    return {str(d) for d in conn.execute(_KNOWN, {"digests": digests}).scalars()}


def _verified_kinds(conn: Connection, digests: list[str], at: datetime) -> dict[str, set[str]]:
    """Per digest, which of signature/attestation has an event whose verdict that holds at
    `at` verified (`provenance.model.verdicts`)."""
    if not digests:
        return {}
    out: dict[str, set[str]] = {}
    for digest, kind in conn.execute(_VERIFIED, {"digests": digests, "at": at}):
        out.setdefault(str(digest), set()).add(str(kind))
    return out


def _built(conn: Connection, digests: list[str], at: datetime) -> set[str]:
    if not digests:
        return set()
    rows = conn.execute(_PRODUCED, {"artifacts": [N.artifact(d) for d in digests], "at": at})
    return {str(dst).removeprefix("artifact:") for dst, attrs in rows if _build_record(attrs or {})}


def _worst(session: Session, digests: list[str], at: datetime) -> dict[str, str | None]:
    """`scans.worst_severity` of every digest, with one read of the latest scans."""
    out: dict[str, str | None] = {}
    for digest, summaries in scans.latest_scans(session, digests, as_of=at).items():
        found = [w for w in (s.worst() for s in summaries) if w is not None]
        out[digest] = min(found, key=scan_shape.rank) if found else None
    return out


def _build_record(attrs: Mapping[str, object]) -> bool:
    return attrs.get("evidence") != "attestation" or attrs.get("verified") is True


# --- the decision, in the log ------------------------------------------------------------


def append_decision(db: Database, delivery: Delivery, decided: Event) -> int | None:
    """Append one decision; its seq, or None when its uid was decided already."""
    with db.write(durable=False) as session:
        return log.append(session, delivery, [decided]).seq


__all__ = ["ImageFacts", "SeverityReader", "append_decision", "image_facts"]
