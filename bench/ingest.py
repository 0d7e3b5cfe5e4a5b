"""Throughput and latency figures for the embedded service (a benchmark, not a test).

Two parts, each run per backend (SQLite file, PostgreSQL):

1. Ingest: a realistic stream of CNCF Distribution notifications (manifest pushes with tags
   across ~200 repositories, pulls by tag and by digest from many actors, tags that move)
   is POSTed in `{"events": [...]}` envelopes to a `provenance serve` subprocess by a few
   concurrent httpx clients. Reports events/s until the last 202 (durably accepted) and
   until `/readyz` says the projection has caught up (projected), request latency, and the
   server's peak RSS.
2. Query: a graph of ~100,000 artifacts (commits -> builds -> artifacts -> tags, pulls,
   deployments) is appended to the log and projected directly through the domain, then
   `POST /v1/incidents/blast-radius {"commit": sha}` is timed through the HTTP API of a
   `provenance serve` on that database, and `blast.blast_radius` directly.

    .venv/bin/python bench/ingest.py [--events 20000] [--batch 100] [--concurrency 4]
        [--artifacts 100000] [--backends sqlite,postgresql] [--skip-ingest] [--skip-query]

Every database is a throwaway one (a temp SQLite file, or `prov_bench_<random>` on the
PostgreSQL at --pg-admin-url) and is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from sqlalchemy import func, select

from provenance.ingest.rebuild import REPLAY_EVENTS
from provenance.ingest.sources import Delivery, normalize
from provenance.query import blast_radius as blast
from provenance.store import Database, log, projection
from provenance.store.models import Artifact, Edge, Node, TimelineEvent

REGISTRY_HOST = "registry.bench.local"
DISTRIBUTION_TYPE = "application/vnd.docker.distribution.events.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
DEFAULT_PG_ADMIN = os.environ.get(
    "PROVENANCE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


# --- small helpers -----------------------------------------------------------------------


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seeded_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- throwaway databases -------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_database(backend: str, workdir: Path, pg_admin_url: str) -> Iterator[str]:
    """Yield the SQLAlchemy URL of an empty database; remove it afterwards."""
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"prov_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the server under test -----------------------------------------------------------------


class Server:
    """`provenance serve` in a subprocess on a free loopback port, auth off."""

    def __init__(
        self, database_url: str, workdir: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PROVENANCE_") or k == "PROVENANCE_BENCH_PG"
        }
        env |= {"PROVENANCE_DATABASE_URL": database_url, "PROVENANCE_LOG_LEVEL": "WARNING"}
        env |= extra_env or {}
        # `/readyz` needs a signing key; only a SQLite database gets one generated beside it.
        key = workdir / "bench-signing-key.pem"
        if not key.exists():
            pem = subprocess.run(
                ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                check=True,
                capture_output=True,
            ).stdout
            key.write_bytes(pem)
        env["PROVENANCE_SIGNING_KEY"] = str(key)
        exe = Path(sys.prefix) / "bin" / "provenance"
        command = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/readyz").status_code == 200:
                        return
                time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout}s; see {self.log_path}")

    def peak_rss_mib(self) -> float:
        """VmHWM of the server process: its peak resident set size."""
        return self._status_mib("VmHWM:")

    def rss_mib(self) -> float:
        """VmRSS of the server process: its resident set size now."""
        return self._status_mib("VmRSS:")

    def _status_mib(self, name: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process (all its threads) has used so far."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": state is fields[0]
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> Server:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- part 1: a Distribution notification stream ------------------------------------------


PULLERS = (
    # (actor name or None for anonymous, user agent, address pool)
    ("k8s-pull-eu-1", "containerd/v1.7.24", "10.40.1."),
    ("k8s-pull-eu-2", "containerd/v1.7.24", "10.40.2."),
    ("k8s-pull-us-1", "containerd/v2.0.2", "10.50.1."),
    ("k8s-pull-us-2", "containerd/v2.0.2", "10.50.2."),
    ("ci-runner", "docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.8.0", "10.60.0."),
    ("trivy-scanner", "trivy/0.58.1", "10.70.0."),
    ("dev-alice", "docker/27.4.0 go/go1.22.10 os/darwin arch/arm64", "192.168.10."),
    ("dev-bob", "skopeo/1.17.0", "192.168.11."),
    (None, "containerd/v1.6.36", "172.16.5."),
)
PULLER_WEIGHTS = (22, 22, 18, 18, 8, 5, 3, 2, 2)


@dataclass
class RepoState:
    name: str
    pusher: str
    history: list[str] = field(default_factory=list)  # digests, oldest first
    tags: dict[str, str] = field(default_factory=dict)  # tag -> current digest
    minor: int = 0
    patch: int = 0


@dataclass
class StreamMix:
    events: int = 0
    pushes: int = 0
    tag_moves: int = 0
    pulls_by_tag: int = 0
    pulls_by_digest: int = 0


class DistributionStream:
    """A seeded, time-ordered stream of Distribution 2.8 manifest notifications."""

    def __init__(self, rng: random.Random, repositories: int = 200) -> None:
        self.rng = rng
        self.repos = [
            RepoState(name=f"team-{i % 25:02d}/service-{i:03d}", pusher=f"ci-team-{i % 25:02d}")
            for i in range(repositories)
        ]
        # Popularity is skewed (a few hot images, a long tail), as in any registry.
        self._repo_weights = [1 / (i + 1) ** 0.8 for i in range(repositories)]
        self.instance = seeded_uuid(rng)
        self.now = T0
        self.mix = StreamMix()
        self._builds = 0

    def generate(self, count: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < count:
            out.extend(self._operation())
        out = out[:count]
        self.mix.events = len(out)
        return out

    def _operation(self) -> list[dict[str, Any]]:
        repo = self.rng.choices(self.repos, weights=self._repo_weights)[0]
        roll = self.rng.random()
        if not repo.history or roll < 0.10:
            return self._push_release(repo)
        if roll < 0.13:
            return self._rebuild(repo)
        if roll < 0.50:
            # kubelet/containerd: HEAD by tag to resolve, then GET by digest.
            tag = self._pick_tag(repo)
            actor = self._puller()
            return [
                self._pull(repo, repo.tags[tag], tag, "HEAD", actor),
                self._pull(repo, repo.tags[tag], None, "GET", actor),
            ]
        if roll < 0.58:
            tag = self._pick_tag(repo)
            return [self._pull(repo, repo.tags[tag], tag, "GET", self._puller())]
        # Pull by digest: mostly the current release, sometimes an older one still running.
        digest = (
            repo.tags["latest"] if self.rng.random() < 0.75 else self.rng.choice(repo.history[-10:])
        )
        return [self._pull(repo, digest, None, "GET", self._puller())]

    def _push_release(self, repo: RepoState) -> list[dict[str, Any]]:
        digest = self._new_digest(repo)
        repo.patch += 1
        if repo.patch > 9:
            repo.minor, repo.patch = repo.minor + 1, 0
        version = f"v1.{repo.minor}.{repo.patch}"
        events = [self._push(repo, digest, version)]
        # `docker push repo:latest` after the version tag: the same digest, latest moves.
        if self.rng.random() < 0.7 or "latest" not in repo.tags:
            events.append(self._push(repo, digest, "latest"))
        return events

    def _rebuild(self, repo: RepoState) -> list[dict[str, Any]]:
        """A re-push of an existing tag with another digest: the tag moves."""
        tag = self.rng.choice([t for t in repo.tags if t != "latest"] or ["latest"])
        return [self._push(repo, self._new_digest(repo), tag)]

    def _new_digest(self, repo: RepoState) -> str:
        self._builds += 1
        digest = f"sha256:{sha256_hex(f'{repo.name}#{self._builds}')}"
        repo.history.append(digest)
        return digest

    def _pick_tag(self, repo: RepoState) -> str:
        if self.rng.random() < 0.6:
            return "latest"
        return self.rng.choice(list(repo.tags))

    def _puller(self) -> tuple[str | None, str, str]:
        actor, agent, net = self.rng.choices(PULLERS, weights=PULLER_WEIGHTS)[0]
        return actor, agent, f"{net}{self.rng.randint(2, 254)}"

    def _tick(self) -> str:
        self.now += timedelta(microseconds=self.rng.randint(1_000, 2_000_000))
        return rfc3339(self.now)

    def _push(self, repo: RepoState, digest: str, tag: str) -> dict[str, Any]:
        if tag in repo.tags and repo.tags[tag] != digest:
            self.mix.tag_moves += 1
        repo.tags[tag] = digest
        self.mix.pushes += 1
        size = self.rng.randint(900, 4000)
        references = [
            {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": self.rng.randint(900, 9000),
                "digest": f"sha256:{sha256_hex(digest + 'config')}",
            },
            *(
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "size": self.rng.randint(1_000, 40_000_000),
                    "digest": f"sha256:{sha256_hex(f'{digest}layer{n}')}",
                }
                for n in range(3)
            ),
        ]
        return self._event(
            "push",
            repo,
            target={"mediaType": MANIFEST_TYPE, "size": size, "digest": digest},
            tag=tag,
            references=references,
            method="PUT",
            actor=repo.pusher,
            agent="buildkit/v0.20.2",
            addr=f"10.60.0.{self.rng.randint(2, 254)}",
        )

    def _pull(
        self,
        repo: RepoState,
        digest: str,
        tag: str | None,
        method: str,
        who: tuple[str | None, str, str],
    ) -> dict[str, Any]:
        if tag is None:
            self.mix.pulls_by_digest += 1
        else:
            self.mix.pulls_by_tag += 1
        actor, agent, addr = who
        return self._event(
            "pull",
            repo,
            target={"mediaType": MANIFEST_TYPE, "size": 1560, "digest": digest},
            tag=tag,
            references=None,
            method=method,
            actor=actor,
            agent=agent,
            addr=addr,
        )

    def _event(
        self,
        action: str,
        repo: RepoState,
        *,
        target: dict[str, Any],
        tag: str | None,
        references: list[dict[str, Any]] | None,
        method: str,
        actor: str | None,
        agent: str,
        addr: str,
    ) -> dict[str, Any]:
        target = {
            **target,
            "length": target["size"],
            "repository": repo.name,
            "url": f"https://{REGISTRY_HOST}/v2/{repo.name}/manifests/{target['digest']}",
        }
        if tag is not None:
            target["tag"] = tag
        if references is not None:
            target["references"] = references
        return {
            "id": seeded_uuid(self.rng),
            "timestamp": self._tick(),
            "action": action,
            "target": target,
            "request": {
                "id": seeded_uuid(self.rng),
                "addr": f"{addr}:{self.rng.randint(32768, 60999)}",
                "host": REGISTRY_HOST,
                "method": method,
                "useragent": agent,
            },
            "actor": {"name": actor} if actor else {},
            "source": {"addr": "registry-01:5000", "instanceID": self.instance},
        }


def envelopes(events: list[dict[str, Any]], batch: int) -> list[bytes]:
    """Distribution bodies: `json.MarshalIndent(envelope, "", "   ")`, `batch` events each."""
    return [
        json.dumps({"events": events[i : i + batch]}, indent=3).encode()
        for i in range(0, len(events), batch)
    ]


@dataclass
class IngestResult:
    backend: str
    events: int
    requests: int
    batch: int
    concurrency: int
    accepted: int
    duplicates: int
    errors: int
    accept_seconds: float
    project_seconds: float
    accept_rate: float
    project_rate: float
    lag_at_last_202: int
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    log_entries: int
    peak_rss_mib: float
    server_cpu_seconds: float
    body_mib: float
    # Hash-chained stdlib sqlite3 append of the same bodies, measured before the server
    # starts and after it stops: the higher of the two (the disk's speed moves with the
    # machine's load; the ratio is never flattered by a slow moment of the floor).
    floor_rate: float = 0.0
    floor_rates: tuple[float, float] = (0.0, 0.0)
    project_behind: bool = False  # PROVENANCE_PROJECT_BEFORE_ACCEPT=false
    # (events accepted, server VmRSS MiB) every --rss-every events, and at lag 0
    rss_curve: list[tuple[int, float]] = field(default_factory=list)

    @property
    def of_floor(self) -> float:
        return self.project_rate / self.floor_rate if self.floor_rate else 0.0

    @property
    def cpu_ms_per_event(self) -> float:
        return self.server_cpu_seconds * 1000 / self.events if self.events else 0.0


async def _post_all(
    base_url: str,
    bodies: list[bytes],
    concurrency: int,
    on_accepted: Callable[[int], None] = lambda _: None,
) -> tuple[float, float, list[float], int, int, int]:
    """POST every body; return (start, last 202, latencies, accepted, duplicates, errors).
    `on_accepted` is told the events accepted so far after each 202."""
    pending = iter(bodies)
    latencies: list[float] = []
    totals = {"accepted": 0, "duplicates": 0, "errors": 0}
    last_ok = 0.0
    path = f"/v1/webhooks/distribution?registry={REGISTRY_HOST}"
    headers = {"Content-Type": DISTRIBUTION_TYPE, "User-Agent": "Go-http-client/1.1"}

    async def client_loop() -> None:
        nonlocal last_ok
        async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
            for body in pending:  # one shared iterator: each body is sent once
                sent = time.perf_counter()
                response = await client.post(path, content=body, headers=headers)
                done = time.perf_counter()
                latencies.append(done - sent)
                if response.status_code != 202:
                    totals["errors"] += 1
                    say(f"HTTP {response.status_code}: {response.text[:300]}")
                    continue
                answer = response.json()
                totals["accepted"] += answer["accepted"]
                totals["duplicates"] += answer["duplicates"]
                last_ok = max(last_ok, done)
                on_accepted(totals["accepted"])

    start = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return start, last_ok, latencies, totals["accepted"], totals["duplicates"], totals["errors"]


def sqlite_floor(bodies: list[bytes], workdir: Path) -> float:
    """Events/s of the least a durable ingest must do, with the stdlib sqlite3 and the
    service's pragmas (WAL, synchronous=FULL): per request, parse the body, claim each
    event's id (unique key), append the body hash-chained to the previous entry, commit."""
    path = workdir / f"floor-{uuid.uuid4().hex[:8]}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE keys (id TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
        conn.execute(
            "CREATE TABLE log (seq INTEGER PRIMARY KEY, prev TEXT NOT NULL, hash TEXT NOT NULL,"
            " body BLOB NOT NULL)"
        )
        prev, events = "0" * 64, 0
        start = time.perf_counter()
        for seq, body in enumerate(bodies, 1):
            ids = [(e["id"], seq) for e in orjson.loads(body)["events"]]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO keys VALUES (?, ?)", ids)
            digest = hashlib.sha256(prev.encode() + body).hexdigest()
            conn.execute("INSERT INTO log VALUES (?, ?, ?, ?)", (seq, prev, digest, body))
            conn.execute("COMMIT")
            prev, events = digest, events + len(ids)
        return events / (time.perf_counter() - start)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def _readiness(client: httpx.Client) -> dict[str, Any]:
    checks: dict[str, Any] = client.get("/readyz").json()["checks"]["database"]
    return checks


