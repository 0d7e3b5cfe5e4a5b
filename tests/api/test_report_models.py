"""Each report's dataclass and its API model agree on field names, so a field added to the
one is on the wire (and in the CLI and the CSV) without a second list to keep in step; and
the CSV headers the contract fixes are the dataclasses' fields, in order."""

from __future__ import annotations

from dataclasses import fields

import pytest

from api import catalog as catalog_api
from api import insights, mirrors
from api import retention as retention_api
from api.schemas import Model
from api.trust import _DETAIL_FIELDS, EvidenceModel
from provenance.model import retention
from provenance.query import alerts, catalog, deployments, exports
from provenance.query.columns import names
from provenance.store.evidence import EvidenceRow

PAIRS: list[tuple[type, type[Model]]] = [
    (deployments.Deployment, insights.DeploymentModel),
    (deployments.EnvironmentLineage, insights.EnvironmentLineage),
    (deployments.Drift, insights.DriftModel),
    (deployments.ActivityBucket, insights.ActivityBucket),
    (alerts.Alert, insights.AlertModel),
    (alerts.AlertPage, insights.AlertsResponse),
    (catalog.SearchResult, catalog_api.SearchResponse),
    (catalog.SearchItem, mirrors.mirror(catalog.SearchItem)),
    (catalog.RepositoryPage, catalog_api.RepositoriesResponse),
    (catalog.RepositorySummary, mirrors.mirror(catalog.RepositorySummary)),
    (catalog.ArtifactPage, catalog_api.ArtifactsResponse),
    (catalog.ArtifactSummary, mirrors.mirror(catalog.ArtifactSummary)),
    (retention.Report, retention_api.RetentionReport),
    (retention.Item, retention_api.RetentionItem),
]


@pytest.mark.parametrize(("answer", "model"), PAIRS, ids=lambda t: t.__name__)
def test_an_answer_and_its_api_model_name_the_same_fields(answer: type, model: type[Model]) -> None:
    assert list(model.model_fields) == list(names(answer))
    # And it is the model `parse` reads `--server` answers back through.
    assert (answer, model) in mirrors.pairs() and getattr(model, "domain", None) is answer


def test_every_wire_form_known_to_the_mirrors_is_checked_here() -> None:
    assert set(mirrors.pairs()) <= set(PAIRS)


def test_the_evidence_model_renames_only_what_from_domain_maps() -> None:
    row = {f.name for f in fields(EvidenceRow)}
    # `key` is the row's `key_id`; the rest come out of the row's `details`.
    assert set(EvidenceModel.model_fields) - row == {"key", *_DETAIL_FIELDS}


def test_the_csv_headers_are_the_records_fields() -> None:
    assert names(retention.Item) == (
        "digest",
        "verdict",
        "reasons",
        "tags",
        "last_pull",
        "last_deployed",
        "first_seen",
        "base_of",
        "evidence_of",
    )
    assert names(exports.ExportRecord) == exports.COLUMNS
    assert exports.COLUMNS[:3] == ("kind", "time", "digest")
    assert exports.COLUMNS[-2:] == ("seq", "event_id")
