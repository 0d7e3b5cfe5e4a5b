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

import rfc8785

from provenance.timeutil import format_time

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
        "events_sha256": hashlib.sha256(rfc8785.dumps(list(content.events))).hexdigest(),
    }
    return hashlib.sha256(rfc8785.dumps(document)).hexdigest()


__all__ = ["GENESIS", "EntryContent", "body_digest", "entry_hash"]
