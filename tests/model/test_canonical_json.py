"""The fast canonical JSON of the hash chain is RFC 8785, byte for byte (else old logs
would stop verifying and outside verifiers would disagree)."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.model.hashchain import canonical_json

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["\x00", "\x1f", "\x7f", "\u2028", "é", "😀", '"\\/', "\ud800"])
)
_keys = st.text(max_size=8) | st.sampled_from(["a", "b", "é", "😀", "\uff01", "A", "_"])
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=30,
)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except Exception as exc:
        return type(exc)


def _ours(value: Any) -> bytes | type[Exception]:
    try:
        return canonical_json(value)
    except Exception as exc:
        return type(exc)


@settings(max_examples=1500)
@given(_json)
def test_same_bytes_as_the_reference_implementation(value: Any) -> None:
    assert _ours(value) == _reference(value)


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, None, -5, 2**53 - 1]},
        {"é": 1, "e": 2, "😀": 3, "\uff01": 4},  # non-ASCII keys: UTF-16 order
        [2**53, -(2**53)],  # outside the safe integers: the reference refuses
        [1.0, 1e21, 5e-324, -0.0],  # floats: ECMAScript formatting
        "\x00\x08\x09\x0a\x0c\x0d\x1f\x7f\u2028/",
    ],
)
def test_edge_cases(value: Any) -> None:
    assert _ours(value) == _reference(value)
