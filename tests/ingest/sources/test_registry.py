"""The source registry answers for its adapters: the media types the OpenAPI document lists."""

from __future__ import annotations

import pytest

from provenance.ingest.sources import SOURCES, attestations, content_types, k8s_audit, scans
from provenance.model.errors import UnknownSource


def test_content_types_are_the_adapters_own() -> None:
    assert content_types("k8s-audit") == k8s_audit.CONTENT_TYPES
    assert content_types("scans") == scans.CONTENT_TYPES


def test_an_adapter_that_names_none_takes_json() -> None:
    assert not hasattr(attestations, "CONTENT_TYPES")
    assert content_types("attestations") == ("application/json",)


def test_every_webhook_source_answers() -> None:
    assert all(content_types(s) for s in SOURCES)


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(UnknownSource):
        content_types("nope")
