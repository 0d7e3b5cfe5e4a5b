from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from provenance.attestations import ServiceSigner
from provenance.settings import Settings
from provenance.store import Database


@pytest.fixture(scope="session")
def service_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "service-key.pem"
    ServiceSigner.load_or_create(path)
    return path


@pytest.fixture
def make_client(db: Database, service_key: Path) -> Iterator[Callable[..., TestClient]]:
    """A client of a fresh app on the test database; settings overridable per test."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        # A service key, as a deployment provisions one (/readyz needs it on PostgreSQL);
        # a test of the keyless case passes signing_key=None.
        overrides.setdefault("signing_key", str(service_key))
        settings = Settings(database_url=db.url, **overrides)
        client = TestClient(create_app(settings, db=db))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
