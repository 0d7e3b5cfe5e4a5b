"""The admission rules on their own: where pod specs are, the policy section, one reason per
failed rule per image, and the answer's shape in both versions."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.ingest import admission
from provenance.ingest.admission import ImageUse, Review, judge, judge_image, parse_review
from provenance.model.errors import InvalidConfiguration, InvalidPayload, Unparseable
from provenance.model.references import ImageReference
from provenance.store.admission import ImageFacts
from provenance.trust.policy import SEVERITIES, AdmissionPolicy, TrustPolicy
from tests.factories import digest

D = digest("d")
REF = ImageReference("registry.acme.io", "acme/api", "v1", None)
USE = ImageUse("api", "containers", "registry.acme.io/acme/api:v1")
GOOD = ImageFacts(D, "tag", True, signed=True, attested=True, known_build=True, severity="low")
STRICT = AdmissionPolicy(
    mode="enforce",
    require=frozenset({"signed", "attested", "known_build"}),
    max_severity="medium",
    registries=("registry.acme.io/",),
)


def _review(obj: Any, kind: str, **request: Any) -> bytes:
    req = {"uid": "u-1", "operation": "CREATE", "kind": {"kind": kind}, "object": obj} | request
    return orjson.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}
    )


def _spec(*images: str) -> dict[str, Any]:
    return {
        "containers": [{"name": "a", "image": images[0]}],
        "initContainers": [{"name": "b", "image": images[1]}],
        "ephemeralContainers": [{"name": "c", "image": images[2]}],
    }


def _nest(path: tuple[str, ...], spec: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = spec
    for step in reversed(path):
        node = {step: node}
    return node


@pytest.mark.parametrize("kind", sorted(admission.POD_SPEC))
def test_every_kind_with_a_pod_spec_gives_all_its_images(kind: str) -> None:
    obj = _nest(admission.POD_SPEC[kind], _spec("a:1", "b:2", "c:3")) | {"kind": kind}
    r = parse_review(_review(obj, kind))
    assert r.judged
    assert [(u.container, u.list, u.image) for u in r.images] == [
        ("a", "containers", "a:1"),
        ("b", "initContainers", "b:2"),
        ("c", "ephemeralContainers", "c:3"),
    ]


def test_the_pod_spec_is_read_where_the_kind_keeps_it() -> None:
    """A Deployment's `spec.containers` is not its pod spec: nothing to judge there."""
    obj = {"kind": "Deployment", "spec": {"containers": [{"image": "x"}]}}
    r = parse_review(_review(obj, "Deployment"))
    assert not r.judged and r.images == ()


@pytest.mark.parametrize(
    ("operation", "extra", "judged"),
    [
        ("CREATE", {}, True),
        ("UPDATE", {}, True),
        ("DELETE", {}, False),
        ("CONNECT", {}, False),
        ("UPDATE", {"subResource": "status"}, False),
        ("UPDATE", {"subResource": "ephemeralcontainers"}, True),
    ],
)
def test_which_operations_are_judged(operation: str, extra: dict[str, Any], judged: bool) -> None:
    obj = {"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "x"}]}}
    assert parse_review(_review(obj, "Pod", operation=operation, **extra)).judged is judged


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", Unparseable),
        (b"[1,", Unparseable),
        (b"NaN", Unparseable),
        (b"[]", InvalidPayload),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}', InvalidPayload),
        (b'{"apiVersion": "v1", "kind": "AdmissionReview", "request": {}}', InvalidPayload),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",'
            b' "request": {"uid": "", "operation": "CREATE"}}',
            InvalidPayload,
        ),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",'
            b' "request": {"uid": "u", "operation": "PATCH"}}',
            InvalidPayload,
        ),
    ],
)
def test_malformed_reviews_are_refused(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_review(body)


def test_integers_beyond_64_bits_are_json() -> None:
    doc = orjson.loads(_review({"kind": "Pod", "spec": {"containers": []}}, "Pod"))
    doc["request"]["object"]["spec"]["x"] = 10**30
    assert parse_review(json.dumps(doc).encode()).uid == "u-1"


# --- the rules -------------------------------------------------------------------------


def test_all_rules_pass() -> None:
    v = judge_image(USE, REF, GOOD, STRICT)
    assert v.reasons == () and v.notes == ()


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (GOOD.__class__(D, "tag", True, attested=True, known_build=True), ["not signed"]),
        (GOOD.__class__(D, "tag", True, signed=True, known_build=True), ["not attested"]),
        (GOOD.__class__(D, "tag", True, signed=True, attested=True), ["no known build"]),
        (
            GOOD.__class__(D, "tag", True, True, True, True, severity="high"),
            ["vulnerable"],
        ),
        (GOOD.__class__(D, "tag", True), ["not signed", "not attested", "no known build"]),
    ],
)
def test_one_reason_per_failed_rule(facts: ImageFacts, expected: list[str]) -> None:
    v = judge_image(USE, REF, facts, STRICT)
    assert [r.split(":")[0] for r in v.reasons] == expected


