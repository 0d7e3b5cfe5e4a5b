"""The CLI against a real `provenance serve`: run from another directory, it answers what
the API answers and creates nothing there; a server that is down is exit 3 in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from tests.integration.conftest import Proc, free_port

pytestmark = pytest.mark.integration

PROVENANCE = str(Path(sys.executable).parent / "provenance")


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    return subprocess.run(
        [PROVENANCE, *args],
        cwd=cwd,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_trace_from_another_directory_answers_what_the_api_answers(
    provenance_service: Proc, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    url = provenance_service.base_url
    loaded = _cli(["demo", "--server", url, "--json"], elsewhere)
    assert loaded.returncode == 0, loaded.stderr
    summary = orjson.loads(loaded.stdout)
    assert summary["accepted"] > 0
    original = summary["digests"]["original"]

    # PROVENANCE_URL is the same as --server.
    traced = _cli(["trace", original, "--json"], elsewhere, PROVENANCE_URL=url)
    assert traced.returncode == 0, traced.stderr
    answer = orjson.loads(traced.stdout)
    api = httpx.get(f"{url}/v1/artifacts/{original}", trust_env=False).json()
    timeline = httpx.get(
        f"{url}/v1/artifacts/{original}/timeline", params={"limit": 1000}, trust_env=False
    ).json()
    assert answer["artifact"] == api
    assert answer["timeline"] == timeline["events"]
    assert answer["timeline"], "the demo story has a timeline for its original digest"

    human = _cli(["trace", original, "--server", url], elsewhere)
    assert human.returncode == 0 and "timeline" in human.stdout
    assert original not in human.stdout  # shortened in the middle...
    assert f"{original[:15]}…{original[-4:]}" in human.stdout
    wide = _cli(["trace", original, "--server", url, "--wide"], elsewhere)
    assert original in wide.stdout  # ...unless --wide

    radius = _cli(["blast-radius", "--commit", summary["commit"], "--server", url], elsewhere)
    assert radius.returncode == 0, radius.stderr
    assert "builds (" in radius.stdout and "deployments (" in radius.stdout

    verified = _cli(["audit", "verify", "--server", url], elsewhere)
    assert verified.returncode == 0 and "log intact" in verified.stdout

    unknown = _cli(["trace", "sha256:" + "0" * 64, "--server", url], elsewhere)
    assert unknown.returncode == 1 and "never been seen" in unknown.stderr

    exported = _cli(["export", "--format", "ndjson", "--server", url], elsewhere)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.count("\n") >= 1 and original in exported.stdout

    assert list(elsewhere.iterdir()) == []  # no provenance.db appeared here


def test_a_server_that_is_down_is_exit_3_in_one_line(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    for args in (
        ["trace", "sha256:" + "a" * 64],
        ["audit", "verify"],
        ["blast-radius", "--actor", "x"],
    ):
        result = _cli([*args, "--server", down], tmp_path)
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and down in lines[0] and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_bad_server_url_is_a_usage_error(tmp_path: Path) -> None:
    result = _cli(["audit", "verify", "--server", "ftp://nowhere"], tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "http(s) URL" in result.stderr
