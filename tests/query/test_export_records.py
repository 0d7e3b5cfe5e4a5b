"""An export record's verdicts are the stored verdict rows as the export has always written
them: the row's own dict (`EvidenceRow.to_dict`), key for key and in order, with the time
in RFC 3339."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from provenance.model.timeutil import format_time
from provenance.query.columns import values
from provenance.query.exports import ExportRecord, ExportVerdict
from provenance.store.evidence import EvidenceRow

WHEN = datetime(2026, 5, 4, 9, 12, 30, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    "details",
    [
        {},
        {
            "predicate_type": "https://slsa.dev/provenance/v1",
            "builder_id": "https://ci.acme.io/runners/release",
            "builder_trusted": True,
            "signature_verified": True,
        },
    ],
)
def test_a_verdict_is_written_as_the_row_says_it(details: dict[str, object]) -> None:
    row = EvidenceRow(
        7, "sha256:" + "a" * 64, "attestation", 12, "ev-1", False, "ci-release",
        "f" * 64, "builder not trusted", WHEN, "arrival", details,
    )  # fmt: skip
    expected = row.to_dict() | {"evaluated_at": format_time(WHEN)}
    written = values(ExportVerdict.of(row))
    assert list(written.items()) == list(expected.items())


def test_a_record_in_json_holds_its_verdicts_as_objects() -> None:
    row = EvidenceRow(
        1, "sha256:" + "b" * 64, "signature", 3, "ev-2", True, "k", None, None, WHEN, "arrival", {}
    )
    record = ExportRecord(
        kind="push", time=format_time(WHEN), digest=row.digest, signed=True,
        signatures=[ExportVerdict.of(row)],
    )  # fmt: skip
    doc = record.to_json()
    assert list(doc)[:3] == ["kind", "time", "digest"]
    assert doc["signatures"] == [values(ExportVerdict.of(row))] and doc["attestations"] == []
