"""The rules and the store agree: an attested build's edges say what its evidence row says."""

from __future__ import annotations

from typing import Any

import pytest

from provenance.model.events import Event
from provenance.model.graph_rules import Context, EdgeFact, EvidenceFact, facts_of
from provenance.model.kinds import EdgeKind
from provenance.store import evidence
from tests.factories import digest, event

VERDICTS: list[Any] = [None, {"verified": True}, {"verified": False}, {}, "yes", {"verified": 1}]


@pytest.mark.parametrize("verdict", VERDICTS)
@pytest.mark.parametrize("source", [evidence.VERIFYING_SOURCE, "cosign-bot"])
@pytest.mark.parametrize("entry_source", [evidence.VERIFYING_SOURCE, "events"])
def test_an_attested_builds_edges_carry_the_evidence_rows_verdict(
    verdict: Any, source: str, entry_source: str
) -> None:
    attributes = {"verdict": verdict} if verdict is not None else {}
    raw = event(
        "artifact.attested",
        0,
        digest=digest("a"),
        source=source,
        build="run-1",
        attributes=attributes,
    )
    e = Event.from_dict(raw)
    context = Context(entry_source, verifies=entry_source == evidence.VERIFYING_SOURCE)
    facts = facts_of(3, e, context)
    (said,) = [f for f in facts if isinstance(f, EvidenceFact)]
    row = evidence.values_for(3, e, origin="arrival", trusted_source=said.trusted)
    (produced,) = [f for f in facts if isinstance(f, EdgeFact) and f.kind is EdgeKind.PRODUCED]
    assert produced.attrs["verified"] is row["verified"]
    # the projection's own trust rule, as the store states it
    assert said.trusted is (entry_source == evidence.VERIFYING_SOURCE == source)
