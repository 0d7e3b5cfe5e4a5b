"""Logging set-up for entrypoints: JSON lines in production, readable text on a terminal.

Libraries only call `logging.getLogger(__name__)`; `configure_logging` is called once by
the CLI, before anything is printed. Fields passed as `extra=` become JSON keys (and
`key=value` pairs on the console). `bound(request_id=..., topic=...)` attaches fields to
every line logged inside it, in this task or thread (contextvars: asyncio tasks and
FastAPI's threadpool copy them), so one request's lines carry its request id.

Entry points: `configure_logging`, `bound`, `current`, `redact`, `RedactingFilter`,
`ContextFilter`, `JsonFormatter`, `ConsoleFormatter`.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from pythonjsonlogger.orjson import OrjsonFormatter

# Record attributes that are not context: the standard ones, and uvicorn's ANSI-coloured copy.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
}


# `?token=` (Docker Hub and Quay webhook URLs) is a credential: never in a log line.
_URL_TOKEN = re.compile(r"([?&]token=)[^&\s\"']*")


def redact(text: str) -> str:
    return _URL_TOKEN.sub(r"\1[redacted]", text)


class RedactingFilter(logging.Filter):
    """Rewrites every record's message (and string arguments, such as uvicorn's access
    log path) with credentials in URLs redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(a) for a in record.args)
        return True


def _redacted(arg: object) -> object:
    # httpx logs its URL objects as arguments: their text carries the query string too.
    if isinstance(arg, str):
        return redact(arg)
    if not isinstance(arg, int | float | bool | type(None)) and "token=" in str(arg):
        return redact(str(arg))
    return arg


_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "provenance_log_context", default=None
)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Every record logged inside the block (this task/thread) carries `fields`."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current() -> dict[str, Any]:
    """The fields bound here (e.g. the request id of the request being served)."""
    return dict(_CONTEXT.get() or {})


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (a field passed as `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_CONTEXT.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


def _utc(record: logging.LogRecord) -> str:
    """RFC 3339 in UTC with its offset, to the millisecond: lines from hosts in other
    time zones sort and compare as they are."""
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(OrjsonFormatter):
    """python-json-logger's orjson formatter with this service's field names: `time`
    (`_utc`), `level` (lower case), `logger`, `message`, the extras, `exception`."""

    def __init__(self) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
            },
            reserved_attrs=sorted(_STANDARD),
            json_default=str,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc(record)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data["level"] = str(log_data["level"]).lower()
        return log_data


class ConsoleFormatter(logging.Formatter):
    """One readable line: time, level, logger, message, then the extras as key=value
    (a quarantine line shows its source and reason, as the JSON line does)."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={_value(v)}" for k, v in _extras(record).items())
        line = f"{_utc(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line = f"{line}  {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return orjson.dumps(text).decode() if not text or any(c in text for c in ' ="') else text


def configure_logging(
    level: str = "INFO", fmt: str = "auto", stream: IO[str] | None = None
) -> None:
    """Root logging to `stream` (stderr): JSON unless `fmt` is console or stderr a terminal."""
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


__all__ = [
    "ConsoleFormatter",
    "ContextFilter",
    "JsonFormatter",
    "RedactingFilter",
    "bound",
    "configure_logging",
    "current",
    "redact",
]
