"""Parsing and rendering of the time formats sources use; everything becomes aware UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from provenance.model.errors import InvalidPayload

# Distribution writes nanoseconds and a local offset; Python's parser takes at most micro.
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_time(value: object, *, field: str = "time") -> datetime:
    """RFC 3339 text or unix seconds (int/float) -> aware UTC datetime."""
    if isinstance(value, bool):
        raise InvalidPayload(f"{field}: expected a time, got a boolean")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidPayload(f"{field}: {value!r} is not a valid unix time") from exc
    if not isinstance(value, str) or not value:
        raise InvalidPayload(f"{field}: expected an RFC 3339 time")
    text = _FRACTION.sub(lambda m: m.group(1), value.strip(), count=1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidPayload(f"{field}: {value!r} is not an RFC 3339 time") from exc
    if parsed.tzinfo is None:
        raise InvalidPayload(f"{field}: {value!r} has no UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InvalidPayload(f"{field}: {value!r} is out of range in UTC") from exc


def format_time(value: datetime) -> str:
    """Aware datetime -> RFC 3339 UTC with a Z and microseconds only when present."""
    utc = value.astimezone(UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = ["format_time", "parse_time", "utcnow"]
