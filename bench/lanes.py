"""Lane projection alone, on PostgreSQL: 1 projector process against 2 (a benchmark, not a
test). What `bench/kafka.py`'s catch-up measures, without the broker, the API and the
faust workers competing for the same 2 CPUs: does a second projector project more?

The same stream of Distribution notifications as bench/ingest.py (`--batch` events per
delivery), appended to the log first in `--lanes` lanes (each delivery in the lane of
its first repository, as the API keys its Kafka message); then, for each of 1 and 2
processes, a fresh copy of that log is projected with `LaneProjector` (`--entries` log
entries per transaction, as a worker does), the lanes dealt out between the processes,
all starting at once. Printed: the wall time, events/s, the ratio 2/1, and CPU ms/event of
the projector processes and of their PostgreSQL backends (from /proc when readable), and
the share of the projectors' time in a transaction spent waiting for a lock (sampled from
pg_stat_activity): on a machine whose CPU is all taken, two projectors cannot be faster
than one, but they must not wait for each other.

    .venv/bin/python bench/lanes.py [--events 20000] [--batch 100] [--lanes 8]
        [--entries 20] [--repositories 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import DEFAULT_PG_ADMIN, DistributionStream, envelopes, say, throwaway_database

from provenance.ingest.service import LaneProjector, ingest_batch
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.timeutil import utcnow
from provenance.store import Database, projection


def lane_of(body: bytes, lanes: int) -> str:
    repo = json.loads(body)["events"][0]["target"]["repository"]
    return f"deliveries:{int(hashlib.sha1(repo.encode()).hexdigest(), 16) % lanes}"


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _project(url: str, lanes: list[str], entries: int, start: Any, out: Any) -> None:
    db = Database(url)
    projector = LaneProjector(db, batch=entries)
    with db.read() as s:  # one pooled connection: its backend does this process's SQL
        backend = int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
    pg_before = _proc_cpu(backend)
    start.wait()
    t0, cpu0 = time.perf_counter(), time.process_time()
    projector.catch_up(lanes)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    pg_after = _proc_cpu(backend)
    pg_cpu = None if pg_before is None or pg_after is None else pg_after - pg_before
    db.dispose()
    out.put({"wall": wall, "cpu": cpu, "pg_cpu": pg_cpu})


class LockWaits:
    """Samples, every 50 ms, what the projectors' backends are doing: of the samples in
    a transaction, the share spent waiting for a lock another projector holds (the figure
    that does not depend on how much CPU the machine leaves the projectors)."""

    def __init__(self, admin: str, database: str) -> None:
        self._admin, self._database = admin, database
        self._stop = threading.Event()
        self.busy = self.waiting = 0
        self.on: Counter[str] = Counter()  # what the waiting statements were
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def share(self) -> float:
        return self.waiting / self.busy if self.busy else 0.0

    def _run(self) -> None:
        with psycopg.connect(self._admin, autocommit=True) as conn:
            while not self._stop.wait(0.05):
                for wait, event, query in conn.execute(
                    "SELECT wait_event_type, wait_event, left(query, 60)"
                    " FROM pg_stat_activity WHERE datname = %s"
                    " AND backend_type = 'client backend' AND xact_start IS NOT NULL",
                    (self._database,),
                ):
                    self.busy += 1
                    if wait == "Lock":
                        self.waiting += 1
                        self.on[f"{event}: {query}"] += 1


def measure(template: str, admin: str, procs: int, lanes: list[str], args: Any) -> dict[str, Any]:
    with throwaway_database("postgresql", args.workdir, admin) as url:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}"')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        ctx = mp.get_context("spawn")
        start, out = ctx.Barrier(procs + 1), ctx.Queue()
        workers = [
            ctx.Process(target=_project, args=(url, lanes[i::procs], args.entries, start, out))
            for i in range(procs)
        ]
        for w in workers:
            w.start()
        with LockWaits(admin, name) as waits:
            start.wait()
            t0 = time.perf_counter()
            results = [out.get(timeout=3600) for _ in workers]
            wall = time.perf_counter() - t0
        for w in workers:
            w.join()
        db = Database(url)
        with db.read() as s:
            lag = projection.lag(s)
        db.dispose()
    assert lag == 0, lag
    pg = [r["pg_cpu"] for r in results]
    n = args.events
    return {
        "processes": procs,
        "wall_s": wall,
        "events_per_s": n / wall,
        "cpu_ms_per_event": 1000 * sum(r["cpu"] for r in results) / n,
        "pg_cpu_ms_per_event": None if None in pg else 1000 * sum(pg) / n,
        "lock_wait_share": waits.share,
        "lock_waits_on": dict(waits.on.most_common(5)),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--batch", type=int, default=100, help="events per delivery (log entry)")
    p.add_argument("--lanes", type=int, default=8)
    p.add_argument("--entries", type=int, default=20, help="log entries per transaction")
    p.add_argument("--repositories", type=int, default=200)
    p.add_argument("--rounds", type=int, default=1, help="measure 1 and 2 this many times")
    p.add_argument("--seed", type=int, default=20260301)
    p.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    say(f"{os.cpu_count()} CPUs, load average {os.getloadavg()}")
    stream = DistributionStream(random.Random(args.seed), args.repositories)
    bodies = envelopes(stream.generate(args.events), args.batch)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = Path(tmp)
        with throwaway_database("postgresql", args.workdir, args.pg_admin_url) as url:
            db = Database(url)
            db.upgrade()
            deliveries = [Delivery("distribution", b, utcnow(), "application/json") for b in bodies]
            ingest_batch(
                db, deliveries, SourceSecrets(), lanes=[lane_of(b, args.lanes) for b in bodies]
            )
            with db.read() as s:
                lanes = sorted(
                    str(r) for (r,) in s.execute(text("SELECT DISTINCT lane FROM log_entries"))
                )
            db.dispose()
            say(f"{len(bodies)} log entries in {len(lanes)} lanes")
            template = url.rsplit("/", 1)[1]
            for _ in range(args.rounds):
                for procs in (1, 2):
                    r = measure(template, args.pg_admin_url, procs, lanes, args)
                    runs.append(r)
                    say(
                        f"{procs} projector(s): {r['wall_s']:.1f} s, {r['events_per_s']:.0f} ev/s,"
                        f" CPU {r['cpu_ms_per_event']:.2f} ms/ev,"
                        f" PostgreSQL {r['pg_cpu_ms_per_event'] or float('nan'):.2f} ms/ev,"
                        f" waiting for a lock {100 * r['lock_wait_share']:.0f}% of the time"
                        f" in a transaction"
                    )
                    for what, count in r["lock_waits_on"].items():
                        say(f"    {count} samples waiting in {what}")
    one = [r["events_per_s"] for r in runs if r["processes"] == 1]
    two = [r["events_per_s"] for r in runs if r["processes"] == 2]
    ratio = (sum(two) / len(two)) / (sum(one) / len(one))
    say(f"2 projectors / 1: {ratio:.2f} (load average at the end {os.getloadavg()})")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
