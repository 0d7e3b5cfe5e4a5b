"""The console in a real browser: Playwright driving Debian's Chromium (never Playwright's
own download), against the service in a uvicorn thread on a free port, demo story loaded.

Screenshots go to `tests/browser/screenshots/` (ignored by git): look at them."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from api import create_app
from provenance.ingest import demo
from provenance.settings import Settings
from provenance.store import Database
from tests.signing import Key, dsse_envelope, statement_v1, write_policy

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parent / "screenshots"
READ_TOKEN = "console-read-token-for-tests"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings, db=db), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the service did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def story_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, dict[str, Any]]]:
    path = tmp_path_factory.mktemp("console") / "console.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    info = demo.load(db)
    yield db, info
    db.dispose()


@pytest.fixture(scope="session")
def served(
    story_db: tuple[Database, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The demo plus two attestations of the rebuild: one by the trusted key (verified),
    one by a stranger's key (accepted, not verified), so the page has verdicts to show."""
    db, info = story_db
    key, stranger = Key.make(), Key.make()
    policy = write_policy(tmp_path_factory.mktemp("policy") / "policy.yaml", {"ci-release": key})
    with _Server(Settings(database_url=db.url, trust_policy=str(policy)), db) as server:
        rebuild = info["digests"]["rebuild"]
        for signer in (key, stranger):
            r = httpx.post(
                f"{server.url}/v1/attestations",
                content=orjson.dumps(dsse_envelope(statement_v1(rebuild), signer)),
                headers={"content-type": "application/vnd.dsse.envelope.v1+json"},
            )
            assert r.status_code == 202, r.text
        yield server.url, info


@pytest.fixture(scope="session")
def served_with_auth(
    story_db: tuple[Database, dict[str, Any]],
) -> Iterator[str]:
    db, _ = story_db
    settings = Settings(database_url=db.url, read_token=READ_TOKEN)
    with _Server(settings, db) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: sync Playwright runs an event loop on this thread until
    # it stops, and later tests (the Kafka stack) need `asyncio.run` here.
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
    assert not errors, f"the page raised: {errors}"


def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
