from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.model.errors import InvalidPayload, ProvenanceError
from provenance.model.events import Event, EventType
from tests.factories import digest


def test_round_trip_keeps_every_field() -> None:
    e = Event(
        id="e1",
        type=EventType.ARTIFACT_PUSHED,
        time=datetime(2026, 3, 9, 14, 7, 41, 328512, tzinfo=UTC),
        source="distribution",
        digest=digest("a"),
        repository="registry.acme.io/acme/app",
        tag="v1",
        size=12,
        attributes={"request_id": "r1"},
    ).validate()
    assert Event.from_dict(e.to_dict()) == e
    assert e.to_dict()["time"] == "2026-03-09T14:07:41.328512Z"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"digest": "sha256:abc"}, "not sha256"),
        ({"digest": "md5:" + "a" * 64}, "not sha256"),
        ({"type": "artifact.exploded"}, "unknown event type"),
        ({"time": "yesterday"}, "RFC 3339"),
        ({"time": "2026-03-09T14:00:00"}, "UTC offset"),
        ({"colour": "red"}, "unknown event fields"),
        ({"size": "12"}, "integer"),
    ],
)
def test_bad_events_are_invalid_payload(fields: dict[str, object], message: str) -> None:
    data = {
        "id": "x",
        "type": "artifact.pushed",
        "time": "2026-03-09T14:00:00Z",
        "source": "t",
        "digest": digest("a"),
    } | fields
    with pytest.raises(InvalidPayload, match=message):
        Event.from_dict(data)


def test_types_name_their_required_fields() -> None:
    with pytest.raises(InvalidPayload, match="requires digest"):
        Event.from_dict(
            {"id": "x", "type": "artifact.pulled", "time": "2026-03-09T14:00:00Z", "source": "t"}
        )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["id", "type", "time", "source", "digest", "repository", "tag", "size", "attributes", "commit"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(field_names, json_values) | json_values)
def test_from_dict_never_crashes(data: object) -> None:
    try:
        Event.from_dict(data)
    except ProvenanceError as exc:
        assert isinstance(exc, InvalidPayload)
