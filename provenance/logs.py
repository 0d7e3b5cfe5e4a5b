"""Logging set-up for entrypoints: JSON lines in production, readable text on a terminal.

Libraries only call `logging.getLogger(__name__)`; `configure_logging` is called once by
the CLI. Fields passed as `extra=` become JSON keys.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import orjson

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
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if use_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


__all__ = ["JsonFormatter", "RedactingFilter", "configure_logging", "redact"]
