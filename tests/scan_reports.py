"""Scanner reports and scan events in their real shapes (FORMATS.md section 14), built by
the tests: Trivy JSON, Grype JSON, CycloneDX (Grype's and Trivy's flavours, and VEX),
Harbor SCANNING_COMPLETED, ECR basic scan and Amazon Inspector findings via EventBridge.

Each builder takes the findings as `(id, severity, package, installed, fixed)` tuples in
the scanner's own severity words, and the manifest digest the report is about.
"""

from __future__ import annotations

import hashlib
from typing import Any

Finding = tuple[str, str, str, str, str | None]

REPO = "registry.acme.io/acme/payments-api"
ARN = "arn:aws:ecr:eu-west-1:318845221907:repository"
CONFIG = "sha256:" + hashlib.sha256(b"the image config blob").hexdigest()  # ImageID


def trivy_report(
    digest: str | None,
    findings: list[Finding],
    *,
    created: str = "2026-03-09T14:08:03.123456789Z",
    repo: str = REPO,
) -> dict[str, Any]:
    """`trivy image --format json` (SchemaVersion 2), OS packages and a language result."""
    vulns = [
        {
            "VulnerabilityID": vid,
            "PkgID": f"{pkg}@{installed}",
            "PkgName": pkg,
            "PkgIdentifier": {"PURL": f"pkg:apk/alpine/{pkg}@{installed}?arch=x86_64"},
            "InstalledVersion": installed,
            **({"FixedVersion": fixed} if fixed else {}),
            "Status": "fixed" if fixed else "affected",
            "Layer": {"Digest": "sha256:" + "1" * 64, "DiffID": "sha256:" + "2" * 64},
            "SeveritySource": "nvd",
            "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
            "Title": f"{pkg}: a flaw",
            "Severity": severity,
            "CVSS": {"nvd": {"V3Score": 7.5}},
        }
        for vid, severity, pkg, installed, fixed in findings
    ]
    metadata: dict[str, Any] = {
        "Size": 8_123_456,
        "OS": {"Family": "alpine", "Name": "3.19.1"},
        "ImageID": CONFIG,
        "DiffIDs": ["sha256:" + "2" * 64],
        "RepoTags": [f"{repo}:v1.4.2"],
        "ImageConfig": {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}},
    }
    if digest is not None:
        metadata["RepoDigests"] = [f"{repo}@{digest}"]
    return {
        "SchemaVersion": 2,
        "CreatedAt": created,
        "ArtifactName": f"{repo}:v1.4.2",
        "ArtifactType": "container_image",
        "Metadata": metadata,
        "Results": [
            {
                "Target": f"{repo}:v1.4.2 (alpine 3.19.1)",
                "Class": "os-pkgs",
                "Type": "alpine",
                "Vulnerabilities": vulns,
            },
            {"Target": "app/requirements.txt", "Class": "lang-pkgs", "Type": "pip"},
        ],
    }


def grype_report(
    digest: str | None,
    findings: list[Finding],
    *,
    related: dict[str, str] | None = None,
    timestamp: str = "2026-03-09T14:08:03.123456Z",
    repo: str = REPO,
    manifest_only: bool = False,
) -> dict[str, Any]:
    """`grype -o json`; `related` maps a finding's id (a GHSA) to the CVE it relates to."""
    related = related or {}
    matches = [
        {
            "vulnerability": {
                "id": vid,
                "dataSource": f"https://github.com/advisories/{vid}",
                "namespace": "github:language:python",
                "severity": severity,
                "urls": [f"https://github.com/advisories/{vid}"],
                "fix": {
                    "versions": [fixed] if fixed else [],
                    "state": "fixed" if fixed else "not-fixed",
                },
                "advisories": [],
            },
            "relatedVulnerabilities": (
                [
                    {
                        "id": related[vid],
                        "dataSource": "https://nvd.nist.gov",
                        "namespace": "nvd:cpe",
                        "severity": severity,
                    }
                ]
                if vid in related
                else []
            ),
            "matchDetails": [{"type": "exact-direct-match", "matcher": "python-matcher"}],
            "artifact": {
                "id": hashlib.sha1(pkg.encode()).hexdigest()[:16],
                "name": pkg,
                "version": installed,
                "type": "python",
                "locations": [{"path": "/app/requirements.txt", "layerID": "sha256:" + "3" * 64}],
                "language": "python",
                "licenses": [],
                "cpes": [],
                "purl": f"pkg:pypi/{pkg}@{installed}",
            },
        }
        for vid, severity, pkg, installed, fixed in findings
    ]
    target: dict[str, Any] = {
        "userInput": f"{repo}:v1.4.2",
        "imageID": CONFIG,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "tags": [f"{repo}:v1.4.2"],
        "imageSize": 8_123_456,
        "layers": [],
        "repoDigests": [] if manifest_only or digest is None else [f"{repo}@{digest}"],
        "architecture": "amd64",
        "os": "linux",
    }
    if digest is not None:
        target["manifestDigest"] = digest
    return {
        "matches": matches,
        "source": {"type": "image", "target": target},
        "distro": {"name": "alpine", "version": "3.19.1", "idLike": []},
        "descriptor": {
            "name": "grype",
            "version": "0.74.7",
            "configuration": {"output": ["json"]},
            "db": {"built": "2026-03-09T01:31:03Z", "schemaVersion": 5},
            "timestamp": timestamp,
        },
    }