def test_a_registry_outside_the_prefixes_is_one_more_reason() -> None:
    ref = ImageReference("ghcr.io", "acme/api", "v1", None)
    v = judge_image(
        USE, ref, GOOD.__class__(D, "tag", True, attested=True, known_build=True), STRICT
    )
    assert [r.split(" ")[0] for r in v.reasons] == ["registry", "not"]


def test_unknown_images_are_judged_by_the_unknown_rule_alone() -> None:
    nowhere = ImageFacts(None, None, False)
    assert judge_image(USE, REF, nowhere, STRICT).reasons == (
        "unknown image: tag registry.acme.io/acme/api:v1 points at no known digest",
    )
    unseen = ImageFacts(D, "digest", False)
    assert judge_image(USE, REF, unseen, STRICT).reasons == (
        "unknown image: its digest is not in the graph",
    )
    allow = AdmissionPolicy(mode="enforce", unknown_image="allow")
    v = judge_image(USE, REF, unseen, allow)
    assert v.reasons == () and v.notes[0].startswith("unknown image admitted by policy")


def test_an_unparseable_reference_is_refused() -> None:
    use = ImageUse("a", "containers", "UPPER/case:not a ref")
    r = Review("admission.k8s.io/v1", "u", "CREATE", "Pod", None, None, None, False, True, (use,))
    decision = judge(r, {}, STRICT)
    assert not decision.allowed
    assert decision.reasons == ["UPPER/case:not a ref (container a): not an image reference"]


def test_warn_mode_allows_and_warns() -> None:
    r = Review(
        "admission.k8s.io/v1beta1", "u", "CREATE", "Pod", None, None, None, False, True, (USE,)
    )
    warn = AdmissionPolicy(mode="warn", require=frozenset({"signed"}))
    decision = judge(r, {REF: ImageFacts(D, "tag", True)}, warn)
    assert decision.allowed and decision.warnings == decision.reasons
    body = admission.answer(r, decision)
    assert body["apiVersion"] == "admission.k8s.io/v1beta1"
    assert body["response"]["allowed"] is True and body["response"]["warnings"]
    enforce = AdmissionPolicy(mode="enforce", require=frozenset({"signed"}))
    refused = admission.answer(r, judge(r, {REF: ImageFacts(D, "tag", True)}, enforce))
    assert refused["response"]["allowed"] is False and "warnings" not in refused["response"]
    assert refused["response"]["status"]["code"] == 403


@given(st.sampled_from([*SEVERITIES, "none"]), st.sampled_from(SEVERITIES))
def test_the_severity_ceiling_refuses_exactly_what_is_above_it(ceiling: str, worst: str) -> None:
    policy = AdmissionPolicy(max_severity=ceiling)
    above = ceiling == "none" or SEVERITIES.index(worst) > SEVERITIES.index(ceiling)
    assert policy.too_severe(worst) is above
    assert policy.too_severe(None) is False  # nothing found, or never scanned
    assert AdmissionPolicy().too_severe(worst) is False  # no ceiling


# --- the policy section ----------------------------------------------------------------


def _policy(section: Any) -> TrustPolicy:
    return TrustPolicy.parse(orjson.dumps({"version": 1, "admission": section}))


def test_defaults() -> None:
    absent = TrustPolicy.parse(b"version: 1\n").admission
    assert absent == AdmissionPolicy() and absent.mode == "warn"
    empty = _policy({}).admission
    assert empty.mode == "enforce" and empty.require == {"signed", "attested"}
    assert empty.max_severity is None and empty.registries == ()
    assert empty.unknown_image == "deny"


def test_a_full_section() -> None:
    p = _policy(
        {
            "mode": "warn",
            "require": ["known_build"],
            "max_severity": "HIGH",
            "registries": ["Registry.ACME.io/", "ghcr.io/acme"],
            "unknown_image": "allow",
        }
    ).admission
    assert p == AdmissionPolicy(
        "warn", frozenset({"known_build"}), "high", ("registry.acme.io/", "ghcr.io/acme/"), "allow"
    )
    assert p.registry_allowed("ghcr.io/acme/api") and not p.registry_allowed("ghcr.io/acme-x/api")
    assert p.registry_allowed("registry.acme.io/a/b")


@pytest.mark.parametrize(
    "section",
    [
        [],
        {"mode": "block"},
        {"require": "signed"},
        {"require": ["sbom"]},
        {"max_severity": "severe"},
        {"max_severity": 3},
        {"registries": "ghcr.io/"},
        {"registries": [""]},
        {"unknown_image": "maybe"},
        {"other": 1},
    ],
)
def test_a_bad_section_stops_the_start(section: Any) -> None:
    with pytest.raises(InvalidConfiguration, match="admission"):
        _policy(section)
