"""The projection's rules alone, no database: what an event states for the graph."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.model import graph_rules as rules
from provenance.model import nodes as N
from provenance.model.events import Event, EventType
from provenance.model.graph_rules import (
    ArtifactFact,
    Context,
    DeleteFact,
    DeployFact,
    EdgeFact,
    EvidenceFact,
    NodeFact,
    PullFact,
    ScanFact,
    TagFact,
    facts_of,
)
from provenance.model.kinds import DeployFactKind, EdgeKind, NodeKind, TagFactKind
from provenance.model.timeutil import parse_time
from tests.factories import at, digest, event, sha

REPO = "registry.acme.io/acme/app"
A, B = digest("a"), digest("b")
COMMIT = sha("c")
SEQ = 7
PLAIN = Context("events")
VERIFYING = Context("attestations", verifies=True)
PROD = {"cluster": "eu-1", "namespace": "prod", "environment": "production"}


def _facts(raw: dict[str, Any], context: Context = PLAIN) -> rules.Facts:
    return facts_of(SEQ, Event.from_dict(raw), context)


def _of(facts: rules.Facts, kind: type[Any]) -> list[Any]:
    return [f for f in facts if type(f) is kind]


def test_a_push_with_a_tag_states_its_nodes_edges_and_tag_fact() -> None:
    raw = event(
        "artifact.pushed",
        5,
        digest=A,
        repository=REPO,
        tag="v1",
        actor="ci",
        commit=COMMIT,
        build="run-1",
        media_type="application/vnd.oci.image.manifest.v1+json",
        size=42,
    )
    t = parse_time(raw["time"])
    art, repo, tag = N.artifact(A), N.repository(REPO), N.tag(REPO, "v1")
    assert _facts(raw) == (
        ArtifactFact(A, t, "application/vnd.oci.image.manifest.v1+json", 42, deleted=False),
        NodeFact(repo, NodeKind.REPOSITORY, t, {"name": REPO}),
        EdgeFact(art, EdgeKind.STORED_IN, repo, t, SEQ),
        NodeFact(N.actor("ci"), NodeKind.ACTOR, t, {"name": "ci"}),
        EdgeFact(N.actor("ci"), EdgeKind.PUSHED, art, t, SEQ),
        NodeFact(N.commit(COMMIT), NodeKind.COMMIT, t, {"sha": COMMIT}),
        EdgeFact(N.commit(COMMIT), EdgeKind.CLAIMS, art, t, SEQ, {"evidence": "label"}),
        NodeFact(N.build("run-1"), NodeKind.BUILD, t, {"id": "run-1"}),
        EdgeFact(N.build("run-1"), EdgeKind.PRODUCED, art, t, SEQ),
        NodeFact(tag, NodeKind.TAG, t, {"repository": REPO, "tag": "v1"}),
        TagFact(tag, REPO, TagFactKind.POINT, A, explicit=False, time=t),
    )


def test_a_push_by_tag_alone_knows_the_tag_and_points_it_nowhere() -> None:
    facts = _facts(event("artifact.pushed", 0, repository=REPO, tag="latest"))
    assert [(type(f), getattr(f, "id", None)) for f in facts] == [
        (NodeFact, N.repository(REPO)),
        (NodeFact, N.tag(REPO, "latest")),
    ]


def test_a_tag_update_is_an_explicit_point() -> None:
    facts = _facts(event("tag.updated", 0, digest=A, repository=REPO, tag="v1"))
    (fact,) = _of(facts, TagFact)
    assert (fact.kind, fact.digest, fact.explicit) == (TagFactKind.POINT, A, True)
    assert _of(facts, ArtifactFact)[0].deleted is None  # a tag says nothing of the artifact


def test_a_signature_signs_the_artifact_and_is_signed_with_its_key() -> None:
    raw = event(
        "artifact.signed", 3, digest=A, attributes={"key": "k1", "format": "cosign", "x": 1}
    )
    t = parse_time(raw["time"])
    ref = f"signature:{raw['id']}"
    facts = _facts(raw)
    assert _of(facts, EdgeFact) == [
        EdgeFact(ref, EdgeKind.SIGNS, N.artifact(A), t, SEQ),
        EdgeFact(N.key("k1"), EdgeKind.SIGNED_WITH, ref, t, SEQ),
    ]
    signature = next(f for f in facts if isinstance(f, NodeFact) and f.id == ref)
    assert signature.kind is NodeKind.SIGNATURE
    assert signature.attrs == {"event": raw["id"], "source": "test", "format": "cosign"}
    assert _of(facts, EvidenceFact) == [EvidenceFact(A, trusted=False)]


def test_only_the_verifying_sources_own_verdicts_are_trusted() -> None:
    mine = event("artifact.signed", 0, digest=A, source="attestations")
    theirs = event("artifact.signed", 0, digest=A, source="cosign-bot")
    assert _of(_facts(mine, VERIFYING), EvidenceFact) == [EvidenceFact(A, trusted=True)]
    assert _of(_facts(theirs, VERIFYING), EvidenceFact) == [EvidenceFact(A, trusted=False)]
    assert _of(_facts(mine, PLAIN), EvidenceFact) == [EvidenceFact(A, trusted=False)]


@pytest.mark.parametrize(("context", "verified"), [(VERIFYING, True), (PLAIN, False)])
def test_an_attestation_states_its_build_and_base_images(context: Context, verified: bool) -> None:
    raw = event(
        "artifact.attested",
        0,
        digest=A,
        source="attestations",
        build="run-9",
        builder="gha",
        commit=COMMIT,
        attributes={
            "builder_id": "https://github.com/actions",
            "verdict": {"verified": True},
            "dependencies": [{"digest": B}, {"digest": A}, {"digest": "nope"}, "x"],
        },
    )
    facts = _facts(raw, context)
    how = {"evidence": "attestation", "verified": verified}
    art, build = N.artifact(A), N.build("run-9")
    assert [(f.src, f.kind, f.dst, f.attrs) for f in _of(facts, EdgeFact)] == [
        (f"attestation:{raw['id']}", EdgeKind.ATTESTS, art, {}),
        (build, EdgeKind.PRODUCED, art, how),
        (N.builder("gha"), EdgeKind.RAN, build, how),
        (N.commit(COMMIT), EdgeKind.BUILT, build, how),
        (N.artifact(B), EdgeKind.BASE_OF, art, how),  # not itself, not a non-digest
    ]
    node = next(f for f in facts if isinstance(f, NodeFact) and f.id == build)
    assert node.learns
    assert node.attrs == {"id": "run-9", "builder": "https://github.com/actions"}


def test_build_stages_teach_the_build_node() -> None:
    started = _facts(event("build.started", 0, build="run-1", builder="gha"))
    finished = _facts(event("build.finished", 9, build="run-1", digest=A))
    (node, *_) = started
    assert isinstance(node, NodeFact) and node.learns
    assert set(node.attrs) == {"id", "started", "builder"}
    assert set(_of(finished, NodeFact)[0].attrs) == {"id", "finished"}
    assert [f.kind for f in _of(finished, EdgeFact)] == [EdgeKind.PRODUCED]
    assert _facts(event("build.queued", 0)) == ()  # no build id: nothing to say


def test_a_delete_by_digest_and_by_tag() -> None:
    by_digest = _facts(event("artifact.deleted", 0, digest=A, repository=REPO))
    t = by_digest[0].time
    assert by_digest == (
        ArtifactFact(A, t, deleted=True),
        DeleteFact(A, None, REPO, t),
    )
    by_tag = _facts(event("artifact.deleted", 0, repository=REPO, tag="v1"))
    tag = N.tag(REPO, "v1")
    assert _of(by_tag, TagFact) == [TagFact(tag, REPO, TagFactKind.DELETE, None, False, t)]
    assert _of(by_tag, DeleteFact) == [DeleteFact(None, tag, REPO, t)]
    assert _of(by_tag, ArtifactFact) == []


def test_a_pull_counts_for_its_puller() -> None:
    facts = _facts(event("artifact.pulled", 0, digest=A, repository=REPO))
    t = facts[0].time
    assert _of(facts, PullFact) == [PullFact(A, "anonymous", "", REPO, t)]
    assert _of(facts, EdgeFact)[-1] == EdgeFact(
        N.artifact(A), EdgeKind.PULLED_BY, N.actor("anonymous"), t, SEQ
    )


def test_deployments_exact_partial_by_tag_and_removed() -> None:
    exact = {**PROD, "workload": "deployment/app", "container": "app"}
    target = N.deployment("eu-1", "prod", "deployment/app", "app")
    applied = _facts(event("deployment.applied", 0, digest=A, **exact))
    assert _of(applied, NodeFact)[0].id == target
    (fact,) = _of(applied, DeployFact)
    assert (fact.target, fact.kind, fact.digest) == (target, DeployFactKind.APPLIED, A)
    partial = _of(
        _facts(event("deployment.applied", 0, digest=A, workload="deployment/app")), DeployFact
    )
    assert partial[0].target is None
    by_tag = _of(
        _facts(event("deployment.applied", 0, repository=REPO, tag="v1", **exact)), DeployFact
    )
    assert (by_tag[0].digest, by_tag[0].tag_ref) == (None, N.tag(REPO, "v1"))
    removed = _facts(event("deployment.removed", 0, digest=A, **exact))
    (gone,) = _of(removed, DeployFact)
    assert (gone.kind, gone.digest, gone.names_digest) == (DeployFactKind.REMOVED, None, A)
    assert _of(removed, ArtifactFact) == []


def test_a_scan_and_what_the_graph_ignores() -> None:
    scan = {"vulnerabilities": [], "scanner": "trivy"}
    assert [type(f) for f in _facts(event("artifact.scanned", 0, digest=A, **scan))] == [
        ArtifactFact,
        ScanFact,
    ]
    assert _facts(event("blob.pushed", 0, digest=A, repository=REPO)) == ()
    assert not rules.on_timeline(Event.from_dict(event("blob.pushed", 0, digest=A)))


def test_every_event_type_the_graph_takes_has_a_rule() -> None:
    ignored = {
        EventType.ARTIFACT_REPLICATED,
        EventType.ENVIRONMENT_CREATED,
        EventType.ENVIRONMENT_DELETED,
        EventType.BLOB_PUSHED,
        EventType.BLOB_PULLED,
        EventType.BLOB_MOUNTED,
        EventType.BLOB_DELETED,
        EventType.REGISTRY_NOTICE,
        EventType.ADMISSION_DECIDED,
    }
    assert set(rules.RULES) == set(EventType) - ignored


def test_facts_are_frozen() -> None:
    fact = _facts(event("change.merged", 0, commit=COMMIT))[0]
    with pytest.raises(AttributeError):
        fact.time = fact.time  # type: ignore[misc]  # the point: it cannot be assigned


# --- properties -----------------------------------------------------------------------


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """Events of every type the graph takes in, with their optional fields drawn."""
    d = draw(st.sampled_from([A, B]))
    maybe = st.sampled_from([None, "ci", "bob"])
    common: dict[str, Any] = {
        "id": f"e-{draw(st.integers(0, 5))}",
        "time": at(draw(st.integers(0, 100))),
        "source": draw(st.sampled_from(["test", "attestations"])),
    }
    placement = draw(
        st.sampled_from([{}, PROD | {"container": "app"}, {"environment": "production"}])
    )
    deps = draw(st.lists(st.sampled_from([{"digest": A}, {"digest": B}, "x"]), max_size=3))
    kind = draw(st.sampled_from(sorted(rules.RULES)))
    fields: dict[str, Any] = {
        EventType.ARTIFACT_PUSHED: {"digest": d, "repository": REPO, "tag": "v1", "actor": "ci"},
        EventType.ARTIFACT_PULLED: {"digest": d, "repository": REPO, "actor": draw(maybe)},
        EventType.ARTIFACT_DELETED: {"digest": d, "repository": REPO},
        EventType.TAG_UPDATED: {"digest": d, "repository": REPO, "tag": "v1"},
        EventType.TAG_DELETED: {"repository": REPO, "tag": "v1"},
        EventType.BUILD_QUEUED: {"build": "run-1"},
        EventType.BUILD_STARTED: {"build": "run-1", "builder": "gha", "commit": COMMIT},
        EventType.BUILD_FINISHED: {"build": "run-1", "digest": d},
        EventType.CHANGE_MERGED: {"commit": COMMIT},
        EventType.ARTIFACT_SIGNED: {"digest": d, "attributes": {"key": "k1"}},
        EventType.ARTIFACT_ATTESTED: {
            "digest": d,
            "build": "run-1",
            "attributes": {"dependencies": deps, "verdict": {"verified": True}},
        },
        EventType.DEPLOYMENT_APPLIED: {"digest": d, "workload": "deployment/app", **placement},
        EventType.DEPLOYMENT_REMOVED: {"workload": "deployment/app", **placement},
        EventType.ARTIFACT_SCANNED: {"digest": d, "vulnerabilities": []},
    }[kind]
    return common | {"type": str(kind)} | fields


contexts = st.sampled_from([PLAIN, VERIFYING])


@given(st.lists(st.tuples(events(), contexts), min_size=1, max_size=12))
def test_rules_are_deterministic_and_independent_of_what_came_before(
    stream: list[tuple[dict[str, Any], Context]],
) -> None:
    """The facts of an event are the same alone, after any others, in any order."""
    parsed = [(Event.from_dict(raw), context) for raw, context in stream]
    alone = [facts_of(i, e, c) for i, (e, c) in enumerate(parsed)]
    backwards = [facts_of(i, e, c) for i, (e, c) in reversed(list(enumerate(parsed)))]
    assert backwards[::-1] == alone
    again = [facts_of(i, Event.from_dict(raw), c) for i, (raw, c) in enumerate(stream)]
    assert again == alone


@given(events(), contexts)
def test_an_edge_joins_nodes_its_own_event_states(raw: dict[str, Any], context: Context) -> None:
    """No edge dangles: both ends are nodes (or artifacts) stated by the same event, of
    the kind their ids name, at the event's time."""
    e = Event.from_dict(raw)
    facts = facts_of(SEQ, e, context)
    stated = {f.id: f.kind for f in facts if isinstance(f, NodeFact)}
    for f in facts:
        if isinstance(f, ArtifactFact):
            stated[N.artifact(f.digest)] = NodeKind.ARTIFACT
    for f in facts:
        when = f.since if isinstance(f, EdgeFact) else getattr(f, "time", e.time)
        assert when == e.time
        if isinstance(f, EdgeFact):
            assert f.src in stated and f.dst in stated
            assert f.seq == SEQ
    for node_id, kind in stated.items():
        assert N.kind_of(node_id) == kind
