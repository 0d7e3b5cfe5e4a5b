"""The shape of an `artifact.scanned` event's findings, checked where events are built.

    SEVERITIES                       critical, high, medium, low, unknown (worst first)
    severity_of(text)                a scanner's word for a severity -> one of SEVERITIES
    vulnerabilities_of(value)        the JSON `vulnerabilities` member -> a tuple of findings
    summary_of(value)                the JSON `summary` member -> counts per severity
    summarize(vulnerabilities)       counts per severity of a list of findings
    rank(severity)                   0 for critical ... 4 for unknown (lower is worse)
    check(event)                     the rules of a scan event (digest required, ...)

A finding is `{id, severity, package?, version?, fixed_version?, related?}`; the
attributes a source may add: `finding` (the event speaks of that one finding only, as
Amazon Inspector does: it replaces that finding, not the whole scan), `withdrawn` (ids a
VEX statement or a closed finding takes back) and `ids_known: false` (a counts-only
source: `summary` is all there is). Sizes are `provenance.model.limits`'s to check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from provenance.model.errors import InvalidPayload

if TYPE_CHECKING:
    from provenance.model.events import Event

SEVERITIES = ("critical", "high", "medium", "low", "unknown")
_RANK = {name: index for index, name in enumerate(SEVERITIES)}
# What scanners write (Trivy CRITICAL, Grype Critical/Negligible, Harbor None, ECR
# INFORMATIONAL/UNDEFINED, Inspector UNTRIAGED) in our five words.
_WORDS = {
    **{name: name for name in SEVERITIES},
    "negligible": "low",
    "informational": "low",
    "info": "low",
    "none": "unknown",
    "undefined": "unknown",
    "untriaged": "unknown",
    "moderate": "medium",
    "important": "high",
}
_FINDING_KEYS = frozenset({"id", "severity", "package", "version", "fixed_version", "related"})
_TEXT_KEYS = ("package", "version", "fixed_version")


def severity_of(text: object) -> str:
    """A scanner's severity word in ours; anything unrecognized is `unknown`."""
    if not isinstance(text, str):
        return "unknown"
    return _WORDS.get(text.strip().lower(), "unknown")


def rank(severity: str) -> int:
    return _RANK.get(severity, len(SEVERITIES) - 1)


def vulnerabilities_of(value: object) -> tuple[Mapping[str, Any], ...] | None:
    """The canonical `vulnerabilities` member, checked strictly (it is our own format)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidPayload("event field 'vulnerabilities' must be an array")
    out = []
    for index, item in enumerate(value):
        where = f"vulnerabilities[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidPayload(f"{where} must be an object")
        unknown = set(item) - _FINDING_KEYS
        if unknown:
            raise InvalidPayload(f"{where}: unknown fields {', '.join(sorted(map(str, unknown)))}")
        vid = item.get("id")
        if not isinstance(vid, str) or not vid.strip():
            raise InvalidPayload(f"{where}.id must be a non-empty string")
        severity = item.get("severity")
        if severity not in _RANK:
            raise InvalidPayload(f"{where}.severity must be one of {', '.join(SEVERITIES)}")
        finding: dict[str, Any] = {"id": vid, "severity": severity}
        for key in _TEXT_KEYS:
            text = item.get(key)
            if text is not None:
                if not isinstance(text, str):
                    raise InvalidPayload(f"{where}.{key} must be a string")
                finding[key] = text
        related = item.get("related")
        if related is not None:
            if not isinstance(related, list) or not all(isinstance(r, str) and r for r in related):
                raise InvalidPayload(f"{where}.related must be an array of ids")
            finding["related"] = list(related)
        out.append(finding)
    return tuple(out)


def summary_of(value: object) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidPayload("event field 'summary' must be an object")
    out: dict[str, int] = {}
    for key, count in value.items():
        if key not in _RANK:
            raise InvalidPayload(
                f"summary: {str(key)[:40]!r} is not one of {', '.join(SEVERITIES)}"
            )
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 2**53 - 1:
            raise InvalidPayload(f"summary.{key} must be a non-negative integer")
        out[key] = count
    return out


def summarize(vulnerabilities: tuple[Mapping[str, Any], ...] | list[Any]) -> dict[str, int]:
    """Counts per severity, every severity present (zeros included), worst first."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for finding in vulnerabilities:
        counts[str(finding["severity"])] += 1
    return counts


def check(event: Event) -> None:
    if not event.digest:
        raise InvalidPayload(f"event {event.id}: artifact.scanned requires digest")
    finding = event.attributes.get("finding")
    if finding is not None and not (isinstance(finding, str) and finding):
        raise InvalidPayload(f"event {event.id}: attributes.finding must be a vulnerability id")
    withdrawn = event.attributes.get("withdrawn")
    if withdrawn is not None and not (
        isinstance(withdrawn, list) and all(isinstance(w, str) and w for w in withdrawn)
    ):
        raise InvalidPayload(f"event {event.id}: attributes.withdrawn must be an array of ids")


def worst(summary: Mapping[str, int]) -> str | None:
    """The worst severity with a non-zero count, or None for a clean summary."""
    for name in SEVERITIES:
        if summary.get(name, 0) > 0:
            return name
    return None


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """The latest word of one scanner on one digest."""

    scanner: str
    time: datetime
    summary: dict[str, int]
    vulnerabilities: tuple[Mapping[str, Any], ...]
    ids_known: bool = True

    def worst(self) -> str | None:
        return worst(self.summary)


__all__ = [
    "SEVERITIES",
    "ScanSummary",
    "check",
    "rank",
    "severity_of",
    "summarize",
    "summary_of",
    "vulnerabilities_of",
    "worst",
]
