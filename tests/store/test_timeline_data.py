"""The timeline keeps each event in its canonical form (`Event.to_dict`), on both backends.

The projection takes that form from the log entry as it is when the entry holds it (every
entry appended now), and builds it again from the event when the entry holds an older form
(an explicit null, empty attributes, a time with an offset or without its microseconds'
trimming): the timeline is the same either way.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from provenance.ingest.service import ProjectionRunner, ingest_batch
from provenance.ingest.sources import SourceSecrets
from provenance.model.events import Event
from provenance.store import Database
from provenance.store.models import LogEntry, TimelineEvent
from tests.factories import delivery, digest, event

SECRETS = SourceSecrets()

# Older forms of one pull's JSON, each the same event once read.
OLDER: dict[str, Any] = {
    "a null field": {"tag": None},
    "empty attributes": {"attributes": {}},
    "a time with an offset": {"time": "2026-01-01T10:00:00+00:00"},
    "zero microseconds written out": {"time": "2026-01-01T10:00:00.000000Z"},
    "findings": {
        "type": "artifact.scanned",
        "scanner": "trivy",
        "vulnerabilities": [{"id": "CVE-2026-1", "severity": "high"}],
        "summary": {"high": 1},
    },
}


def _pull(**fields: Any) -> dict[str, Any]:
    base = event("artifact.pulled", digest=digest("d"), repository="r.io/app", actor="node-1")
    return base | {"time": "2026-01-01T10:00:00Z"} | fields


def _timeline(db: Database) -> list[dict[str, Any]]:
    with db.read() as session:
        return [dict(d) for d in session.scalars(select(TimelineEvent.data))]


@pytest.mark.parametrize("form", sorted(OLDER))
def test_an_older_form_in_the_log_gives_the_canonical_timeline(db: Database, form: str) -> None:
    written = _pull(**OLDER[form])
    assert ingest_batch(db, [delivery(written)], SECRETS).entries == 1
    canonical = Event.from_dict(written).to_dict()
    # The log holds the canonical form; put the older one there, as an older version wrote.
    with db.write() as session:
        session.execute(update(LogEntry).values(events=[written]))
    ProjectionRunner(db).catch_up()
    assert _timeline(db) == [canonical]
    if form != "findings":
        assert canonical != written  # the form differed, and the projection normalized it


def test_the_canonical_form_is_stored_as_the_log_holds_it(db: Database) -> None:
    written = _pull(attributes={"method": "GET"}, client="10.0.0.1")
    assert ingest_batch(db, [delivery(written)], SECRETS).entries == 1
    ProjectionRunner(db).catch_up()
    with db.read() as session:
        (held,) = session.scalars(select(LogEntry.events)).one()
    assert _timeline(db) == [held] == [Event.from_dict(written).to_dict()]
