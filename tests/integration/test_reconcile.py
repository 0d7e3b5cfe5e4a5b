"""Reconciliation against a real registry whose notifications were off for part of the pushes.

The registry first runs notifying the service (A pushed as v1 is seen live), then is
restarted on the same storage with notifications switched off: B is pushed as v2 and
moved onto v1, later A is deleted. Only `provenance reconcile` can tell the service.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import (
    REGISTRY_CONFIG,
    Proc,
    _clean_env,
    _start,
    _stop,
    _wait_http,
)
from tests.integration.test_registry import Service, build_image, push, run, skopeo

pytestmark = [pytest.mark.integration, pytest.mark.registry]

VENV_BIN = Path(sys.executable).parent


def _restart_without_notifications(tmp_path: Path, registry: Proc) -> Proc:
    _stop(registry)
    config = registry.extra["config"]
    assert isinstance(config, Path)
    quiet = config.read_text().split("notifications:", 1)[0]
    assert "notifications" in REGISTRY_CONFIG and "notifications" not in quiet
    quiet_config = tmp_path / "registry-quiet.yml"
    quiet_config.write_text(quiet)
    log_path = tmp_path / "docker-registry-quiet.log"
    process = _start(
        "docker-registry (quiet)",
        ["docker-registry", "serve", str(quiet_config)],
        _clean_env(),
        log_path,
        cwd=tmp_path,
    )
    proc = Proc("docker-registry (quiet)", process, log_path, registry.base_url, registry.port)
    _wait_http(proc, "/v2/", lambda r: r.status_code == 200)
    return proc


def _reconcile(service: Proc, registry: Proc) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    env["PROVENANCE_DATABASE_URL"] = f"sqlite:///{service.extra['database']}"
    out = subprocess.run(
        [str(VENV_BIN / "provenance"), "reconcile", "--registry", registry.base_url, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return dict(json.loads(out.stdout))


def test_reconcile_records_what_the_webhooks_missed(
    tmp_path: Path, provenance_service: Proc, distribution_registry: Proc
) -> None:
    layout, work = tmp_path / "oci", tmp_path / "work"
    work.mkdir()
    run(["umoci", "init", "--layout", str(layout)])
    a = build_image(layout, "a", "image A", "a" * 40, work)
    b = build_image(layout, "b", "image B", "b" * 40, work)
    host = str(distribution_registry.extra["host"])
    repo = f"{host}/acme/app"
    svc = Service(provenance_service)

    push(tmp_path, f"oci:{layout}:a", f"docker://{repo}:v1", tmp_path / "da")
    svc.wait_for("A's push notification", lambda: svc.maybe(f"/v1/artifacts/{a}"))

    quiet = _restart_without_notifications(tmp_path, distribution_registry)
    try:
        push(tmp_path, f"oci:{layout}:b", f"docker://{repo}:v2", tmp_path / "db")
        push(tmp_path, f"oci:{layout}:b", f"docker://{repo}:v1", tmp_path / "db")
        assert svc.maybe(f"/v1/artifacts/{b}") is None  # the service never heard of B

        report = _reconcile(provenance_service, quiet)
        found = sorted((e["type"], e["tag"], e["digest"]) for e in report["events"])  # type: ignore[union-attr]
        assert found == [("artifact.pushed", "v1", b), ("artifact.pushed", "v2", b)]
        assert report["accepted"] == 2

        history = svc.get("/v1/tags/history", repository=repo, tag="v1")["history"]
        assert [h["digest"] for h in history] == [a, b]
        events = svc.timeline(b)
        assert {e["type"] for e in events} >= {"artifact.pushed", "tag.updated"}
        pushed = [e for e in events if e["type"] == "artifact.pushed"]
        assert all(e["source"] == "reconcile" for e in pushed)
        assert all(e["attributes"]["found_by"] == "reconciliation" for e in pushed)

        again = _reconcile(provenance_service, quiet)
        assert again["events"] == [] and again["accepted"] == 0  # nothing new: nothing recorded

        skopeo(tmp_path, "delete", "--tls-verify=false", f"docker://{repo}@{a}")
        gone = _reconcile(provenance_service, quiet)
        assert [(e["type"], e["digest"]) for e in gone["events"]] == [("artifact.deleted", a)]  # type: ignore[union-attr]
        assert svc.get(f"/v1/artifacts/{a}")["deleted"] is True
        assert httpx.get(f"{provenance_service.base_url}/v1/audit/verify").json()["ok"] is True
    finally:
        _stop(quiet)
        svc.http.close()