def run_ingest(backend: str, database_url: str, args: argparse.Namespace) -> IngestResult:
    rng = random.Random(args.seed)
    stream = DistributionStream(rng, repositories=args.repositories)
    events = stream.generate(args.events)
    bodies = envelopes(events, args.batch)
    mix = stream.mix
    say(
        f"{backend}: {mix.events} events ({mix.pushes} pushes, {mix.tag_moves} tag moves, "
        f"{mix.pulls_by_tag} pulls by tag, {mix.pulls_by_digest} by digest) "
        f"in {len(bodies)} requests of {args.batch}"
    )
    floor = sqlite_floor(bodies, args.workdir)
    say(f"{backend}: hash-chained sqlite3 floor before the server: {floor:,.0f} ev/s")
    extra_env = {"PROVENANCE_PROJECT_BEFORE_ACCEPT": "false"} if args.project_behind else {}
    server = Server(database_url, args.workdir, extra_env)
    with server, httpx.Client(base_url=server.url) as probe:
        cpu_at_start = server.cpu_seconds()
        curve: list[tuple[int, float]] = []

        def sample(accepted: int) -> None:
            if accepted >= (len(curve) + 1) * args.rss_every:
                curve.append((accepted, server.rss_mib()))
                say(f"{backend}: {accepted:,} events accepted, server RSS {curve[-1][1]:,.0f} MiB")

        start, last_ok, latencies, accepted, duplicates, errors = asyncio.run(
            _post_all(server.url, bodies, args.concurrency, sample)
        )
        lag_at_last = int(_readiness(probe)["projection_lag"])
        while True:
            state = _readiness(probe)
            if state["projection_lag"] == 0:
                projected = time.perf_counter()
                break
            time.sleep(0.05)
        curve.append((accepted, server.rss_mib()))
        peak_rss, cpu_seconds = server.peak_rss_mib(), server.cpu_seconds() - cpu_at_start
    floor_after = sqlite_floor(bodies, args.workdir)
    say(f"{backend}: hash-chained sqlite3 floor after the server: {floor_after:,.0f} ev/s")
    accept_s = last_ok - start
    project_s = max(projected - start, accept_s)
    return IngestResult(
        backend=backend,
        events=len(events),
        requests=len(bodies),
        batch=args.batch,
        concurrency=args.concurrency,
        accepted=accepted,
        duplicates=duplicates,
        errors=errors,
        accept_seconds=accept_s,
        project_seconds=project_s,
        accept_rate=accepted / accept_s if accept_s > 0 else 0.0,
        project_rate=accepted / project_s if project_s > 0 else 0.0,
        lag_at_last_202=lag_at_last,
        latency_p50_ms=percentile(latencies, 50) * 1000,
        latency_p95_ms=percentile(latencies, 95) * 1000,
        latency_max_ms=max(latencies) * 1000,
        log_entries=int(state["log_entries"]),
        peak_rss_mib=peak_rss,
        server_cpu_seconds=cpu_seconds,
        body_mib=sum(map(len, bodies)) / 2**20,
        floor_rate=max(floor, floor_after),
        floor_rates=(floor, floor_after),
        project_behind=args.project_behind,
        rss_curve=curve,
    )


