"""Which verdict holds: the one rule for a signature's or attestation's verdicts.

    holding(verdicts, as_of=None) -> verdict | None          of one event's verdicts
    holding_per_event(verdicts, as_of=None) -> {event_id: verdict}
    order(verdict) -> sort key                                 the order the rule uses

A signed/attested event (one subject digest) collects verdicts: the one reached on arrival
and one per `provenance trust reverify`. The verdict that holds as of a moment is the
latest reached by then, by the time it was reached (`evaluated_at`), then by log entry
(`seq`), then a reverification over an arrival reached at the same instant, then the row
id. Never by arrival in the table alone: a rebuild re-inserts the arrival verdicts after
the reverifications it keeps, and that must not bring the old verdict back.

`provenance.store.evidence` applies the same order in SQL (`holding_ids`); this is the
reference its tests compare it to.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeVar


class Origin(StrEnum):
    """How a verdict was reached: on arrival (derived from the log, rebuilt with it) or by
    a later `provenance trust reverify` (appended, kept across rebuilds)."""

    ARRIVAL = "arrival"
    REVERIFY = "reverify"


#: Among verdicts reached at the same instant, the later judgement wins.
ORIGIN_RANK: dict[str, int] = {Origin.ARRIVAL: 0, Origin.REVERIFY: 1}


class Judged(Protocol):
    """What the rule reads of a verdict (`store.evidence.EvidenceRow` has it)."""

    @property
    def id(self) -> int: ...
    @property
    def event_id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def evaluated_at(self) -> datetime: ...
    @property
    def origin(self) -> str: ...


V = TypeVar("V", bound=Judged)


def order(v: Judged) -> tuple[datetime, int, int, int]:
    """The rule's order: later sorts last."""
    return (v.evaluated_at, v.seq, ORIGIN_RANK.get(v.origin, 0), v.id)


def holding(verdicts: Iterable[V], *, as_of: datetime | None = None) -> V | None:
    """The verdict that holds (as of `as_of`: reached by then) among one event's verdicts."""
    reached = [v for v in verdicts if as_of is None or v.evaluated_at <= as_of]
    return max(reached, key=order, default=None)


def holding_per_event(verdicts: Iterable[V], *, as_of: datetime | None = None) -> dict[str, V]:
    """`holding` for each event the verdicts are about."""
    out: dict[str, V] = {}
    for v in verdicts:
        if as_of is not None and v.evaluated_at > as_of:
            continue
        known = out.get(v.event_id)
        if known is None or order(v) > order(known):
            out[v.event_id] = v
    return out


__all__ = ["ORIGIN_RANK", "Judged", "Origin", "holding", "holding_per_event", "order"]
