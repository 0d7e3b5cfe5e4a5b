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
latest facts, and `scan_vulnerabilities` lists the ids (and related ids) of every fact, flagged
`current` like their fact, so "which digests' latest scan lists CVE-X" is one indexed
query. A past moment (`as_of`) is read
from the facts themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, String, insert, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from provenance.model import scan_shape
from provenance.model.events import Event
from provenance.model.scan_shape import ScanSummary
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
    worst: Mapped[str | None] = mapped_column(String(10))  # None: it reports nothing
    current: Mapped[bool] = mapped_column(Boolean, default=False)


class ScanVulnerability(Base):
    """One id (or related id) a fact lists; `current` while its fact is the latest."""

    __tablename__ = "scan_vulnerabilities"
    __table_args__ = (
        Index("ix_scan_vulnerabilities_vuln", "vuln_id", "current", "digest"),
        Index("ix_scan_vulnerabilities_fact", "fact_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fact_id: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(71))
    vuln_id: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10))
    current: Mapped[bool] = mapped_column(Boolean, default=False)


SCAN_PROJECTION_TABLES = (ScanFact, ScanVulnerability)


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
        "worst": scan_shape.worst(summary),
        "current": False,
    }


def record(session: Session, insert_: Callable[[Any], Any], row: Mapping[str, Any]) -> bool:
    """Store one fact; make the latest of its group current. True when the group's
    current fact changed (its digest's alerts are to be derived again)."""
    stmt = insert_(ScanFact.__table__).on_conflict_do_nothing(
        index_elements=["source", "event_id", "digest"]
    )
    stmt = stmt.returning(ScanFact.id)
    new_id = session.execute(stmt, dict(row)).scalar_one_or_none()
    if new_id is None:
        return False  # stated before: nothing changes
    if session.get_bind().dialect.name == "postgresql":
        # Projectors of other lanes may record a scan of the same group at once: which
        # fact is current is decided by one of them at a time (until its commit).
        group_key = f"{row['digest']}|{row['scanner']}|{row['subject']}"
        session.execute(_GROUP_LOCK, {"space": _LOCK_SPACE, "key": group_key})
    listed = _listed(new_id, row["digest"], row["vulnerabilities"])
    if listed:
        session.execute(insert(ScanVulnerability), listed)
    group = (
        ScanFact.digest == row["digest"],
        ScanFact.scanner == row["scanner"],
        ScanFact.subject == row["subject"],
    )
    latest = session.execute(
        select(ScanFact.id).where(*group).order_by(ScanFact.okey.desc()).limit(1)
    ).scalar_one()
    was = session.execute(
        select(ScanFact.id).where(*group, ScanFact.current.is_(True))
    ).scalar_one_or_none()
    if was == latest:
        return False  # a late older scan: the latest stays
    for fact_id, current in ((was, False), (latest, True)):
        if fact_id is None:
            continue
        session.execute(update(ScanFact).where(ScanFact.id == fact_id).values(current=current))
        session.execute(
            update(ScanVulnerability)
            .where(ScanVulnerability.fact_id == fact_id)
            .values(current=current)
        )
    return True


_LOCK_SPACE = 0x7363616E  # "scan": the two-key advisory lock space of scan groups
_GROUP_LOCK = text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))")


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
                    "current": False,
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
    scanned, or every latest scan is clean). Reads only the facts' `worst` column: it is
    on the admission path."""
    query = select(ScanFact.scanner, ScanFact.subject, ScanFact.okey, ScanFact.worst).where(
        ScanFact.digest == digest
    )
    if as_of is None:
        rows = session.execute(query.where(ScanFact.current.is_(True))).all()
    else:
        latest: dict[tuple[str, str], Any] = {}
        bound = order_key(as_of, 10**15 - 1, 999_999)
        for row in session.execute(query.where(ScanFact.okey <= bound)):
            key = (row.scanner, row.subject)
            if key not in latest or row.okey > latest[key].okey:
                latest[key] = row
        rows = list(latest.values())
    found = [row.worst for row in rows if row.worst is not None]
    return min(found, key=scan_shape.rank) if found else None


def at_or_above(session: Session, digests: Iterable[str], min_severity: str) -> set[str]:
    """Which of `digests` have a latest scan reporting `min_severity` or worse (from the
    `worst` column: no findings are read)."""
    bar = scan_shape.rank(min_severity)
    severe = [sev for sev in scan_shape.SEVERITIES if scan_shape.rank(sev) <= bar]
    wanted = sorted(set(digests))
    out: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        out.update(
            session.scalars(
                select(ScanFact.digest)
                .where(
                    ScanFact.digest.in_(wanted[start : start + _CHUNK]),
                    ScanFact.current.is_(True),
                    ScanFact.worst.in_(severe),
                )
                .distinct()
            )
        )
    return out


def vulnerable(summaries: Iterable[ScanSummary], min_severity: str) -> list[ScanSummary]:
    """The scans that report anything at or above `min_severity`."""
    bar = scan_shape.rank(min_severity)
    return [
        s
        for s in summaries
        if any(scan_shape.rank(sev) <= bar and n > 0 for sev, n in s.summary.items())
    ]


def combined(summaries: Iterable[ScanSummary]) -> dict[str, int] | None:
    """One summary for several scanners: per severity the largest count any reports
    (their findings overlap, so adding them up would count one CVE twice)."""
    out: dict[str, int] | None = None
    for s in summaries:
        out = out or dict.fromkeys(scan_shape.SEVERITIES, 0)
        for severity in scan_shape.SEVERITIES:
            out[severity] = max(out[severity], int(s.summary.get(severity, 0)))
    return out


def vulnerable_clause(digest_column: Any) -> Any:
    """SQL: the digest's latest scans report something (any scanner, any severity)."""
    return (
        select(ScanFact.id)
        .where(
            ScanFact.digest == digest_column,
            ScanFact.current.is_(True),
            ScanFact.worst.is_not(None),
        )
        .exists()
    )


def digests_listing(
    session: Session, vulnerability: str, *, as_of: datetime | None = None
) -> set[str]:
    """The digests whose latest scan (of any scanner) lists `vulnerability` (or lists one
    related to it), now or at `as_of`. Now is one indexed query; the past checks the
    digests any scan ever listed it for."""
    query = select(ScanVulnerability.digest).where(ScanVulnerability.vuln_id == vulnerability)
    if as_of is None:
        return set(session.scalars(query.where(ScanVulnerability.current.is_(True))))
    candidates = set(session.scalars(query.distinct()))
    out = set()
    for digest, summaries in latest_scans(session, candidates, as_of=as_of).items():
        for s in summaries:
            if any(vulnerability in (v["id"], *v.get("related", ())) for v in s.vulnerabilities):
                out.add(digest)
    return out


__all__ = [
    "SCAN_PROJECTION_TABLES",
    "ScanFact",
    "ScanSummary",
    "ScanVulnerability",
    "at_or_above",
    "combined",
    "digests_listing",
    "fact_row",
    "latest_scans",
    "record",
    "vulnerable",
    "vulnerable_clause",
    "worst_severity",
]
