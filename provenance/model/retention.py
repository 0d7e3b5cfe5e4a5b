"""The retention rules: which digests of a repository are safe to delete, and why not.

Pure: the store (`provenance.store.retention.gather`) collects each digest's facts as the
graph stood at `as_of`; `judge` applies the rules and `Report` is the answer.

    Window(unused_since, as_of)                    the question (checked times)
    judge(repository, facts, window) -> Report      the verdicts

A digest of the repository is `keep` when any reason applies, else `delete`:

* `tagged`: a tag of the repository points at it (at `as_of`);
* `deployed_now`: a workload runs it (at `as_of`);
* `deployed_since`: a deployment of it was running at some moment since `unused_since`;
* `pulled_since`: pulled at or after `unused_since`;
* `base_of_kept`: it is the base image of a digest that is kept;
* `evidence_of_kept`: it is a signature, attestation or SBOM (a referrer) of a digest kept.

"Kept" is a fixpoint over every digest the relations reach, in any repository: a digest is
kept when it is tagged anywhere, running, deployed or pulled since `unused_since`, or when
a digest it is the base or the evidence of is kept. So the base of the base of a running
digest is kept, and so is the signature of that base. Without `unused_since`, any pull or
deployment up to `as_of` keeps (nothing is "unused since" an unnamed time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from provenance.model.errors import InvalidQuery

Verdict = Literal["keep", "delete"]
VERDICTS: tuple[Verdict, ...] = ("keep", "delete")
REASONS = (
    "tagged",
    "deployed_now",
    "deployed_since",
    "pulled_since",
    "base_of_kept",
    "evidence_of_kept",
)


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidQuery(f"{name} needs a UTC offset (RFC 3339, e.g. 2026-01-31T12:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 at +01:00, year 9999 at -01:00: the ends of time
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """`as_of` None: the graph as it stands now (open intervals). An `unused_since` after
    `as_of` is no error: nothing known by `as_of` happened since, so only what holds at
    `as_of` keeps (a deployment still running then counts as running since)."""

    unused_since: datetime | None = None
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        since = _utc(self.unused_since, "unused_since")
        as_of = _utc(self.as_of, "as_of")
        object.__setattr__(self, "unused_since", since)
        object.__setattr__(self, "as_of", as_of)

    def open_at_end(self, until: datetime | None) -> bool:
        """Whether an interval that began by `as_of` (the store keeps only those) still
        held at `as_of`."""
        return until is None or (self.as_of is not None and until > self.as_of)

    def since_start(self, until: datetime | None) -> bool:
        """Whether an interval that began by `as_of` held at some moment since
        `unused_since`."""
        return until is None or self.unused_since is None or until > self.unused_since


@dataclass(frozen=True, slots=True)
class Interval:
    """A tag held (`name` set) or a deployment ran from `since` until `until`."""

    since: datetime
    until: datetime | None
    repository: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class DigestFacts:
    """What the graph says of one digest up to `as_of`: only intervals begun by then."""

    digest: str
    in_repository: bool  # a digest of the repository asked about (else reached through it)
    first_seen: datetime | None = None
    tags: tuple[Interval, ...] = ()
    deployments: tuple[Interval, ...] = ()
    last_pull: datetime | None = None
    base_of: frozenset[str] = frozenset()  # digests built on this one
    evidence_of: frozenset[str] = frozenset()  # digests this one signs or attests
    deleted: bool = False  # deleted as of `as_of`: not listed


@dataclass(frozen=True, slots=True)
class Item:
    """One digest's verdict; its fields, in order, are the CSV export's columns."""

    digest: str
    verdict: Verdict
    reasons: list[str]
    tags: list[str]
    last_pull: datetime | None
    last_deployed: datetime | None
    first_seen: datetime | None
    base_of: list[str]  # the kept digests it is the base of
    evidence_of: list[str]  # the kept digests it is the evidence of


@dataclass(frozen=True, slots=True)
class Report:
    repository: str
    unused_since: datetime | None
    as_of: datetime | None
    items: list[Item]
    summary: dict[str, int]
    already_deleted: int  # digests of the repository deleted by `as_of`: not listed


def _own_reasons(f: DigestFacts, window: Window, *, repository: str | None) -> list[str]:
    """The reasons of a digest itself; `repository` None counts a tag of any repository."""
    tagged = any(
        window.open_at_end(t.until) and (repository is None or t.repository == repository)
        for t in f.tags
    )
    reasons = ["tagged"] if tagged else []
    if any(window.open_at_end(d.until) for d in f.deployments):
        reasons.append("deployed_now")
    if any(window.since_start(d.until) for d in f.deployments):
        reasons.append("deployed_since")
    since = window.unused_since
    if f.last_pull is not None and (since is None or f.last_pull >= since):
        reasons.append("pulled_since")
    return reasons


def kept(facts: Mapping[str, DigestFacts], window: Window) -> set[str]:
    """Every digest kept: those with a reason of their own, then, to a fixpoint, the bases
    and the evidence of a kept digest."""
    keepers: dict[str, set[str]] = {}  # digest -> the digests that keep it when kept
    for f in facts.values():
        for dependent in f.base_of | f.evidence_of:
            keepers.setdefault(dependent, set()).add(f.digest)
    out = {d for d, f in facts.items() if _own_reasons(f, window, repository=None)}
    todo = list(out)
    while todo:
        for keeper in keepers.get(todo.pop(), ()):
            if keeper not in out:
                out.add(keeper)
                todo.append(keeper)
    return out


def judge(repository: str, facts: Iterable[DigestFacts], window: Window) -> Report:
    by_digest = {f.digest: f for f in facts}
    keeping = kept(by_digest, window)
    items: list[Item] = []
    deleted = 0
    for digest in sorted(d for d, f in by_digest.items() if f.in_repository):
        f = by_digest[digest]
        if f.deleted:
            deleted += 1
            continue
        reasons = _own_reasons(f, window, repository=repository)
        bases = sorted(f.base_of & keeping)
        evidence = sorted(f.evidence_of & keeping)
        if bases:
            reasons.append("base_of_kept")
        if evidence:
            reasons.append("evidence_of_kept")
        items.append(
            Item(
                digest=digest,
                verdict="keep" if reasons else "delete",
                reasons=reasons,
                tags=sorted(
                    {
                        str(t.name)
                        for t in f.tags
                        if t.repository == repository and window.open_at_end(t.until)
                    }
                ),
                last_pull=f.last_pull,
                last_deployed=max((d.since for d in f.deployments), default=None),
                first_seen=f.first_seen,
                base_of=bases,
                evidence_of=evidence,
            )
        )
    summary: dict[str, int] = dict.fromkeys(VERDICTS, 0)
    for item in items:
        summary[item.verdict] += 1
    return Report(repository, window.unused_since, window.as_of, items, summary, deleted)


__all__ = [
    "REASONS",
    "VERDICTS",
    "DigestFacts",
    "Interval",
    "Item",
    "Report",
    "Verdict",
    "Window",
    "judge",
    "kept",
]
