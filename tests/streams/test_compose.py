"""docker-compose.yml and the Dockerfile, checked by reading them (no Docker engine here):
the services and images the distributed mode needs, healthchecks and start order, and
that every PROVENANCE_* variable it sets is a setting the service actually reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from provenance.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- KEY=value` form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _default(value: str) -> str:
    """`${VAR:-default}` -> default, as compose resolves it with VAR unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_the_services_and_their_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"kafka", "postgres", "api", "worker", "registry"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["registry"]["image"] == "registry:2"
    for name in ("api", "worker"):
        assert services[name]["build"] == "."  # the Dockerfile of this repository
        assert services[name]["image"] == services["api"]["image"]
    assert services["api"]["command"][0] == "api" and services["worker"]["command"] == ["worker"]
    assert (ROOT / "Dockerfile").exists()
    assert 'ENTRYPOINT ["provenance"]' in (ROOT / "Dockerfile").read_text()


def test_kafka_runs_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "CLUSTER_ID" in env and not any("ZOOKEEPER" in k for k in env)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # topics come partitioned
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) > Settings().max_body_bytes


def test_every_service_has_a_healthcheck_and_waits_for_what_it_needs(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    for name in ("api", "worker"):
        needs = services[name]["depends_on"]
        assert needs["kafka"]["condition"] == needs["postgres"]["condition"] == "service_healthy"
        assert services[name]["restart"] == "unless-stopped"
    assert services["registry"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    worker_port = _env(services["worker"])["PROVENANCE_WORKER_PORT"]
    assert f":{worker_port}/readyz" in " ".join(services["worker"]["healthcheck"]["test"])


def test_api_replicas_and_a_scalable_worker(compose: dict[str, Any]) -> None:
    api, worker = compose["services"]["api"], compose["services"]["worker"]
    assert api["deploy"]["replicas"] == 2
    assert api["ports"] == ["8000-8001:8000"]  # one host port per replica
    # `--scale worker=N` needs no fixed name and no host port
    assert "container_name" not in worker and "ports" not in worker


def test_every_provenance_variable_is_a_setting(compose: dict[str, Any]) -> None:
    fields = {f"PROVENANCE_{name.upper()}" for name in Settings.model_fields}
    seen: set[str] = set()
    for service in compose["services"].values():
        seen |= {k for k in _env(service) if k.startswith("PROVENANCE_")}
    assert seen, "no PROVENANCE_ variable at all"
    assert seen <= fields, f"not settings: {sorted(seen - fields)}"
    for name in ("api", "worker"):
        env = {k: _default(v) for k, v in _env(compose["services"][name]).items()}
        settings = Settings(**{k.removeprefix("PROVENANCE_").lower(): v for k, v in env.items()})
        assert settings.kafka_url == "kafka://kafka:9092"
        assert "@postgres:5432/" in settings.database_url
        assert settings.auth_enabled  # the API binds 0.0.0.0: it refuses to without tokens


def test_the_registry_notifies_the_api_with_the_ingest_token(compose: dict[str, Any]) -> None:
    config = yaml.safe_load(_default(compose["configs"]["registry-config"]["content"]))
    (endpoint,) = config["notifications"]["endpoints"]
    url = urlsplit(endpoint["url"])
    assert (url.hostname, url.port, url.path) == ("api", 8000, "/v1/webhooks/distribution")
    assert parse_qs(url.query)["registry"] == ["localhost:5000"]
    ingest = _default(_env(compose["services"]["api"])["PROVENANCE_INGEST_TOKEN"])
    assert endpoint["headers"]["Authorization"] == [f"Bearer {ingest}"]
    (mount,) = compose["services"]["registry"]["configs"]
    assert mount["target"] == "/etc/docker/registry/config.yml"
