from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from provenance.settings import Settings
from provenance.store import Database


@pytest.fixture
def make_client(db: Database) -> Iterator[Callable[..., TestClient]]:
    """A client of a fresh app on the test database; settings overridable per test."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
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
