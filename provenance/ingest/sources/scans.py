"""`POST /v1/scans`: a scanner's report of one image, as the scanner wrote it.

    normalize(delivery, secrets) -> [artifact.scanned]
    detect(report) -> "trivy" | "grype" | "cyclonedx"

Formats (FORMATS.md section 14), one reader each:
* Trivy JSON (`trivy image --format json`, `SchemaVersion: 2`): the digest from
  `Metadata.RepoDigests[]` (`repo@sha256:...`). `Metadata.ImageID` is the *config* digest
  and never names the registry artifact. Findings: `Results[].Vulnerabilities[]`.
* Grype JSON (`grype -o json`): the digest from `source.target.repoDigests[]`, else
  `source.target.manifestDigest` (`imageID` is the config digest again). Findings:
  `matches[]`, `vulnerability.id` / `.severity`, `artifact.name` / `.version`, the fix's
  first version, and `relatedVulnerabilities[].id` kept (a GHSA relates to its CVE, so
  blast radius by the CVE finds it).
* CycloneDX JSON with `vulnerabilities` (1.4+): the digest from `metadata.component`
  (`version` as Grype writes it, the `aquasecurity:trivy:RepoDigest` property as Trivy
  does, or its `pkg:oci/...@sha256:...` purl). Findings: `vulnerabilities[]`, the worst
  `ratings[].severity`, the package of `affects[].ref`. A VEX `analysis.state` of
  `not_affected`, `resolved` or `false_positive` withdraws the finding (it is not listed,
  its id is in `attributes.withdrawn`); `exploitable` and `in_triage` keep it.

`?digest=` names the digest when the report does not (a local tarball) and overrides
it otherwise; several different digests and no `?digest=`, or none at all, is a 422. The
event's time is the report's own (`CreatedAt`, `descriptor.timestamp`,
`metadata.timestamp`), else the time it was received; its id comes from the body's
sha256 and the digest, so the same report sent twice is a duplicate.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.ingest.sources._common import (
    guarded,
    load_json,
    parse_when,
    require_content_type,
    require_object,
)
from provenance.model import limits, scan_shape
from provenance.model.errors import InvalidPayload
from provenance.model.events import Event, EventType, content_id, is_digest

SOURCE = "scans"
CONTENT_TYPES = ("application/json", "application/vnd.cyclonedx+json")
_WITHDRAWING = frozenset({"not_affected", "resolved", "false_positive"})


@guarded
def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    require_content_type(delivery.content_type, CONTENT_TYPES, SOURCE)
    report = require_object(load_json(delivery.body), "report")
    kind = detect(report)
    found = _READERS[kind](report)
    digest = _digest(delivery.params.get("digest"), found.digests)
    when = found.time or delivery.received_at
    body_sha256 = hashlib.sha256(delivery.body).hexdigest()
    listed = _dedupe(found.findings)
    attributes: dict[str, Any] = {"format": kind, "report_sha256": body_sha256}
    if found.version:
        attributes["scanner_version"] = found.version[:100]
    if found.withdrawn:
        attributes["withdrawn"] = sorted(set(found.withdrawn) - {f["id"] for f in listed})
    return [
        Event(
            id=content_id(SOURCE, body_sha256, digest),
            type=EventType.ARTIFACT_SCANNED,
            time=when,
            source=SOURCE,
            digest=digest,
            repository=found.repositories.get(digest),
            scanner=found.scanner,
            vulnerabilities=tuple(listed),
            summary=scan_shape.summarize(listed),
            attributes=attributes,
        ).validate()
    ]


def detect(report: Mapping[str, Any]) -> str:
    """Which scanner's format `report` is in; a 422 for anything else."""
    if report.get("bomFormat") == "CycloneDX":
        if not isinstance(report.get("vulnerabilities"), list):
            raise InvalidPayload("a CycloneDX document without `vulnerabilities` is no scan")
        return "cyclonedx"
    if "SchemaVersion" in report and ("Results" in report or "Metadata" in report):
        return "trivy"
    if isinstance(report.get("matches"), list) and isinstance(report.get("source"), Mapping):
        return "grype"
    raise InvalidPayload(
        "not a Trivy JSON, Grype JSON or CycloneDX report (no SchemaVersion, matches or bomFormat)"
    )


