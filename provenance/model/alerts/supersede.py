"""When an alert is new, stays, comes back or is superseded: the rule `store.alerting`
carries out on the rows.

A scope derived again states every finding its history implies now. A finding already
stored stays (same row, same id: nothing is sent twice); a new one is inserted; a stored
one that no longer holds is kept, marked superseded, with the stored keys of its scope's
new findings (what replaced it); a superseded one that holds again is revived. A stored
key is the rule's key plus a fingerprint of what the finding asserts, so a rebuild or any
arrival order stores the same keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from provenance.model.alerts.kinds import Finding, Raised
from provenance.model.timeutil import format_time


def stored_key(finding: Finding) -> str:
    what = orjson.dumps(
        [
            finding.kind.value,
            format_time(finding.time),
            finding.digest,
            finding.repository,
            finding.details,
        ],
        option=orjson.OPT_SORT_KEYS,
    )
    return f"{finding.key}@{hashlib.sha256(what).hexdigest()[:12]}"


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored alert of a scope being derived again."""

    id: int
    key: str
    scope: str
    superseded: bool


@dataclass(frozen=True, slots=True)
class Plan:
    new: dict[str, Raised]  # stored key -> the finding to insert, earliest first
    revived: list[int]  # ids of superseded alerts that hold again
    stale: list[tuple[int, list[str]]]  # (id, superseded_by) of alerts no longer holding


def plan(existing: Sequence[Stored], raised: Sequence[Raised]) -> Plan:
    """What to do with the stored alerts of the scopes derived again (`existing`), given
    every finding they imply now (`raised`). Of two findings with one stored key, the
    earlier is kept (stable: rule order on ties)."""
    desired: dict[str, Raised] = {}
    for r in sorted(raised, key=lambda r: r.finding.time):
        desired.setdefault(stored_key(r.finding), r)
    stored = {s.key for s in existing}
    new = {key: r for key, r in desired.items() if key not in stored}
    fresh_by_scope: dict[str, list[str]] = {}
    for key, r in new.items():
        fresh_by_scope.setdefault(r.scope, []).append(key)
    return Plan(
        new=new,
        revived=[s.id for s in existing if s.key in desired and s.superseded],
        stale=[
            (s.id, sorted(fresh_by_scope.get(s.scope, [])))
            for s in existing
            if s.key not in desired and not s.superseded
        ],
    )


__all__ = ["Plan", "Stored", "plan", "stored_key"]
