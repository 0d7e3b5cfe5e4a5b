"""`provenance retention --server` against a real `provenance serve`: the answer is the
API's, and the table is printed from it."""

from __future__ import annotations

import httpx
import orjson
import pytest

from provenance.ingest import demo
from tests.integration.conftest import Proc
from tests.integration.test_cli_server import _cli

pytestmark = pytest.mark.integration


def test_retention_from_a_running_service(provenance_service: Proc, tmp_path) -> None:
    url = provenance_service.base_url
    loaded = _cli(["demo", "--server", url, "--json"], tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    rebuild = orjson.loads(loaded.stdout)["digests"]["rebuild"]
    args = ["retention", "--repository", demo.REPOSITORY, "--unused-since", "2026-05-13T00:00:00Z"]
    answer = _cli([*args, "--server", url, "--json"], tmp_path)
    assert answer.returncode == 0, answer.stderr
    api = httpx.get(
        f"{url}/v1/reports/retention",
        params={"repository": demo.REPOSITORY, "unused_since": "2026-05-13T00:00:00Z"},
        trust_env=False,
    ).json()
    assert orjson.loads(answer.stdout) == api
    assert [i["digest"] for i in api["items"]] == [rebuild]
    human = _cli([*args, "--server", url, "--wide"], tmp_path, PROVENANCE_URL=url)
    assert human.returncode == 0 and rebuild in human.stdout