class _Found:
    """What a reader took from a report."""

    def __init__(self, scanner: str) -> None:
        self.scanner = scanner
        self.version: str | None = None
        self.time: datetime | None = None
        self.digests: list[str] = []
        self.repositories: dict[str, str] = {}
        self.findings: list[dict[str, Any]] = []
        self.withdrawn: list[str] = []

    def reference(self, value: object) -> None:
        """`repo@sha256:...` (RepoDigests) or a bare digest."""
        if not isinstance(value, str):
            return
        name, _, digest = value.rpartition("@")
        if not is_digest(digest):
            return
        self.digests.append(digest)
        self.name(digest, name)

    def name(self, digest: str, reference: str) -> None:
        """The repository of `digest`: `reference` without a tag (a port stays)."""
        if ":" in reference.rpartition("/")[2]:
            reference = reference.rpartition(":")[0]
        if reference and len(reference) <= limits.REPOSITORY and reference.isprintable():
            self.repositories.setdefault(digest, reference)

    def finding(self, vid: object, severity: object, **more: object) -> None:
        if not isinstance(vid, str) or not vid.strip():
            return
        item: dict[str, Any] = {"id": vid.strip(), "severity": scan_shape.severity_of(severity)}
        for key, value in more.items():
            if key == "related":
                ids = sorted({r.strip() for r in _list(value) if isinstance(r, str) and r.strip()})
                ids = [r for r in ids if r != item["id"]]
                if ids:
                    item["related"] = ids[: limits.MAX_RELATED]
            elif isinstance(value, str) and value:
                item[key] = value
        self.findings.append(item)


def _trivy(report: Mapping[str, Any]) -> _Found:
    found = _Found("trivy")
    metadata = _object(report.get("Metadata"))
    for ref in _list(metadata.get("RepoDigests")):
        found.reference(ref)  # never Metadata.ImageID: the config digest
    found.time = _when(report.get("CreatedAt"), "CreatedAt")
    for result in _objects(report.get("Results")):
        for v in _objects(result.get("Vulnerabilities")):
            found.finding(
                v.get("VulnerabilityID"),
                v.get("Severity"),
                package=v.get("PkgName"),
                version=v.get("InstalledVersion"),
                fixed_version=v.get("FixedVersion"),
            )
    return found


def _grype(report: Mapping[str, Any]) -> _Found:
    found = _Found("grype")
    target = _object(_object(report.get("source")).get("target"))
    for ref in _list(target.get("repoDigests")):
        found.reference(ref)
    if not found.digests:
        found.reference(target.get("manifestDigest"))  # never imageID: the config digest
    descriptor = _object(report.get("descriptor"))
    found.version = _text(descriptor.get("version"))
    found.time = _when(descriptor.get("timestamp"), "descriptor.timestamp")
    for match in _objects(report.get("matches")):
        vuln = _object(match.get("vulnerability"))
        artifact = _object(match.get("artifact"))
        fixes = _list(_object(vuln.get("fix")).get("versions"))
        related = [_object(r).get("id") for r in _list(match.get("relatedVulnerabilities"))]
        found.finding(
            vuln.get("id"),
            vuln.get("severity"),
            package=artifact.get("name"),
            version=artifact.get("version"),
            fixed_version=fixes[0] if fixes else None,
            related=related,
        )
    return found


