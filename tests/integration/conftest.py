"""Fixtures for end-to-end tests against real processes.

* `provenance_service`: `provenance serve` as a subprocess on a free loopback port with a
  throwaway SQLite database (no tokens, so auth is off on loopback).
* `distribution_registry`: Debian's `docker-registry` (CNCF Distribution 2.8) on a free
  loopback port, filesystem storage, deletes enabled, notifications POSTed to the service.

Both capture their stderr/stdout to a file under tmp_path; when the test fails the logs are
printed (pytest shows them in the "Captured stdout teardown" section).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
START_TIMEOUT = 20.0


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Expose each phase's report on the item, so fixtures can tell a failure at teardown."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"rep_{phase}", None), "failed", False)
        for phase in ("setup", "call")
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """The parent environment minus anything that would change the processes' behaviour."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PROVENANCE_", "REGISTRY_"))
    }


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    base_url: str
    port: int
    extra: dict[str, object] = field(default_factory=dict)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"<cannot read {self.log_path}: {exc}>"


def _start(name: str, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path):
    log_file = log_path.open("wb")
    try:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown signals only it
        )
    finally:
        log_file.close()


def _wait_http(proc: Proc, path: str, ok: Callable[[httpx.Response], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            pytest.fail(
                f"{proc.name} exited with {proc.process.returncode} before answering "
                f"{path}:\n{proc.log()}"
            )
        try:
            response = httpx.get(proc.base_url + path, timeout=2.0, trust_env=False)
            if ok(response):
                return
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    pytest.fail(f"{proc.name} did not answer {path} in {START_TIMEOUT}s ({last}):\n{proc.log()}")


def _stop(proc: Proc) -> None:
    if proc.process.poll() is not None:
        return
    try:
        os.killpg(proc.process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.process.pid, signal.SIGKILL)
        proc.process.wait(timeout=5)


def _teardown(request: pytest.FixtureRequest, proc: Proc) -> None:
    _stop(proc)
    if _failed(request):
        print(f"\n===== {proc.name} log ({proc.log_path}) =====\n{proc.log()}")


@pytest.fixture
def provenance_service(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Proc]:
    """`provenance serve` on a free loopback port and a fresh SQLite file."""
    executable = VENV_BIN / "provenance"
    need(executable.exists(), f"{executable} not installed (pip install -e .)")
    port = free_port()
    db_path = tmp_path / "provenance.db"
    env = _clean_env() | {"PROVENANCE_DATABASE_URL": f"sqlite:///{db_path}"}
    log_path = tmp_path / "provenance-serve.log"
    process = _start(
        "provenance serve",
        [str(executable), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env,
        log_path,
        cwd=tmp_path,
    )
    proc = Proc("provenance serve", process, log_path, f"http://127.0.0.1:{port}", port)
    proc.extra["database"] = db_path
    try:
        _wait_http(proc, "/readyz", lambda r: r.status_code == 200)
        yield proc
    finally:
        _teardown(request, proc)


REGISTRY_CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: integration-test-secret
notifications:
  endpoints:
    - name: provenance
      url: {url}
      timeout: 2s
      threshold: 5
      backoff: 1s
"""


@pytest.fixture
def distribution_registry(
    tmp_path: Path, request: pytest.FixtureRequest, provenance_service: Proc
) -> Iterator[Proc]:
    """Debian's docker-registry (Distribution 2.8) notifying `provenance_service`."""
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    need(Path(binary).exists(), "docker-registry not installed (apt-get install docker-registry)")
    port = free_port()
    host = f"127.0.0.1:{port}"
    webhook = f"{provenance_service.base_url}/v1/webhooks/distribution?registry={host}"
    root = tmp_path / "registry-storage"
    root.mkdir()
    config = tmp_path / "registry.yml"
    config.write_text(REGISTRY_CONFIG.format(root=root, port=port, url=webhook))
    log_path = tmp_path / "docker-registry.log"
    process = _start(
        "docker-registry", [binary, "serve", str(config)], _clean_env(), log_path, cwd=tmp_path
    )
    proc = Proc("docker-registry", process, log_path, f"http://{host}", port)
    proc.extra.update(host=host, webhook=webhook, config=config)
    try:
        _wait_http(proc, "/v2/", lambda r: r.status_code == 200)
        yield proc
    finally:
        _teardown(request, proc)
