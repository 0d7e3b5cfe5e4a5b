"""An artifact names the images built on it (`derived_images`), as they name it
(`base_images`), at any `as_of`."""

from __future__ import annotations

from datetime import timedelta

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.query import artifacts
from provenance.store import Database
from tests.factories import T0, delivery, digest, event

REPO = "reg.test/derived/app"
BASE, APP, OTHER = digest("derived-base"), digest("derived-app"), digest("derived-other")


def test_a_base_image_names_what_was_built_on_it(db: Database) -> None:
    pushes = [
        event("artifact.pushed", i, digest=d, repository=REPO)
        for i, d in enumerate((BASE, APP, OTHER))
    ]
    built_on = [
        event(
            "artifact.attested", 10 + i, digest=d, attributes={"dependencies": [{"digest": BASE}]}
        )
        for i, d in enumerate((APP, OTHER))
    ]
    ingest(db, delivery(*pushes, *built_on), SourceSecrets())
    ProjectionRunner(db).catch_up()
    with db.read() as s:
        base = artifacts.artifact(s, BASE)
        app = artifacts.artifact(s, APP)
        before = artifacts.artifact(s, BASE, as_of=T0 + timedelta(minutes=10.5))
    assert base.derived_images == sorted([APP, OTHER])
    assert app.base_images == [BASE] and app.derived_images == []
    assert before.derived_images == [APP]  # OTHER was built on it only later