def _cyclonedx(report: Mapping[str, Any]) -> _Found:
    metadata = _object(report.get("metadata"))
    tool, version = _tool(metadata.get("tools"))
    found = _Found(tool or "cyclonedx")
    found.version = version
    found.time = _when(metadata.get("timestamp"), "metadata.timestamp")
    component = _object(metadata.get("component"))
    found.reference(component.get("version"))  # Grype: the manifest digest
    for prop in _objects(component.get("properties")):
        if prop.get("name") == "aquasecurity:trivy:RepoDigest":
            found.reference(prop.get("value"))
    purl = component.get("purl")
    if isinstance(purl, str) and purl.startswith("pkg:oci/") and "@" in purl:
        found.reference(urllib.parse.unquote(purl.split("@", 1)[1].split("?", 1)[0]))
    name = component.get("name")
    if isinstance(name, str):
        for digest in found.digests:
            found.name(digest, name)
    # Only strings name things here: a hostile list or object is no key (nor a crash).
    packages = {
        ref: c
        for c in _components(report.get("components"))
        if isinstance(ref := c.get("bom-ref"), str) and ref
    }
    for v in _objects(report.get("vulnerabilities")):
        vid = v.get("id")
        state = _object(v.get("analysis")).get("state")
        if isinstance(state, str) and state in _WITHDRAWING:
            if isinstance(vid, str) and vid.strip():
                found.withdrawn.append(vid.strip())
            continue
        severities = [_object(r).get("severity") for r in _list(v.get("ratings"))]
        ranked = sorted(scan_shape.severity_of(s) for s in severities if isinstance(s, str))
        worst = min(ranked, key=scan_shape.rank, default="unknown")
        refs = [_object(a).get("ref") for a in _list(v.get("affects"))]
        package = next((packages[r] for r in refs if isinstance(r, str) and r in packages), {})
        related = [_object(r).get("id") for r in _list(v.get("references"))]
        found.finding(
            vid,
            worst,
            package=package.get("name"),
            version=package.get("version"),
            related=related,
        )
    return found


_READERS: dict[str, Callable[[Mapping[str, Any]], _Found]] = {
    "trivy": _trivy,
    "grype": _grype,
    "cyclonedx": _cyclonedx,
}


# --- helpers ---------------------------------------------------------------------------


def _digest(given: str | None, found: list[str]) -> str:
    if given is not None:
        if not is_digest(given):
            raise InvalidPayload(f"?digest={given[:80]!r} is not sha256:<64 hex>")
        return given
    distinct = sorted(set(found))
    if not distinct:
        raise InvalidPayload(
            "the report names no manifest digest (RepoDigests, repoDigests, the BOM's "
            "component): say which image it is about with ?digest=sha256:..."
        )
    if len(distinct) > 1:
        raise InvalidPayload(
            f"the report names {len(distinct)} different digests: choose one with ?digest="
        )
    return distinct[0]


def _dedupe(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One finding per (id, package, version): Trivy lists a CVE once per result."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in findings:
        out.setdefault((f["id"], f.get("package", ""), f.get("version", "")), f)
    return sorted(out.values(), key=lambda f: (f["id"], f.get("package", ""), f.get("version", "")))


def _tool(tools: object) -> tuple[str | None, str | None]:
    """CycloneDX 1.4 `tools: [{vendor, name, version}]` or 1.5 `tools: {components: [...]}`."""
    listed = _object(tools).get("components") if isinstance(tools, Mapping) else tools
    for tool in _objects(listed):
        name = _text(tool.get("name"))
        if name:
            return name.strip().lower()[:100], _text(tool.get("version"))
    return None, None


def _components(value: object) -> Iterable[Mapping[str, Any]]:
    """Components and their nested components (a BOM nests packages under layers)."""
    stack = list(_objects(value))
    seen = 0
    while stack and seen < 100_000:
        seen += 1
        item = stack.pop()
        yield item
        stack.extend(_objects(item.get("components")))


def _when(value: object, what: str) -> datetime | None:
    return parse_when(value, what) if isinstance(value, str) and value else None


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _objects(value: object) -> list[Mapping[str, Any]]:
    return [v for v in _list(value) if isinstance(v, Mapping)]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


__all__ = ["CONTENT_TYPES", "SOURCE", "detect", "normalize"]
