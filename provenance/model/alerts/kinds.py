"""The alert vocabulary: the kinds, a finding and what raised it, the severity threshold.

A `Finding` is what a rule concludes (its `key` is the rule's identity of it: one per
tag move, per deployment, per delete, per puller, per running placement of a vulnerable
digest). A `Raised` is a finding with the scope whose history implies it (a tag, a
workload, a digest's deletes, a digest's scans, a puller) and the log entries behind it:
the scope is what is derived again together, and what supersedes within.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from provenance.model import scan_shape


class AlertKind(StrEnum):
    TAG_MOVED = "tag_moved"
    UNSIGNED_DEPLOYED = "unsigned_deployed"
    UNATTESTED_DEPLOYED = "unattested_deployed"
    DELETED_WHILE_DEPLOYED = "deleted_while_deployed"
    NEW_PULLER = "new_puller"
    VULNERABLE_DEPLOYED = "vulnerable_deployed"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: AlertKind
    key: str
    time: datetime
    digest: str | None
    repository: str | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Raised:
    """A finding, the scope whose history implies it, and the log entries behind it."""

    scope: str
    finding: Finding
    events: tuple[int, ...]


#: The severities, worst first, a threshold may name (`PROVENANCE_ALERT_MIN_SEVERITY`).
SEVERITIES = scan_shape.SEVERITIES
#: Only what a scan reports as critical raises `vulnerable_deployed`, unless told otherwise.
DEFAULT_MIN_SEVERITY = "critical"


def at_or_above(severity: str, min_severity: str) -> bool:
    """Is `severity` as bad as the threshold, or worse?"""
    return scan_shape.rank(severity) <= scan_shape.rank(min_severity)


__all__ = [
    "DEFAULT_MIN_SEVERITY",
    "SEVERITIES",
    "AlertKind",
    "Finding",
    "Raised",
    "at_or_above",
]