def cyclonedx_bom(
    digest: str | None,
    findings: list[Finding],
    *,
    vex: dict[str, str] | None = None,
    flavour: str = "grype",
    timestamp: str = "2026-03-09T14:08:03Z",
    repo: str = REPO,
) -> dict[str, Any]:
    """CycloneDX 1.5 with `vulnerabilities`; the image's digest where Grype puts it (the
    component's `version`) or where Trivy does (a property and the purl). `vex` maps ids
    to an `analysis.state`."""
    vex = vex or {}
    component: dict[str, Any] = {"bom-ref": "image", "type": "container", "name": repo}
    if digest is not None and flavour == "grype":
        component["version"] = digest
    if digest is not None and flavour == "trivy":
        quoted = digest.replace(":", "%3A")
        component["purl"] = f"pkg:oci/payments-api@{quoted}?arch=amd64&repository_url={repo}"
        component["properties"] = [
            {"name": "aquasecurity:trivy:ImageID", "value": CONFIG},
            {"name": "aquasecurity:trivy:RepoDigest", "value": f"{repo}@{digest}"},
            {"name": "aquasecurity:trivy:SchemaVersion", "value": "2"},
        ]
    packages = {pkg: installed for _, _, pkg, installed, _ in findings}
    vulnerabilities = []
    for vid, severity, pkg, _, fixed in findings:
        entry: dict[str, Any] = {
            "bom-ref": f"{vid}-{pkg}",
            "id": vid,
            "source": {"name": "nvd", "url": f"https://nvd.nist.gov/vuln/detail/{vid}"},
            "ratings": [
                {"source": {"name": "nvd"}, "score": 7.5, "severity": "none", "method": "CVSSv2"},
                {
                    "source": {"name": "ghsa"},
                    "score": 8.1,
                    "severity": severity,
                    "method": "CVSSv31",
                },
            ],
            "affects": [{"ref": f"pkg:{pkg}"}],
        }
        if fixed:
            entry["recommendation"] = f"Upgrade {pkg} to {fixed}"
        if vid in vex:
            entry["analysis"] = {"state": vex[vid], "justification": "code_not_reachable"}
        vulnerabilities.append(entry)
    tool = (
        {"components": [{"type": "application", "name": "grype", "version": "0.74.7"}]}
        if flavour == "grype"
        else {
            "components": [
                {
                    "type": "application",
                    "group": "aquasecurity",
                    "name": "trivy",
                    "version": "0.50.1",
                }
            ]
        }
    )
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        "version": 1,
        "metadata": {"timestamp": timestamp, "tools": tool, "component": component},
        "components": [
            {
                "bom-ref": "layer",
                "type": "library",
                "name": "layer",
                "components": [
                    {"bom-ref": f"pkg:{pkg}", "type": "library", "name": pkg, "version": v}
                    for pkg, v in packages.items()
                ],
            }
        ],
        "vulnerabilities": vulnerabilities,
    }


