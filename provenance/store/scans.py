"""Vulnerability scans of digests: facts as stated, and the latest one per scanner.

    record(session, insert, seq, okey, event) -> str | None
                                        store one `artifact.scanned` event (idempotent on
                                        its identity); the digest when its latest scans moved
    latest_scans(session, digests, *, as_of=None) -> {digest: [ScanSummary]}
    worst_severity(session, digest, *, as_of=None) -> str | None
    digests_listing(session, vulnerability) -> set[str]
                                        the digests whose latest scan lists it (or a
                                        vulnerability related to it)
    vulnerable(summaries, min_severity) -> bool

A scan fact is one event: its digest, its scanner, its `subject` ("" for a whole report,
the vulnerability id for a source that speaks of one finding per event, Amazon Inspector)
and its event-time order key. The latest fact of each (digest, scanner, subject) by event
time replaces the earlier ones: a late older scan replaces nothing. `current` marks those
latest facts, and `scan_vulnerabilities` lists the ids of current facts only, so "which
digests' latest scan lists CVE-X" is one indexed query. A past moment (`as_of`) is read
from the facts themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, String, delete, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from provenance import scan_shape
from provenance.events import Event
from provenance.store.models import Base, BigId, order_key

_CHUNK = 500


class ScanFact(Base):
    __tablename__ = "scan_facts"
    __table_args__ = (
        Index("ix_scan_facts_identity", "source", "event_id", "digest", unique=True),
        Index("ix_scan_facts_group_okey", "digest", "scanner", "subject", "okey"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(71))
    scanner: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))  # "" or the one finding's id
    source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(300))
    okey: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime]
    seq: Mapped[int] = mapped_column(BigInteger)
    summary: Mapped[dict[str, Any]]
    vulnerabilities: Mapped[list[Any]]
    ids_known: Mapped[bool] = mapped_column(Boolean, default=True)
    current: Mapped[bool] = mapped_column(Boolean, default=False)


class ScanVulnerability(Base):
    """One id (or related id) listed by the current fact of a (digest, scanner, subject)."""

    __tablename__ = "scan_vulnerabilities"
    __table_args__ = (
        Index("ix_scan_vulnerabilities_vuln", "vuln_id", "digest"),
        Index("ix_scan_vulnerabilities_fact", "fact_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fact_id: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(71))
    vuln_id: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10))


SCAN_PROJECTION_TABLES = (ScanFact, ScanVulnerability)


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """The latest word of one scanner on one digest."""

    scanner: str
    time: datetime
    summary: dict[str, int]
    vulnerabilities: tuple[Mapping[str, Any], ...]
    ids_known: bool = True

    def worst(self) -> str | None:
        return scan_shape.worst(self.summary)


# --- writing ---------------------------------------------------------------------------


def fact_row(seq: int, okey: str, event: Event) -> dict[str, Any]:
    """The `scan_facts` row of one validated `artifact.scanned` event."""
    assert event.digest is not None
    vulnerabilities = [dict(v) for v in event.vulnerabilities or ()]
    summary = dict(event.summary) if event.summary else scan_shape.summarize(vulnerabilities)
    finding = event.attributes.get("finding")
    return {
        "digest": event.digest,
        "scanner": event.scanner or event.source,
        "subject": finding if isinstance(finding, str) else "",
        "source": event.source,
        "event_id": event.id,
        "okey": okey,
        "time": event.time,
        "seq": seq,
        "summary": summary,
        "vulnerabilities": vulnerabilities,
        "ids_known": event.attributes.get("ids_known") is not False,
        "current": False,
    }


def record(session: Session, insert_: Callable[[Any], Any], row: Mapping[str, Any]) -> bool:
    """Store one fact; make the latest of its group current. True when the group's
    current fact changed (its digest's alerts are to be derived again)."""
    stmt = insert_(ScanFact.__table__).on_conflict_do_nothing(
        index_elements=["source", "event_id", "digest"]
    )
    result: Any = session.execute(stmt, [dict(row)])
    if result.rowcount == 0:
        return False  # stated before: nothing changes
    group = (
        ScanFact.digest == row["digest"],
        ScanFact.scanner == row["scanner"],
        ScanFact.subject == row["subject"],
    )
    latest = session.execute(
        select(ScanFact.id, ScanFact.vulnerabilities, ScanFact.digest)
        .where(*group)
        .order_by(ScanFact.okey.desc())
        .limit(1)
    ).one()
    was = session.execute(
        select(ScanFact.id).where(*group, ScanFact.current.is_(True))
    ).scalar_one_or_none()
    if was == latest.id:
        return False  # a late older scan: the latest stays
    session.execute(update(ScanFact).where(*group).values(current=False))
    session.execute(update(ScanFact).where(ScanFact.id == latest.id).values(current=True))
    if was is not None:
        session.execute(delete(ScanVulnerability).where(ScanVulnerability.fact_id == was))
    listed = _listed(latest.id, latest.digest, latest.vulnerabilities)
    if listed:
        session.execute(insert(ScanVulnerability), listed)
    return True


def _listed(fact_id: int, digest: str, vulnerabilities: list[Any]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for finding in vulnerabilities:
        for vid in [finding["id"], *finding.get("related", ())]:
            rows.setdefault(
                vid,
                {
                    "fact_id": fact_id,
                    "digest": digest,
                    "vuln_id": vid,
                    "severity": finding["severity"],
                },
            )
    return list(rows.values())


# --- reading ---------------------------------------------------------------------------


def latest_scans(
    session: Session, digests: Iterable[str], *, as_of: datetime | None = None
) -> dict[str, list[ScanSummary]]:
    """Per digest, the latest scan of each scanner (by event time, at `as_of` when
    given), scanners in name order; a digest never scanned is absent."""
    wanted = sorted(set(digests))
    facts: list[ScanFact] = []
    for start in range(0, len(wanted), _CHUNK):
        query = select(ScanFact).where(ScanFact.digest.in_(wanted[start : start + _CHUNK]))
        if as_of is None:
            query = query.where(ScanFact.current.is_(True))
        else:
            query = query.where(ScanFact.okey <= order_key(as_of, 10**15 - 1, 999_999))
        facts.extend(session.scalars(query))
    latest: dict[tuple[str, str, str], ScanFact] = {}
    for fact in facts:
        key = (fact.digest, fact.scanner, fact.subject)
        if key not in latest or fact.okey > latest[key].okey:
            latest[key] = fact
    per_scanner: dict[tuple[str, str], list[ScanFact]] = defaultdict(list)
    for (digest, scanner, _), fact in latest.items():
        per_scanner[(digest, scanner)].append(fact)
    out: dict[str, list[ScanSummary]] = defaultdict(list)
    for (digest, scanner), group in sorted(per_scanner.items()):
        out[digest].append(_summary(scanner, group))
    return dict(out)


def _summary(scanner: str, group: list[ScanFact]) -> ScanSummary:
    """One report is its own summary; findings told one by one add up."""
    if len(group) == 1 and group[0].subject == "":
        fact = group[0]
        return ScanSummary(
            scanner=scanner,
            time=fact.time,
            summary=dict(fact.summary),
            vulnerabilities=tuple(fact.vulnerabilities),
            ids_known=fact.ids_known,
        )
    vulnerabilities = tuple(
        v for fact in sorted(group, key=lambda f: f.subject) for v in fact.vulnerabilities
    )
    return ScanSummary(
        scanner=scanner,
        time=max(f.time for f in group),
        summary=scan_shape.summarize(vulnerabilities),
        vulnerabilities=vulnerabilities,
        ids_known=all(f.ids_known for f in group),
    )


def worst_severity(session: Session, digest: str, *, as_of: datetime | None = None) -> str | None:
    """The worst severity any scanner's latest scan of `digest` reports (None: never
    scanned, or every latest scan is clean)."""
    found = [s.worst() for s in latest_scans(session, [digest], as_of=as_of).get(digest, [])]
    ranked = sorted((scan_shape.rank(w), w) for w in found if w is not None)
    return ranked[0][1] if ranked else None


def vulnerable(summaries: Iterable[ScanSummary], min_severity: str) -> list[ScanSummary]:
    """The scans that report anything at or above `min_severity`."""
    bar = scan_shape.rank(min_severity)
    return [
        s
        for s in summaries
        if any(scan_shape.rank(sev) <= bar and n > 0 for sev, n in s.summary.items())
    ]


def digests_listing(session: Session, vulnerability: str) -> set[str]:
    """The digests whose latest scan (of any scanner) lists `vulnerability`."""
    rows = session.scalars(
        select(ScanVulnerability.digest).where(ScanVulnerability.vuln_id == vulnerability)
    )
    return set(rows)


__all__ = [
    "SCAN_PROJECTION_TABLES",
    "ScanFact",
    "ScanSummary",
    "ScanVulnerability",
    "digests_listing",
    "fact_row",
    "latest_scans",
    "record",
    "vulnerable",
    "worst_severity",
]
