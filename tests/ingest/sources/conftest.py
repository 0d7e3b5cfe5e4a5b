"""Shared helpers for the source adapter tests: sample loading and hypothesis strategies.

Everything is exposed as session-scoped fixtures so hypothesis tests can use them too
(function-scoped fixtures and @given do not mix).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import strategies as st

from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.ingest.sources._common import SHAPE_ERROR_PREFIX
from provenance.model.errors import RejectedInput
from provenance.model.events import Event
from tests.conftest import SAMPLES, need

RECEIVED_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def headers_path(sample: Path) -> Path:
    """`x.json` and `x.body.json` both take their headers from `x.headers.json`."""
    stem = sample.name.removesuffix(".json").removesuffix(".body")
    return sample.with_name(f"{stem}.headers.json")


def content_type_of(headers: Mapping[str, str], default: str) -> str:
    value = headers.get("content-type", default)
    return value.split(";", 1)[0].strip().lower()


@pytest.fixture(scope="session")
def samples() -> Path:
    need(SAMPLES.is_dir(), f"samples not found at {SAMPLES}")
    return SAMPLES


@pytest.fixture(scope="session")
def load_delivery(samples: Path) -> Callable[..., Delivery]:
    """`load_delivery(source, "harbor/push-artifact.json", content_type=None, ...)`.

    Headers come from the sample's `.headers.json` (names lower-cased); the content type
    from those headers, else `content_type`, else application/json.
    """

    def load(
        source: str,
        relative: str,
        *,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Delivery:
        path = samples / relative
        need(path.is_file(), f"sample {relative} is absent")
        found: dict[str, str] = {}
        hpath = headers_path(path)
        if hpath.is_file():
            found = {k.lower(): str(v) for k, v in json.loads(hpath.read_text()).items()}
        found.update({k.lower(): v for k, v in (headers or {}).items()})
        return Delivery(
            source=source,
            body=path.read_bytes(),
            received_at=RECEIVED_AT,
            content_type=content_type_of(found, content_type or "application/json"),
            headers=found,
            params=dict(params or {}),
        )

    return load


@pytest.fixture(scope="session")
def sample_json(samples: Path) -> Callable[[str], Any]:
    def load(relative: str) -> Any:
        return json.loads((samples / relative).read_bytes())

    return load


@pytest.fixture(scope="session")
def make_delivery() -> Callable[..., Delivery]:
    """`make_delivery(source, body, content_type=..., headers=..., params=...)`; dict bodies
    are JSON-encoded."""

    def make(
        source: str,
        body: bytes | Any,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Delivery:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Delivery(
            source=source,
            body=raw,
            received_at=RECEIVED_AT,
            content_type=content_type,
            headers={k.lower(): v for k, v in (headers or {}).items()},
            params=dict(params or {}),
        )

    return make


# --- hypothesis -------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    # values that look like what the adapters look for, so mutations hit the deep paths
    | st.sampled_from(["sha256:" + "a" * 64, "sha256:xyz", "push", "pull", "", "v1.4.2"])
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="session")
def json_values() -> st.SearchStrategy[Any]:
    return JSON_VALUES


def _mutate_once(data: st.DataObject, node: Any) -> Any:
    if isinstance(node, dict) and node:
        key = data.draw(st.sampled_from(sorted(node)))
        action = data.draw(st.sampled_from(["descend", "descend", "drop", "replace"]))
        if action == "drop":
            del node[key]
        elif action == "replace":
            node[key] = data.draw(JSON_VALUES)
        else:
            node[key] = _mutate_once(data, node[key])
        return node
    if isinstance(node, list) and node:
        index = data.draw(st.integers(0, len(node) - 1))
        action = data.draw(st.sampled_from(["descend", "drop", "replace"]))
        if action == "drop":
            del node[index]
        elif action == "replace":
            node[index] = data.draw(JSON_VALUES)
        else:
            node[index] = _mutate_once(data, node[index])
        return node
    # a leaf: half the time keep its JSON type, so the deeper paths are reached too
    return data.draw(_same_kind(node) | JSON_VALUES)


def _same_kind(node: Any) -> st.SearchStrategy[Any]:
    if isinstance(node, bool):
        return st.booleans()
    if isinstance(node, int):
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    if isinstance(node, float):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(node, str):
        return st.text(max_size=30) | st.just(node.upper()) | st.just(node[: len(node) // 2])
    return JSON_VALUES


@pytest.fixture(scope="session")
def mutate() -> Callable[[st.DataObject, Any], Any]:
    """`mutate(data, doc)`: a deep copy of `doc` with 1-3 keys dropped or replaced."""

    def run(data: st.DataObject, doc: Any) -> Any:
        doc = copy.deepcopy(doc)
        for _ in range(data.draw(st.integers(1, 3))):
            doc = _mutate_once(data, doc)
        return doc

    return run


@pytest.fixture(scope="session")
def check_total() -> Callable[..., list[Event]]:
    """Run an adapter and assert the property: valid events, or a deliberate RejectedInput."""

    def run(
        normalize: Callable[[Delivery, SourceSecrets], list[Event]],
        delivery: Delivery,
        secrets: SourceSecrets | None = None,
    ) -> list[Event]:
        try:
            events = normalize(delivery, secrets or SourceSecrets())
        except RejectedInput as exc:
            # The adapter's safety net fired: a shape it should have checked itself.
            assert not exc.detail.startswith(SHAPE_ERROR_PREFIX), exc.detail
            return []
        assert isinstance(events, list)
        for event in events:
            assert isinstance(event, Event)
            assert event.validate() is event
            # the canonical JSON form round-trips (attributes are JSON values only)
            assert Event.from_dict(orjson.loads(orjson.dumps(event.to_dict()))) == event
        return events

    return run
