"""What the store can hold, checked once at the edge so that a 202 always projects.

    check_delivery(delivery_meta)   content type and query parameters of a request
    check_event(event)              every field and attribute of one canonical event

Both raise `InvalidPayload` (or `UnsupportedMedia` for a content type) naming the first
value that does not fit. The API runs them before answering 202 and the worker runs the
same checks (through `sources.normalize_delivery`), so both modes refuse exactly the
same input. The numbers are the column sizes of `store.models` (which imports them) and
the limits of the hash chain's canonical JSON (RFC 8785 numbers are IEEE 754 doubles).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from provenance.model.errors import InvalidPayload, UnsupportedMedia
from provenance.model.events import Event, EventType

# Column sizes (store.models uses these very names).
EVENT_ID = 300
EVENT_SOURCE = 32
REPOSITORY = 300  # a reference's name is at most 255 characters, plus a host
TAG = 128  # the OCI distribution spec: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}
MEDIA_TYPE = 200
ACTOR = 300
CLIENT = 100
CONTENT_TYPE = 200
NODE_ID = 600  # node ids are `<kind>:<natural key>`: the fields below keep them under this
KEY = 300  # `attributes.key` of a signature or attestation: evidence.key_id, node `key:<key>`

FIELD_LIMITS: Mapping[str, int] = {
    "id": EVENT_ID,
    "source": EVENT_SOURCE,
    "digest": 71,
    "previous_digest": 71,
    "repository": REPOSITORY,
    "tag": TAG,
    "media_type": MEDIA_TYPE,
    "actor": ACTOR,
    "client": CLIENT,
    "user_agent": 1000,
    "commit": 64,
    "vcs_url": 1000,
    "build": 300,
    "builder": 300,
    "environment": 100,
    "cluster": 100,
    "namespace": 100,
    "workload": 280,  # deployment:<cluster>/<namespace>/<workload>/<container> <= NODE_ID
    "container": 100,
    "scanner": 100,
}

# `artifact.scanned`: a real report of a large image lists a few thousand findings.
MAX_VULNERABILITIES = 20_000
VULNERABILITY_ID = 200  # scan_vulnerabilities.vuln_id
MAX_RELATED = 50
FINDING_TEXT = 300  # package, version, fixed_version

SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32  # of an event's attributes; orjson writes at most 254 levels
MAX_PARAMS = 50
MAX_PARAM_LENGTH = 1000
# Years the database, RFC 3339 and every time zone conversion can represent.
MIN_YEAR, MAX_YEAR = 1, 9998


def check_delivery(content_type: str, params: Mapping[str, str]) -> None:
    """The request metadata that goes into the log beside the body."""
    if len(content_type) > CONTENT_TYPE or not content_type.isprintable():
        raise UnsupportedMedia(
            f"content type of {len(content_type)} characters is not one any source sends"
        )
    if len(params) > MAX_PARAMS:
        raise InvalidPayload(f"{len(params)} query parameters; at most {MAX_PARAMS} are kept")
    for key, value in params.items():
        for what, text in (("name", key), ("value", value)):
            if len(text) > MAX_PARAM_LENGTH:
                raise InvalidPayload(
                    f"query parameter {what} of {len(text)} characters; at most {MAX_PARAM_LENGTH}"
                )
            if "\x00" in text:
                raise InvalidPayload(f"query parameter {key[:40]!r} contains a NUL byte")


def check_event(event: Event) -> None:
    """Every value of `event` fits its column, its JSON and the hash chain."""
    for name, limit in FIELD_LIMITS.items():
        value = getattr(event, name)
        if value is None:
            continue
        if len(value) > limit:
            raise InvalidPayload(
                f"event {_id(event)}: {name} has {len(value)} characters; at most {limit}"
            )
        if "\x00" in value:
            raise InvalidPayload(f"event {_id(event)}: {name} contains a NUL byte")
    if event.size is not None and not 0 <= event.size <= SAFE_INTEGER:
        raise InvalidPayload(f"event {_id(event)}: size {event.size} is out of range")
    _check_time(event.time, event)
    _check_json(event.attributes, event, "attributes", 1)
    if event.type is EventType.ARTIFACT_SCANNED:
        _check_findings(event)
    key = event.attributes.get("key")
    if event.type in _SIGNED and isinstance(key, str) and len(key) > KEY:
        raise InvalidPayload(
            f"event {_id(event)}: attributes.key has {len(key)} characters; at most {KEY}"
        )


_SIGNED = (EventType.ARTIFACT_SIGNED, EventType.ARTIFACT_ATTESTED)  # the key is projected


def _check_findings(event: Event) -> None:
    vulnerabilities = event.vulnerabilities or ()
    withdrawn = event.attributes.get("withdrawn") or []
    for what, count in (("vulnerabilities", len(vulnerabilities)), ("withdrawn", len(withdrawn))):
        if count > MAX_VULNERABILITIES:
            raise InvalidPayload(
                f"event {_id(event)}: {count} {what}; at most {MAX_VULNERABILITIES}"
            )
    ids = [str(w) for w in withdrawn]
    finding = event.attributes.get("finding")
    if isinstance(finding, str):
        ids.append(finding)
    for index, item in enumerate(vulnerabilities):
        ids.append(str(item["id"]))
        related = item.get("related") or []
        if len(related) > MAX_RELATED:
            raise InvalidPayload(
                f"event {_id(event)}: vulnerabilities[{index}] has {len(related)} related ids; "
                f"at most {MAX_RELATED}"
            )
        ids.extend(related)
        for key in ("package", "version", "fixed_version"):
            text = item.get(key)
            if isinstance(text, str) and (len(text) > FINDING_TEXT or "\x00" in text):
                raise InvalidPayload(
                    f"event {_id(event)}: vulnerabilities[{index}].{key} is longer than "
                    f"{FINDING_TEXT} characters or contains a NUL byte"
                )
    for vid in ids:
        if len(vid) > VULNERABILITY_ID or "\x00" in vid or not vid.isprintable():
            raise InvalidPayload(
                f"event {_id(event)}: vulnerability id {vid[:40]!r} is longer than "
                f"{VULNERABILITY_ID} characters or not printable"
            )


def _check_time(value: datetime, event: Event) -> None:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidPayload(f"event {_id(event)}: time {value.year:04d}-... is out of range")


def _check_json(value: Any, event: Event, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidPayload(f"event {_id(event)}: {path} nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, Mapping):
        leaf = depth < MAX_DEPTH  # a text value one level down is checked here, in line
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                raise InvalidPayload(f"event {_id(event)}: {path} has a key with a NUL byte")
            if leaf and type(item) is str and "\x00" not in item:
                continue  # the usual value: no call, no path built
            _check_json(item, event, f"{path}.{key[:40]}", depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json(item, event, f"{path}[{index}]", depth + 1)
    elif isinstance(value, str):
        if "\x00" in value:
            raise InvalidPayload(f"event {_id(event)}: {path} contains a NUL byte")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -SAFE_INTEGER <= value <= SAFE_INTEGER:
            raise InvalidPayload(
                f"event {_id(event)}: {path} is an integer beyond 2^53, "
                "which JSON readers cannot represent exactly"
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidPayload(f"event {_id(event)}: {path} is not a finite number")
    else:
        raise InvalidPayload(f"event {_id(event)}: {path} is not a JSON value")


def _id(event: Event) -> str:
    """The event id as it may appear in a reason: short, and never with a NUL in it."""
    return repr(event.id[:80])


__all__ = [
    "ACTOR",
    "CLIENT",
    "CONTENT_TYPE",
    "EVENT_ID",
    "EVENT_SOURCE",
    "FIELD_LIMITS",
    "KEY",
    "MAX_DEPTH",
    "MAX_VULNERABILITIES",
    "MEDIA_TYPE",
    "NODE_ID",
    "REPOSITORY",
    "SAFE_INTEGER",
    "TAG",
    "check_delivery",
    "check_event",
]