def harbor_scan(
    digest: str,
    counts: dict[str, int],
    *,
    occur_at: int = 1773065283,
    status: str = "Success",
    kind: str = "SCANNING_COMPLETED",
) -> dict[str, Any]:
    """Harbor's Default-format scan webhook, a Trivy scan_overview with its counts."""
    return {
        "type": kind,
        "occur_at": occur_at,
        "operator": "robot$acme+scanner-Trivy-5f3a",
        "event_data": {
            "resources": [
                {
                    "digest": digest,
                    "tag": "v1.4.2",
                    "resource_url": "harbor.acme.example/acme/payments-api:v1.4.2",
                    "scan_overview": {
                        "application/vnd.security.vulnerability.report; version=1.1": {
                            "report_id": "505f8532-f573-4811-a61c-f8418b54c7a5",
                            "scan_status": status,
                            "severity": "High",
                            "duration": 14,
                            "summary": {
                                "total": sum(counts.values()),
                                "fixable": 1,
                                "summary": counts,
                            },
                            "start_time": "2026-03-09T14:07:49.512004Z",
                            "end_time": "2026-03-09T14:08:03.020911Z",
                            "scanner": {
                                "name": "Trivy",
                                "vendor": "Aqua Security",
                                "version": "v0.63.0",
                            },
                            "complete_percent": 100,
                        }
                    },
                }
            ],
            "repository": {
                "date_created": 1749630112,
                "name": "payments-api",
                "namespace": "acme",
                "repo_full_name": "acme/payments-api",
                "repo_type": "private",
            },
            "scan": {"scan_type": "vulnerability"},
        },
    }


def ecr_scan(
    digest: str,
    counts: dict[str, int],
    *,
    time: str = "2026-03-09T14:08:03Z",
    status: str = "COMPLETE",
) -> dict[str, Any]:
    """ECR basic scanning's `ECR Image Scan` event through EventBridge."""
    return {
        "version": "0",
        "id": hashlib.sha256(f"{digest}{time}{counts}".encode()).hexdigest()[:36],
        "detail-type": "ECR Image Scan",
        "source": "aws.ecr",
        "account": "318845221907",
        "time": time,
        "region": "eu-west-1",
        "resources": ["arn:aws:ecr:eu-west-1:318845221907:repository/acme/payments-api"],
        "detail": {
            "scan-status": status,
            "repository-name": "acme/payments-api",
            "finding-severity-counts": counts,
            "image-digest": digest,
            "image-tags": ["v1.4.2"],
        },
    }


def inspector_finding(
    digest: str,
    vid: str,
    severity: str,
    *,
    status: str = "ACTIVE",
    time: str = "2026-03-09T14:08:03Z",
    package: str = "openssl",
) -> dict[str, Any]:
    """Amazon Inspector's `Inspector2 Finding` on an ECR image (enhanced scanning)."""
    return {
        "version": "0",
        "id": hashlib.sha256(f"{digest}{vid}{status}{time}".encode()).hexdigest()[:36],
        "detail-type": "Inspector2 Finding",
        "source": "aws.inspector2",
        "account": "318845221907",
        "time": time,
        "region": "eu-west-1",
        "resources": [f"{ARN}/acme/payments-api/{digest}"],
        "detail": {
            "awsAccountId": "318845221907",
            "description": f"A flaw in {package}.",
            "findingArn": f"arn:aws:inspector2:eu-west-1:318845221907:finding/{vid.lower()}",
            "firstObservedAt": "Mar 9, 2026, 2:08:03 PM",
            "inspectorScore": 7.5,
            "lastObservedAt": "Mar 9, 2026, 2:08:03 PM",
            "packageVulnerabilityDetails": {
                "cvss": [
                    {
                        "baseScore": 7.5,
                        "scoringVector": "CVSS:3.1/AV:N",
                        "source": "NVD",
                        "version": "3.1",
                    }
                ],
                "referenceUrls": [],
                "relatedVulnerabilities": [],
                "source": "NVD",
                "sourceUrl": f"https://nvd.nist.gov/vuln/detail/{vid}",
                "vendorSeverity": severity,
                "vulnerabilityId": vid,
                "vulnerablePackages": [
                    {
                        "arch": "X86_64",
                        "epoch": 0,
                        "name": package,
                        "packageManager": "OS",
                        "release": "r5",
                        "version": "3.1.4",
                        "fixedInVersion": "3.1.5",
                    }
                ],
            },
            "remediation": {"recommendation": {"text": f"Upgrade {package}."}},
            "resources": [
                {
                    "details": {
                        "awsEcrContainerImage": {
                            "architecture": "amd64",
                            "imageHash": digest,
                            "imageTags": ["v1.4.2"],
                            "platform": "ALPINE_LINUX_3_19",
                            "pushedAt": "Mar 9, 2026, 2:00:00 PM",
                            "registry": "318845221907",
                            "repositoryName": "acme/payments-api",
                        }
                    },
                    "id": f"{ARN}/acme/payments-api/{digest}",
                    "partition": "aws",
                    "region": "eu-west-1",
                    "type": "AWS_ECR_CONTAINER_IMAGE",
                }
            ],
            "severity": severity,
            "status": status,
            "title": f"{vid} - {package}",
            "type": "PACKAGE_VULNERABILITY",
            "updatedAt": "Mar 9, 2026, 2:08:03 PM",
        },
    }
