"""Scan projection and scan reads on SQLite (not a test).

Pushes, deploys and scans `--digests` digests (`--scans` reports each, `--findings`
findings per report, ids drawn from 400 CVEs), projects them, then times the reads that
use the scan tables: `digests_listing` (which digests' latest scan lists CVE-X),
`worst_severity` (the admission path) and blast radius by vulnerability.

    .venv/bin/python bench/scans.py --digests 300 --scans 3 --findings 50
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.query import blast_radius as blast
from provenance.store import Database
from provenance.store.scans import digests_listing, worst_severity

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SEVERITIES = ("critical", "high", "medium", "low")


def _digest(i: int) -> str:
    return "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()


def _events(digests: int, scans: int, findings: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(digests):
        d = _digest(i)
        base = {"source": "bench", "digest": d}
        out.append(
            base
            | {"id": f"p{i}", "type": "artifact.pushed", "time": T0.isoformat()}
            | {"repository": "registry.bench/a/b", "tag": f"t{i}"}
        )
        out.append(
            base
            | {"id": f"d{i}", "type": "deployment.applied"}
            | {"time": (T0 + timedelta(minutes=1)).isoformat(), "workload": f"deployment/w{i}"}
            | {"cluster": "c", "namespace": "n", "container": "x"}
        )
        for s in range(scans):
            vulns = [
                {"id": f"CVE-2026-{(i * 7 + k + s) % 400}", "severity": SEVERITIES[k % 4]}
                for k in range(findings)
            ]
            out.append(
                base
                | {"id": f"s{i}-{s}", "type": "artifact.scanned", "scanner": "trivy"}
                | {"time": (T0 + timedelta(minutes=2 + s)).isoformat(), "vulnerabilities": vulns}
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digests", type=int, default=300)
    parser.add_argument("--scans", type=int, default=3)
    parser.add_argument("--findings", type=int, default=50)
    args = parser.parse_args()
    db = Database(f"sqlite:///{tempfile.mkdtemp()}/scans.db")
    db.upgrade()
    events = _events(args.digests, args.scans, args.findings)
    for start in range(0, len(events), 100):
        body = orjson.dumps(events[start : start + 100])
        ingest(db, Delivery("events", body, datetime.now(UTC)), SourceSecrets())
    cpu, wall = time.process_time(), time.perf_counter()
    ProjectionRunner(db).catch_up()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"projected {len(events)} events ({args.digests * args.scans} scans of "
        f"{args.findings} findings): {1000 * cpu / len(events):.2f} CPU ms/event, "
        f"wall {wall:.1f} s"
    )
    with db.read() as s:
        start_ = time.perf_counter()
        for k in range(200):
            digests_listing(s, f"CVE-2026-{k}")
        print(f"digests_listing: {1000 * (time.perf_counter() - start_) / 200:.2f} ms/query")
        start_ = time.perf_counter()
        for i in range(200):
            worst_severity(s, _digest(i % args.digests))
        print(f"worst_severity: {1000 * (time.perf_counter() - start_) / 200:.2f} ms/query")
    with db.read() as s:
        start_ = time.perf_counter()
        radius = blast.blast_radius(s, "vulnerability", "CVE-2026-5")
        took = 1000 * (time.perf_counter() - start_)
        print(f"blast radius by vulnerability: {took:.1f} ms, counts {radius.counts}")
    db.dispose()


if __name__ == "__main__":
    main()
