"""The longest values the edge accepts project, on both backends: a 202 is a promise that
the delivery projects, so what the projection derives from accepted values (the id of a
derived `tag.updated`, an alert's key, a signing key's node and evidence) must fit the
store too. PostgreSQL enforces column lengths; SQLite does not."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.model import limits
from provenance.model.errors import InvalidPayload
from provenance.store import Database, projection
from provenance.store.alert_models import AlertRow
from provenance.store.evidence import Evidence
from provenance.store.models import Node, TimelineEvent
from tests.factories import delivery, digest, event

SECRETS = SourceSecrets()
REPO = "r.io/" + "a" * (limits.REPOSITORY - len("r.io/"))


def _project(db: Database, *events: dict[str, Any]) -> None:
    for e in events:
        ingest(db, delivery(e), SECRETS)
    ProjectionRunner(db).catch_up()


def _nothing_set_aside(db: Database) -> None:
    with db.read() as session:
        assert projection.lag(session) == 0
        assert projection.set_aside(session) == 0


def test_a_tag_moved_by_an_event_with_the_longest_id_projects(db: Database) -> None:
    first, second = "p" * limits.EVENT_ID, "q" * limits.EVENT_ID
    _project(
        db,
        event("artifact.pushed", 0, id=first, digest=digest("1"), repository=REPO, tag="v1"),
        event("artifact.pushed", 1, id=second, digest=digest("2"), repository=REPO, tag="v1"),
    )
    _nothing_set_aside(db)
    with db.read() as session:
        ids = set(session.execute(select(TimelineEvent.event_id)).scalars())
        kinds = set(session.execute(select(AlertRow.kind)).scalars())
    assert ids == {first, second, f"{second}#tag.updated"}
    assert "tag_moved" in kinds


def test_a_new_puller_with_the_longest_repository_and_actor_projects(db: Database) -> None:
    actor = "b" * limits.ACTOR
    _project(
        db,
        event("artifact.pulled", 0, digest=digest("1"), repository=REPO, actor=actor),
    )
    _nothing_set_aside(db)
    with db.read() as session:
        (key,) = session.execute(select(AlertRow.key).where(AlertRow.kind == "new_puller"))
    # Per finding: the finding's key, then `@` and 12 hex digits of what it was derived from.
    assert key[0].startswith(f"new_puller:{REPO}:{actor}@")
    assert len(key[0]) == len(f"new_puller:{REPO}:{actor}@") + 12


def test_a_signing_key_is_refused_at_the_edge_when_the_store_cannot_hold_it(
    db: Database,
) -> None:
    longest = "k" * limits.KEY
    _project(db, event("artifact.signed", 0, digest=digest("1"), attributes={"key": longest}))
    _nothing_set_aside(db)
    with db.read() as session:
        assert session.execute(select(Evidence.key_id)).scalar_one() == longest
        assert session.get(Node, f"key:{longest}") is not None

    too_long = event("artifact.signed", 1, digest=digest("2"), attributes={"key": longest + "k"})
    with pytest.raises(InvalidPayload, match=r"attributes\.key has 301 characters"):
        ingest(db, delivery(too_long), SECRETS)
