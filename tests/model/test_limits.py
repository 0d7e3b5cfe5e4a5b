"""`limits.check_event` on attributes: a NUL byte anywhere, and nesting past MAX_DEPTH, are
refused whatever the value's place; text values one level down take a shortcut that must
say the same."""

from __future__ import annotations

from typing import Any

import pytest

from provenance.model.errors import InvalidPayload
from provenance.model.events import Event
from provenance.model.limits import MAX_DEPTH, check_event
from tests.factories import event


def _with(attributes: dict[str, Any]) -> Event:
    return Event.from_dict(event("change.merged", commit="a" * 40, attributes=attributes))


def _nested(depth: int, leaf: Any) -> dict[str, Any]:
    """attributes whose `leaf` sits at `depth` (attributes themselves are depth 1)."""
    value: Any = leaf
    for _ in range(depth - 1):
        value = {"k": value}
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("leaf", ["text", 7, None, True, ["text"]])
def test_a_value_at_the_deepest_level_allowed_passes(leaf: Any) -> None:
    depth = MAX_DEPTH if not isinstance(leaf, list) else MAX_DEPTH - 1
    check_event(_with(_nested(depth, leaf)))


@pytest.mark.parametrize("leaf", ["text", 7, None])
def test_a_value_one_level_deeper_is_refused(leaf: Any) -> None:
    with pytest.raises(InvalidPayload, match="nests deeper"):
        check_event(_with(_nested(MAX_DEPTH + 1, leaf)))


@pytest.mark.parametrize("depth", [2, 3, MAX_DEPTH])
def test_a_nul_byte_in_text_is_refused_at_any_depth(depth: int) -> None:
    with pytest.raises(InvalidPayload, match="NUL byte"):
        check_event(_with(_nested(depth, "bad\x00text")))
    with pytest.raises(InvalidPayload, match="NUL byte"):
        check_event(_with(_nested(max(depth - 1, 2), ["ok", "bad\x00"])))
