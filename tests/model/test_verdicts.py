"""The one verdict rule: the latest reached (by time, then seq), never the latest inserted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from provenance.model.verdicts import Origin, holding, holding_per_event, order

T0 = datetime(2026, 3, 9, 14, 8, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class V:
    id: int
    event_id: str
    seq: int
    evaluated_at: datetime
    origin: str
    verified: bool


def test_a_reverification_holds_whatever_its_row_id() -> None:
    reverified = V(1, "e", 7, T0 + timedelta(days=2), Origin.REVERIFY, False)
    arrival = V(2, "e", 7, T0, Origin.ARRIVAL, True)  # re-inserted by a rebuild: a higher id
    assert holding([arrival, reverified]) == reverified
    assert holding([arrival, reverified], as_of=T0 + timedelta(days=1)) == arrival
    assert holding([arrival, reverified], as_of=T0 - timedelta(seconds=1)) is None


def test_at_the_same_instant_the_reverification_wins_then_the_later_entry() -> None:
    arrival = V(5, "e", 3, T0, Origin.ARRIVAL, True)
    reverified = V(4, "e", 3, T0, Origin.REVERIFY, False)
    assert holding([arrival, reverified]) == reverified
    later_entry = V(1, "e", 9, T0, Origin.ARRIVAL, True)
    assert order(later_entry) > order(reverified)


def test_per_event() -> None:
    a1 = V(1, "a", 1, T0, Origin.ARRIVAL, True)
    a2 = V(3, "a", 1, T0 + timedelta(hours=1), Origin.REVERIFY, False)
    b1 = V(2, "b", 2, T0, Origin.ARRIVAL, True)
    assert holding_per_event([a2, b1, a1]) == {"a": a2, "b": b1}
    assert holding_per_event([a2, b1, a1], as_of=T0) == {"a": a1, "b": b1}
