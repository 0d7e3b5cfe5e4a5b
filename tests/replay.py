"""Feeding a database a stream of events, as the arrival-order properties do: an emptied
database between examples, then the events posted in chunks with the projection between."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.model.hashchain import GENESIS
from provenance.store import Database
from provenance.store.models import Base, LogHead
from tests.factories import delivery


def wipe(db: Database) -> None:
    """Every table emptied and the log back at its genesis (cheaper than a new database)."""
    with db.write() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(delete(table))
        s.add(LogHead(id=1, seq=0, hash=GENESIS))


def post(
    db: Database,
    events: list[dict[str, Any]],
    *,
    chunk: int,
    batch: int = 200,
    project_every: int = 1,
) -> None:
    """`chunk` events per delivery; the projection (`batch` entries per transaction) runs
    after every `project_every`-th delivery, counting from the first, and at the end."""
    runner = ProjectionRunner(db, batch=batch)
    for index, start in enumerate(range(0, len(events), chunk)):
        ingest(db, delivery(*events[start : start + chunk]), SourceSecrets())
        if index % project_every == 0:
            runner.catch_up()
    runner.catch_up()
