"""`provenance blast-radius --vulnerability`: the digests whose latest scan lists it, and
what is downstream, from the command line."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from cli import app
from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.store import Database
from tests.factories import delivery, digest, event

runner = CliRunner()
REPO = "registry.acme.io/acme/app"
WHERE = {"workload": "deployment/app", "namespace": "prod", "cluster": "eu-1", "container": "app"}


def test_blast_radius_by_vulnerability(db: Database) -> None:
    a, b = digest("cli-a"), digest("cli-b")
    for e in (
        event("artifact.pushed", 0, digest=a, repository=REPO, tag="v1"),
        event("artifact.pushed", 0, digest=b, repository=REPO, tag="v2"),
        event("deployment.applied", 1, digest=a, **WHERE),
        event(
            "artifact.scanned",
            2,
            digest=a,
            scanner="trivy",
            vulnerabilities=[{"id": "CVE-2026-1", "severity": "critical"}],
        ),
        event("artifact.scanned", 2, digest=b, scanner="trivy", vulnerabilities=[]),
    ):
        ingest(db, delivery(e), SourceSecrets())
    ProjectionRunner(db).catch_up()
    args = ["blast-radius", "--vulnerability", "CVE-2026-1", "--database-url", db.url]
    body = orjson.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert [x["digest"] for x in body["artifacts"]] == [a]
    assert [d["digest"] for d in body["deployments"]] == [a]
    assert body["query"] == {"vulnerability": "CVE-2026-1"}
    human = runner.invoke(app, args)
    assert human.exit_code == 0 and "deployments" in human.output
    none = orjson.loads(
        runner.invoke(
            app, ["blast-radius", "--vulnerability", "CVE-0", "--database-url", db.url, "--json"]
        ).stdout
    )
    assert none["artifacts"] == [] and none["deployments"] == []
