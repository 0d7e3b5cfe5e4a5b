"""The hash chain of the event log, as pure functions over plain values.

Each entry commits to the previous entry's hash, to the sha256 of the exact bytes
received, and to the canonical JSON of the events accepted from them. Changing any
stored byte, reordering, or dropping an entry breaks every later hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import rfc8785

from provenance.model.timeutil import format_time

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class EntryContent:
    """Everything an entry's hash covers, in the form it is stored."""

    seq: int
    received_at: datetime
    source: str
    content_type: str
    params: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    events: Sequence[Mapping[str, Any]]


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def entry_hash(prev_hash: str, content: EntryContent) -> str:
    """sha256 over the RFC 8785 canonical JSON of the entry and its predecessor's hash."""
    document: dict[str, Any] = {
        "prev": prev_hash,
        "seq": content.seq,
        "received_at": format_time(content.received_at),
        "source": content.source,
        "content_type": content.content_type,
        "params": dict(content.params),
        "headers": dict(content.headers),
        "body_sha256": body_digest(content.body),
        "events_sha256": hashlib.sha256(canonical_json(list(content.events))).hexdigest(),
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


_SAFE_INTEGER = 2**53 - 1  # RFC 8785 numbers are IEEE 754 doubles


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 (JCS) serialization of `value`, byte for byte.

    For JSON made only of objects with ASCII keys, arrays, strings, booleans, null and
    integers within +-(2**53 - 1), which is what events are, orjson with sorted keys writes
    exactly the JCS bytes (same string escapes, UTF-8 as is, code-point order equals UTF-16
    order for ASCII keys), about 50 times faster than the reference implementation. Anything
    else (floats, larger integers, non-ASCII keys, what orjson refuses) goes through
    `rfc8785.dumps`. tests/model/test_canonical_json.py checks the two agree."""
    if _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # e.g. a lone surrogate: let the reference implementation say what is wrong
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    # Exact types first, strings skipped without a call: this runs over every value of
    # every event appended (a subclass, e.g. a StrEnum, takes the general checks below).
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return bool(-_SAFE_INTEGER <= value <= _SAFE_INTEGER)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return False
            if type(item) is not str and not _plain(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(type(item) is str or _plain(item) for item in value)
    if isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False


__all__ = ["GENESIS", "EntryContent", "body_digest", "canonical_json", "entry_hash"]
