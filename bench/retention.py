"""The retention report on one large repository: how long `store.retention.report` takes.

    .venv/bin/python bench/retention.py [--digests N] [--pg URL]

A seeded story in one repository (`bench.local/big/app`): N digests pushed with a tag of
their own, 80 % of the tags deleted later, 10 % of the digests deployed (half of them
removed again), 20 % pulled, every 10th digest built on a base of `bench.local/big/base`
(bases of bases, 4 deep), and a cosign `.sig` digest for every 20th. Projected through the
domain (not HTTP), then the report is asked now and as of a past time, 5 times each;
printed: the best wall and CPU time per report and per digest judged. A benchmark, not a
test: it asserts nothing. SQLite in a temp file by default; `--pg URL` names an empty
PostgreSQL database to use instead (its tables are created by the migrations).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.retention import Window
from provenance.store import Database
from provenance.store import retention as store_retention

REPO, BASES = "bench.local/big/app", "bench.local/big/base"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def _at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def story(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(kind: str, minute: int, **fields: Any) -> None:
        out.append({"id": f"b{len(out)}", "type": kind, "time": _at(minute), "source": "bench"})
        out[-1].update(fields)

    bases = [_digest(f"base-{i}") for i in range(max(1, n // 50))]
    for i, base in enumerate(bases):
        add("artifact.pushed", 0, digest=base, repository=BASES, tag=f"b{i}")
        if i % 4:  # a base of a base
            add("artifact.attested", 1, digest=base, attributes={"dependencies": [
                {"digest": bases[i - 1]}]})  # fmt: skip
    for i in range(n):
        d = _digest(f"app-{i}")
        add("artifact.pushed", 10 + i, digest=d, repository=REPO, tag=f"v{i}")
        if i % 5:
            add("tag.deleted", 10 + n + i, repository=REPO, tag=f"v{i}")
        if i % 10 == 0:
            dep = {"dependencies": [{"digest": bases[i % len(bases)]}]}
            add("artifact.attested", 11 + i, digest=d, attributes=dep)
            where = {"workload": f"deployment/w{i}", "namespace": "prod", "cluster": "eu-1"}
            add("deployment.applied", 12 + i, digest=d, environment="production", **where)
            if i % 20 == 0:
                add("deployment.removed", 13 + n + i, **where)
        if i % 5 == 0:
            add("artifact.pulled", 20 + n + i, digest=d, repository=REPO, actor="node")
        if i % 20 == 0:
            sig = _digest(f"sig-{i}")
            add("artifact.pushed", 11 + i, digest=sig, repository=REPO,
                tag="sha256-" + d.removeprefix("sha256:") + ".sig")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digests", type=int, default=20_000)
    parser.add_argument("--pg", help="an empty PostgreSQL database URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.pg or f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.upgrade()
        events = story(args.digests)
        start = time.perf_counter()
        for i in range(0, len(events), 1000):
            body = orjson.dumps(events[i : i + 1000])
            ingest(
                db, Delivery("events", body, datetime.now(UTC), "application/json"), SourceSecrets()
            )
        ProjectionRunner(db, batch=500).catch_up()
        print(f"{len(events)} events loaded and projected in {time.perf_counter() - start:.1f} s")
        past = T0 + timedelta(minutes=args.digests)
        for label, window in (
            ("now", Window(unused_since=T0 + timedelta(minutes=args.digests * 2))),
            ("as_of", Window(unused_since=T0, as_of=past)),
        ):
            walls, cpus = [], []
            for _ in range(5):
                wall, cpu = time.perf_counter(), time.process_time()
                with db.read() as s:
                    report = store_retention.report(s, REPO, window)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            judged = len(report.items)
            print(
                f"{db.dialect} {label}: {judged} digests judged ({report.summary}), "
                f"best {min(walls) * 1000:.0f} ms wall, {min(cpus) * 1000:.0f} ms CPU, "
                f"{min(cpus) * 1e6 / max(judged, 1):.0f} us CPU per digest"
            )
        db.dispose()


if __name__ == "__main__":
    main()
