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


def _jobs(services: dict[str, Any]) -> set[str]:
    """One-shot services: never restarted, awaited by others until they completed."""
    return {
        name
        for name, service in services.items()
        if str(service.get("restart", "no")) == "no"
        and any(
            (other.get("depends_on") or {}).get(name, {}).get("condition")
            == "service_completed_successfully"
            for other in services.values()
        )
    }


def _runs_the_service(service: dict[str, Any]) -> bool:
    return service.get("build") == "." and service.get("command", [""])[0] in ("api", "worker")


def test_the_services_and_their_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    ours = {name for name, s in services.items() if s.get("build") == "."}
    assert {"api", "worker"} <= ours  # the distributed mode: API replicas and workers
    assert len({services[n]["image"] for n in ours}) == 1  # one image for all of them
    assert (ROOT / "Dockerfile").exists()
    assert 'ENTRYPOINT ["provenance"]' in (ROOT / "Dockerfile").read_text()


# name:exact.version (at least major.minor), optionally @sha256:<digest> beside it.
_PINNED = re.compile(r"^[a-z0-9./_-]+:v?\d+\.\d+(\.\d+)?[a-z0-9.-]*(@sha256:[0-9a-f]{64})?$")


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if service.get("build") == ".":
            continue  # built from this repository
        assert _PINNED.match(service["image"]), f"{name}: {service['image']} is not pinned"
    froms = re.findall(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), flags=re.M)
    assert froms and all(_PINNED.match(image) for image in froms), froms


def test_the_stack_signs_with_a_key_provisioned_once(compose: dict[str, Any]) -> None:
    services = compose["services"]
    runners = [s for s in services.values() if _runs_the_service(s)]
    assert runners
    for service in runners:
        key = _env(service)["PROVENANCE_SIGNING_KEY"]
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        directory = str(Path(key).parent)
        assert directory in mounts, f"{key} is not on a mounted volume"
        volume = mounts[directory]
        writers = [
            n
            for n in _jobs(services)
            if f"{volume}:{directory}" in services[n].get("volumes", [])
            and key in services[n]["command"]
        ]
        assert writers, f"no job writes {key} into {volume}"
        assert services[writers[0]]["command"][:2] == ["keys", "generate"]
    assert all(v is None or isinstance(v, dict) for v in compose["volumes"].values())


def test_kafka_runs_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "CLUSTER_ID" in env and not any("ZOOKEEPER" in k for k in env)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # topics come partitioned
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) > Settings().max_body_bytes


def test_every_service_has_a_healthcheck_and_starts_after_what_it_needs_is_healthy(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    jobs = _jobs(services)
    for name, service in services.items():
        if name in jobs:
            continue  # a one-shot job has no health: it completed, or nothing starts
        assert service["healthcheck"]["test"], name
        assert service["restart"] == "unless-stopped", name
        for needed, how in (service.get("depends_on") or {}).items():
            assert needed in services, f"{name} depends on an unknown {needed}"
            wanted = "service_completed_successfully" if needed in jobs else "service_healthy"
            assert how["condition"] == wanted, (name, needed)
    for service in services.values():  # the service's own probes ask its readiness
        if _runs_the_service(service):
            port = _env(service).get("PROVENANCE_WORKER_PORT", "8000")
            assert f":{port}/readyz" in " ".join(service["healthcheck"]["test"])
            assert {"kafka", "postgres"} <= set(service["depends_on"])


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
    # ...and anywhere else in the file: a ${PROVENANCE_X} substitution, an x- anchor
    text = (ROOT / "docker-compose.yml").read_text()
    seen |= {m for m in re.findall(r"\b(PROVENANCE_[A-Z_]+)\b", text)}
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
