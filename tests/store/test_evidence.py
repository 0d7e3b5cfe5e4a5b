"""`evidence.holding_ids` is `provenance.model.verdicts.holding` in SQL, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from provenance.model.verdicts import Origin, holding_per_event
from provenance.store import Database, evidence

T0 = datetime(2026, 3, 9, 14, 8, tzinfo=UTC)
D = "sha256:" + "ab" * 32

_rows = st.lists(
    st.tuples(
        st.sampled_from(("e1", "e2", "e3")),
        st.integers(1, 3),  # seq
        st.integers(0, 4),  # hours after T0
        st.sampled_from(tuple(Origin)),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=_rows, as_of_hours=st.one_of(st.none(), st.integers(0, 4)))
def test_the_sql_reader_applies_the_model_rule(
    db: Database, rows: list[tuple[str, int, int, Origin, bool]], as_of_hours: int | None
) -> None:
    values: list[dict[str, Any]] = [
        {
            "digest": D,
            "kind": "signature",
            "seq": seq,
            "event_id": event_id,
            "verified": verified,
            "key_id": None,
            "policy_sha256": None,
            "reason": None,
            "evaluated_at": T0 + timedelta(hours=hours),
            "origin": origin.value,
            "details": {},
        }
        for event_id, seq, hours, origin, verified in rows
    ]
    as_of = None if as_of_hours is None else T0 + timedelta(hours=as_of_hours)
    with db.write() as session:
        session.execute(delete(evidence.Evidence))
        evidence.add(session, values)
        expected = holding_per_event(evidence.history(session, D), as_of=as_of)
        found = evidence.latest_by_event(session, ["e1", "e2", "e3"], as_of=as_of)
        assert {k: v.id for k, v in found.items()} == {k: v.id for k, v in expected.items()}
        by_digest = evidence.latest_by_digest(session, [D], as_of=as_of)[D]
        assert sorted(v.id for v in by_digest) == sorted(v.id for v in expected.values())
        verified = evidence.verified_events(session, ["e1", "e2", "e3"], as_of=as_of)
        assert verified == {k for k, v in expected.items() if v.verified}