# --- part 2: a large generated graph, built through the domain ------------------------------

BUILDERS = tuple(f"https://ci.bench.local/runners/{name}" for name in ("release", "pr", "nightly"))
CLUSTERS = (("eu-1", "production"), ("us-1", "production"), ("stage-1", "staging"))
IMAGES_PER_COMMIT = 5


@dataclass
class GraphPlan:
    commits: list[str]
    actors: list[str]


def canonical_events(
    rng: random.Random, artifacts: int, pulls_per_artifact: float
) -> tuple[list[dict[str, Any]], GraphPlan]:
    """Commits -> one build each -> IMAGES_PER_COMMIT artifacts pushed to the commit's
    5 repositories (200 in all), with pulls, moving `latest` tags and some deployments."""
    commits = max(1, artifacts // IMAGES_PER_COMMIT)
    groups = 40  # 40 monorepos x 5 images = 200 repositories
    out: list[dict[str, Any]] = []
    shas: list[str] = []
    now = T0

    def event(kind: str, **fields: Any) -> None:
        nonlocal now
        now += timedelta(milliseconds=rng.randint(1, 500))
        out.append({"id": seeded_uuid(rng), "type": kind, "time": rfc3339(now), **fields})

    for c in range(commits):
        sha = hashlib.sha1(f"commit-{c}".encode(), usedforsecurity=False).hexdigest()
        shas.append(sha)
        group = c % groups
        build = f"bench-ci-{c}"
        builder = rng.choice(BUILDERS)
        pusher = f"ci-bot-{group % 8}"
        deploy = rng.random() < 0.05
        for k in range(IMAGES_PER_COMMIT):
            repo = f"{REGISTRY_HOST}/mono-{group:02d}/image-{k}"
            digest = f"sha256:{sha256_hex(f'{sha}/{k}')}"
            event(
                "build.finished",
                source="bench-ci",
                build=build,
                commit=sha,
                digest=digest,
                builder=builder,
            )
            event(
                "artifact.pushed",
                source="bench-registry",
                digest=digest,
                repository=repo,
                tag=f"git-{sha[:10]}",
                actor=pusher,
                media_type=MANIFEST_TYPE,
            )
            if c // groups % 4 == 0:  # every 4th commit of a monorepo is released: latest moves
                event(
                    "artifact.pushed",
                    source="bench-registry",
                    digest=digest,
                    repository=repo,
                    tag="latest",
                    actor=pusher,
                )
            pulls = int(pulls_per_artifact) + (rng.random() < pulls_per_artifact % 1)
            for _ in range(pulls):
                actor, _agent, net = rng.choices(PULLERS, weights=PULLER_WEIGHTS)[0]
                event(
                    "artifact.pulled",
                    source="bench-registry",
                    digest=digest,
                    repository=repo,
                    actor=actor or "anonymous",
                    client=f"{net}{rng.randint(2, 254)}",
                )
            if deploy:
                cluster, environment = rng.choice(CLUSTERS)
                event(
                    "deployment.applied",
                    source="bench-k8s",
                    digest=digest,
                    workload=f"deployment/mono-{group:02d}-image-{k}",
                    namespace=f"mono-{group:02d}",
                    cluster=cluster,
                    environment=environment,
                    container="app",
                )
    actors = sorted({f"ci-bot-{g % 8}" for g in range(groups)})
    return out, GraphPlan(commits=shas, actors=actors)


@dataclass
class BuildResult:
    backend: str
    artifacts: int
    events: int
    deliveries: int
    nodes: int
    edges: int
    timeline_rows: int
    generate_seconds: float
    normalize_seconds: float
    append_seconds: float
    project_seconds: float
    project_cpu_seconds: float
    windows: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def window_ratio(self) -> float | None:
        """Projection rate of the last window over the first: 1.0 means no slow-down."""
        if len(self.windows) < 2:
            return None
        return self.windows[-1][1] / self.windows[0][1]

    @property
    def total_seconds(self) -> float:
        return (
            self.generate_seconds
            + self.normalize_seconds
            + self.append_seconds
            + self.project_seconds
        )


def build_graph(
    database_url: str, args: argparse.Namespace
) -> tuple[BuildResult, GraphPlan, Database]:
    db = Database(database_url)
    db.upgrade()
    rng = random.Random(args.seed + 1)
    t = time.perf_counter()
    raw, plan = canonical_events(rng, args.artifacts, args.pulls_per_artifact)
    bodies = [
        b"\n".join(orjson.dumps(e) for e in raw[i : i + args.delivery_events])
        for i in range(0, len(raw), args.delivery_events)
    ]
    generate_s = time.perf_counter() - t
    say(f"graph: {len(raw)} canonical events in {len(bodies)} deliveries ({generate_s:.1f}s)")

    normalize_s = append_s = 0.0
    for n, body in enumerate(bodies, 1):
        delivery = Delivery(
            source="events",
            body=body,
            received_at=datetime.now(UTC),
            content_type="application/x-ndjson",
        )
        t = time.perf_counter()
        events = normalize(delivery)
        normalize_s += time.perf_counter() - t
        t = time.perf_counter()
        with db.write() as session:
            log.append(session, delivery, events)
        append_s += time.perf_counter() - t
        if n % 10 == 0 or n == len(bodies):
            say(f"graph: appended {n}/{len(bodies)} deliveries")

    say(
        f"graph: projecting {len(bodies)} log entries, at most {args.projection_batch} and "
        f"{args.projection_events:,} events per transaction (as `provenance db rebuild`)"
    )
    t, cpu = time.perf_counter(), time.process_time()
    with db.replaying():  # as `provenance db rebuild`
        windows = project_with_progress(
            db,
            args.projection_batch,
            args.projection_events,
            len(raw) / len(bodies),
            args.window_events,
        )
    project_s, project_cpu = time.perf_counter() - t, time.process_time() - cpu
    say(f"graph: projected in {project_s:.1f}s ({project_cpu:.1f}s CPU in this process)")

    with db.read() as session:
        nodes = session.execute(select(func.count()).select_from(Node)).scalar_one()
        edges = session.execute(select(func.count()).select_from(Edge)).scalar_one()
        timeline = session.execute(select(func.count()).select_from(TimelineEvent)).scalar_one()
        artifact_rows = session.execute(select(func.count()).select_from(Artifact)).scalar_one()
    result = BuildResult(
        backend="",
        artifacts=int(artifact_rows),
        events=len(raw),
        deliveries=len(bodies),
        nodes=int(nodes),
        edges=int(edges),
        timeline_rows=int(timeline),
        generate_seconds=generate_s,
        normalize_seconds=normalize_s,
        append_seconds=append_s,
        project_seconds=project_s,
        project_cpu_seconds=project_cpu,
        windows=windows,
    )
    return result, plan, db


def project_with_progress(
    db: Database, batch: int, max_events: int, events_per_entry: float, window_events: int
) -> list[tuple[int, float, float]]:
    """Project everything pending, one transaction of at most `batch` log entries and
    `max_events` events at a time (as a replay of the log does), and
    return the projection rate per window of `window_events` events as the graph grows:
    (events projected at the end of the window, events/s within it, CPU ms/event within it:
    this process's CPU, plus the database server's on PostgreSQL, is not counted there)."""
    windows: list[tuple[int, float, float]] = []
    done = 0.0
    mark, mark_t, mark_cpu = 0.0, time.perf_counter(), time.process_time()
    started = mark_t
    last_say = mark_t
    while True:
        # As the service's runner projects: the batch at once, not durable (the log is).
        step = partial(projection.project_pending, limit=batch, max_events=max_events)
        n = projection.project_in(db, step)
        if not n:
            break
        done += n * events_per_entry
        now = time.perf_counter()
        if done - mark >= window_events:
            cpu = time.process_time()
            windows.append(
                (int(done), (done - mark) / (now - mark_t), (cpu - mark_cpu) * 1000 / (done - mark))
            )
            mark, mark_t, mark_cpu = done, now, cpu
        if now - last_say >= 30:
            say(f"graph: projected ~{done:,.0f} events in {now - started:.0f}s")
            last_say = now
    if done > mark:
        now, cpu = time.perf_counter(), time.process_time()
        rate = (done - mark) / max(now - mark_t, 1e-9)
        windows.append((int(done), rate, (cpu - mark_cpu) * 1000 / (done - mark)))
    return windows


def kept_graph(
    path: Path, args: argparse.Namespace
) -> tuple[BuildResult | None, GraphPlan, Database]:
    """The graph in the SQLite file `path`: built there (and its plan kept beside it) the
    first time, reused as it is afterwards (no build figures then)."""
    plan_file = path.with_name(path.name + ".plan.json")
    url = f"sqlite:///{path}"
    if path.exists() and plan_file.exists():
        say(f"graph: reusing {path} (built earlier; no build figures this run)")
        plan = GraphPlan(**json.loads(plan_file.read_text()))
        db = Database(url)
        db.upgrade()
        with db.read() as session:
            nodes = session.execute(select(func.count()).select_from(Node)).scalar_one()
            edges = session.execute(select(func.count()).select_from(Edge)).scalar_one()
        say(f"graph: {nodes:,} nodes, {edges:,} edges, {len(plan.commits):,} commits")
        return None, plan, db
    say(f"graph: building into {path} (kept for later runs)")
    built, plan, db = build_graph(url, args)
    plan_file.write_text(json.dumps(asdict(plan)))
    return built, plan, db


@dataclass
class LatencyResult:
    backend: str
    path: str  # "http" or "direct"
    query: str
    samples: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    mean_reached: float  # artifacts + tags + deployments + pullers per answer
    peak_rss_mib: float | None = None
    # CPU per query: this process's (direct), the server's (http, in clock ticks of 10 ms)
    cpu_p50_ms: float | None = None
    cpu_p95_ms: float | None = None


def _summary(
    backend: str,
    path: str,
    query: str,
    times: list[float],
    reached: list[int],
    rss: float | None = None,
    cpu: list[float] | None = None,
) -> LatencyResult:
    return LatencyResult(
        backend=backend,
        path=path,
        query=query,
        samples=len(times),
        p50_ms=percentile(times, 50) * 1000,
        p95_ms=percentile(times, 95) * 1000,
        max_ms=max(times) * 1000,
        mean_reached=statistics.fmean(reached),
        peak_rss_mib=rss,
        cpu_p50_ms=percentile(cpu, 50) * 1000 if cpu else None,
        cpu_p95_ms=percentile(cpu, 95) * 1000 if cpu else None,
    )


def _reached(counts: dict[str, int]) -> int:
    return sum(counts.values())


def run_queries(
    backend: str, database_url: str, db: Database, plan: GraphPlan, args: argparse.Namespace
) -> list[LatencyResult]:
    rng = random.Random(args.seed + 2)
    commits = rng.sample(plan.commits, min(args.queries, len(plan.commits)))
    # More than there are actors: they come round again (several answers per actor).
    heavy = [plan.actors[i % len(plan.actors)] for i in range(args.heavy_queries)]
    results: list[LatencyResult] = []

    def summary(path: str, query: str, timed: list[tuple[float, int, float]]) -> LatencyResult:
        times, reached, cpu = ([t[i] for t in timed] for i in range(3))
        return _summary(backend, path, query, times, [int(n) for n in reached], cpu=cpu)

    # Directly through the domain: one read transaction per query, like the route does.
    def direct(kind: str, value: str) -> tuple[float, int, float]:
        t, cpu = time.perf_counter(), time.process_time()
        with db.read() as session:
            answer = blast.blast_radius(session, kind, value)
        return time.perf_counter() - t, _reached(answer.counts), time.process_time() - cpu

    for sha in commits[:10]:
        direct("commit", sha)  # warm caches and the connection pool
    if commits:
        results.append(summary("direct", "commit", [direct("commit", sha) for sha in commits]))
    if heavy:
        results.append(summary("direct", "actor", [direct("actor", a) for a in heavy]))
    db.dispose()

    with (
        Server(database_url, args.workdir) as server,
        httpx.Client(base_url=server.url, timeout=300) as client,
    ):

        def over_http(kind: str, value: str) -> tuple[float, int, float]:
            t, cpu = time.perf_counter(), server.cpu_seconds()
            response = client.post("/v1/incidents/blast-radius", json={kind: value})
            elapsed = time.perf_counter() - t
            response.raise_for_status()
            return elapsed, _reached(response.json()["counts"]), server.cpu_seconds() - cpu

        for sha in commits[:10]:
            over_http("commit", sha)
        http_results = []
        if commits:
            http_results.append(
                summary("http", "commit", [over_http("commit", sha) for sha in commits])
            )
        if heavy:
            http_results.append(summary("http", "actor", [over_http("actor", a) for a in heavy]))
        rss = server.peak_rss_mib()
        for r in http_results:
            r.peak_rss_mib = rss
    return results + http_results


# --- report --------------------------------------------------------------------------------


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    out = [title, line]
    for n, row in enumerate(cells):
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            out.append(line)
    out.append(line)
    return "\n".join(out)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def _milestones(
    windows: list[tuple[int, float, float]], marks: Sequence[int]
) -> list[tuple[int, float, float]]:
    """The window that ends nearest each mark, for marks the build reached (+5%)."""
    out: list[tuple[int, float, float]] = []
    for mark in marks:
        if windows and windows[-1][0] >= mark * 0.95:
            best = min(windows, key=lambda w: abs(w[0] - mark))
            if best not in out:
                out.append(best)
    return out


def report(
    ingests: list[IngestResult], builds: list[BuildResult], latencies: list[LatencyResult]
) -> str:
    parts: list[str] = []
    if ingests:
        i0 = ingests[0]
        parts.append(
            table(
                f"Ingest: {i0.events:,} Distribution events, {i0.requests} POSTs of {i0.batch}, "
                f"{i0.concurrency} concurrent clients"
                + (", projected behind the 202" if i0.project_behind else ""),
                [
                    "backend",
                    "accepted ev/s",
                    "projected ev/s",
                    "to last 202 s",
                    "to lag 0 s",
                    "lag@last202",
                    "req p50 ms",
                    "req p95 ms",
                    "req max ms",
                    "errors",
                    "srv CPU ms/ev",
                    "peak RSS MiB",
                    "sqlite3 floor ev/s",
                    "of floor",
                ],
                [
                    [
                        r.backend,
                        r.accept_rate,
                        r.project_rate,
                        r.accept_seconds,
                        r.project_seconds,
                        r.lag_at_last_202,
                        r.latency_p50_ms,
                        r.latency_p95_ms,
                        r.latency_max_ms,
                        r.errors,
                        r.cpu_ms_per_event,
                        r.peak_rss_mib,
                        r.floor_rate,
                        f"{r.of_floor:.3f}",
                    ]
                    for r in ingests
                ],
            )
        )
    if builds:
        parts.append(
            table(
                "Graph build through the domain (log.append + ProjectionRunner)",
                [
                    "backend",
                    "artifacts",
                    "events",
                    "nodes",
                    "edges",
                    "generate s",
                    "normalize s",
                    "append s",
                    "project s",
                    "project ev/s",
                    "proj CPU ms/ev",
                    "total s",
                ],
                [
                    [
                        b.backend,
                        b.artifacts,
                        b.events,
                        b.nodes,
                        b.edges,
                        b.generate_seconds,
                        b.normalize_seconds,
                        b.append_seconds,
                        b.project_seconds,
                        b.events / b.project_seconds if b.project_seconds else 0.0,
                        b.project_cpu_seconds * 1000 / b.events if b.events else 0.0,
                        b.total_seconds,
                    ]
                    for b in builds
                ],
            )
        )
        for b in builds:
            rows = [[f"{end:,}", rate, f"{cpu:.2f}"] for end, rate, cpu in b.windows]
            ratio = b.window_ratio
            title = f"Projection events/s per window as the graph grows ({b.backend})" + (
                f": last/first = {ratio:.2f}" if ratio is not None else ""
            )
            parts.append(table(title, ["events projected", "window ev/s", "CPU ms/ev"], rows))
            marks = _milestones(b.windows, (20_000, 200_000, 1_000_000))
            if marks:
                parts.append(
                    f"windows ending nearest 20k / 200k / 1M events ({b.backend}): "
                    + "; ".join(
                        f"{end:,}: {rate:,.0f} ev/s, {cpu:.2f} CPU ms/ev"
                        for end, rate, cpu in marks
                    )
                )
    if latencies:
        parts.append(
            table(
                "Blast radius latency (sequential requests)",
                [
                    "backend",
                    "via",
                    "query",
                    "n",
                    "p50 ms",
                    "p95 ms",
                    "max ms",
                    "items/answer",
                    "server RSS MiB",
                    "CPU p50 ms",
                    "CPU p95 ms",
                ],
                [
                    [
                        r.backend,
                        r.path,
                        r.query,
                        r.samples,
                        r.p50_ms,
                        r.p95_ms,
                        r.max_ms,
                        r.mean_reached,
                        r.peak_rss_mib,
                        r.cpu_p50_ms,
                        r.cpu_p95_ms,
                    ]
                    for r in latencies
                ],
            )
        )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    parts.append(f"{os.cpu_count()} CPUs; load average at the end: {load}")
    return "\n\n".join(parts)


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=20_000, help="Distribution events to ingest")
    p.add_argument("--batch", type=int, default=100, help="events per webhook request")
    p.add_argument("--concurrency", type=int, default=4, help="concurrent HTTP clients")
    p.add_argument(
        "--project-behind",
        action="store_true",
        help="serve with PROVENANCE_PROJECT_BEFORE_ACCEPT=false: a 202 once logged, the"
        " projection thread batching what is pending behind it",
    )
    p.add_argument(
        "--rss-every", type=int, default=100_000, help="sample the server's RSS every N events"
    )
    p.add_argument("--repositories", type=int, default=200, help="repositories in the stream")
    p.add_argument("--artifacts", type=int, default=100_000, help="artifacts in the query graph")
    p.add_argument("--pulls-per-artifact", type=float, default=0.5, help="mean pulls per artifact")
    p.add_argument("--delivery-events", type=int, default=5_000, help="events per log entry")
    p.add_argument(
        "--projection-batch",
        type=int,
        default=500,
        help="log entries per projection transaction (at most; `provenance db rebuild`'s)",
    )
    p.add_argument(
        "--projection-events",
        type=int,
        default=REPLAY_EVENTS,
        help="events per projection transaction (at most; `provenance db rebuild`'s)",
    )
    p.add_argument(
        "--window-events",
        type=int,
        default=20_000,
        help="events per window of the projection-rate figures",
    )
    p.add_argument("--queries", type=int, default=200, help="blast-radius queries by commit")
    p.add_argument(
        "--heavy-queries",
        type=int,
        default=3,
        help="blast-radius queries by a CI actor, the 8 in turn (0: none)",
    )
    p.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated backends")
    p.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN, help="PostgreSQL to create DBs on")
    p.add_argument("--seed", type=int, default=20260301)
    p.add_argument("--skip-ingest", action="store_true")
    p.add_argument("--skip-query", action="store_true")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    p.add_argument(
        "--db",
        type=Path,
        help="query part on SQLite: keep the built graph in this file, or reuse it if it exists"
        " (so two versions of the code can be timed on one graph)",
    )
    args = p.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        p.error(f"unknown backend(s): {', '.join(sorted(unknown))}; known: {', '.join(BACKENDS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"{os.cpu_count()} CPUs, load average {load} (other work on the machine skews rates)")
    ingests: list[IngestResult] = []
    builds: list[BuildResult] = []
    latencies: list[LatencyResult] = []
    with tempfile.TemporaryDirectory(prefix="prov-bench-") as tmp:
        args.workdir = Path(tmp)
        for backend in args.backends:
            if not args.skip_ingest:
                with throwaway_database(backend, args.workdir, args.pg_admin_url) as url:
                    say(f"{backend}: ingest")
                    ingests.append(run_ingest(backend, url, args))
                    i = ingests[-1]  # on stderr at once: a later failure must not lose it
                    say(
                        f"{backend}: {i.accept_rate:,.0f} ev/s accepted, {i.project_rate:,.0f}"
                        f" projected, {i.cpu_ms_per_event:.2f} srv CPU ms/ev, peak RSS"
                        f" {i.peak_rss_mib:,.0f} MiB, floor {i.floor_rate:,.0f} ev/s"
                        f" (the higher of {i.floor_rates[0]:,.0f} before and"
                        f" {i.floor_rates[1]:,.0f} after; {i.of_floor:.3f} of it)"
                    )
                    curve = ", ".join(f"{n:,}: {mib:,.0f}" for n, mib in i.rss_curve)
                    say(f"{backend}: server RSS MiB by events accepted (last: at lag 0): {curve}")
            if not args.skip_query and args.db is not None and backend == "sqlite":
                built, plan, db = kept_graph(args.db, args)
                if built is not None:
                    built.backend = backend
                    builds.append(built)
                say(f"{backend}: blast-radius queries on {args.db}")
                latencies.extend(run_queries(backend, f"sqlite:///{args.db}", db, plan, args))
            elif not args.skip_query:
                with throwaway_database(backend, args.workdir, args.pg_admin_url) as url:
                    say(f"{backend}: building a graph of {args.artifacts:,} artifacts")
                    built, plan, db = build_graph(url, args)
                    built.backend = backend
                    builds.append(built)
                    if args.queries:  # --queries 0: build the graph only
                        say(f"{backend}: blast-radius queries")
                        latencies.extend(run_queries(backend, url, db, plan, args))
                    db.dispose()
    print(report(ingests, builds, latencies))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "ingest": [
                        asdict(r) | {"cpu_ms_per_event": r.cpu_ms_per_event} for r in ingests
                    ],
                    "build": [asdict(b) | {"total_seconds": b.total_seconds} for b in builds],
                    "latency": [asdict(r) for r in latencies],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
