"""Signed checkpoints of the audit log, and the proof that today's log extends one.

    make(session, signer) -> dict              {entries, head, time, signature}
    open_checkpoint(doc, public_pem) -> Checkpoint   the signed fields, once verified
    extends(session, checkpoint) -> Consistency      is the current log that log, continued?

A checkpoint's `signature` is a DSSE envelope (payload type `PAYLOAD_TYPE`, signed like
exports) over the RFC 8785 canonical JSON of `{"entries", "head", "time"}`. Because every
entry hash covers its predecessor's, the current log extends a checkpoint exactly when
its chain is intact and its entry number `entries` still has the hash `head`: nothing at
or before that entry can have been rewritten, dropped or reordered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import rfc8785

from provenance.model.errors import InvalidPayload
from provenance.model.hashchain import GENESIS
from provenance.model.timeutil import format_time, parse_time, utcnow
from provenance.store import Session, log
from provenance.trust.attestations import ServiceSigner, open_envelope

PAYLOAD_TYPE = "application/vnd.provenance.checkpoint.v1+json"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    entries: int
    head: str
    time: datetime


@dataclass(frozen=True, slots=True)
class Consistency:
    ok: bool
    checkpoint: Checkpoint
    entries: int  # in the log now
    head: str  # the log's head now
    reason: str | None = None


def make(session: Session, signer: ServiceSigner, *, now: datetime | None = None) -> dict[str, Any]:
    seq, head = log.head(session)
    body: dict[str, Any] = {"entries": seq, "head": head, "time": format_time(now or utcnow())}
    return {**body, "signature": signer.envelope(PAYLOAD_TYPE, rfc8785.dumps(body))}


def open_checkpoint(doc: Mapping[str, Any], public_pem: str | bytes) -> Checkpoint:
    """Verify the checkpoint's signature with `public_pem`; the signed fields must be the
    ones shown next to it."""
    envelope = doc.get("signature")
    if not isinstance(envelope, Mapping):
        raise InvalidPayload("a checkpoint has a `signature` (a DSSE envelope)")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise InvalidPayload(f"the checkpoint signature's payloadType is not {PAYLOAD_TYPE}")
    try:
        signed = orjson.loads(open_envelope(envelope, public_pem))
        cp = Checkpoint(int(signed["entries"]), str(signed["head"]), parse_time(signed["time"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidPayload(f"the signed checkpoint is malformed: {exc}") from exc
    shown = (doc.get("entries"), doc.get("head"), doc.get("time"))
    if shown != (cp.entries, cp.head, format_time(cp.time)):
        raise InvalidPayload("the checkpoint's fields differ from the ones it signed")
    return cp


def extends(session: Session, cp: Checkpoint) -> Consistency:
    result = log.verify(session)
    if not result.ok:
        return Consistency(
            False,
            cp,
            result.entries,
            result.head,
            f"the log is broken at entry {result.first_bad_seq}: {result.reason}",
        )
    if result.entries < cp.entries:
        return Consistency(
            False,
            cp,
            result.entries,
            result.head,
            f"the log has {result.entries} entries, fewer than the {cp.entries} checkpointed",
        )
    if cp.entries == 0:
        there = GENESIS
    else:
        rows = log.entries(session, after=cp.entries - 1, limit=1)
        there = rows[0].hash if rows and rows[0].seq == cp.entries else ""
    if there != cp.head:
        return Consistency(
            False,
            cp,
            result.entries,
            result.head,
            f"entry {cp.entries} now has hash {there or '(none)'}, the checkpoint says "
            f"{cp.head}: the log was rewritten at or before it",
        )
    return Consistency(True, cp, result.entries, result.head)


__all__ = ["PAYLOAD_TYPE", "Checkpoint", "Consistency", "extends", "make", "open_checkpoint"]
