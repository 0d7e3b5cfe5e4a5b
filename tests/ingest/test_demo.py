"""`provenance demo`: the built-in story is accepted, idempotent, and tells its story."""

from __future__ import annotations

import hashlib
import json

import pytest

from provenance.ingest import demo
from provenance.ingest.sources import SourceSecrets, normalize
from provenance.model import nodes as N
from provenance.model.events import EventType
from provenance.query import artifacts
from provenance.query import blast_radius as blast
from provenance.trust.credentials import verify_github_signature


@pytest.fixture
def loaded(db):
    first = demo.load(db)
    return db, first


def test_load_is_accepted_and_idempotent(loaded):
    db, first = loaded
    assert first["deliveries"] == len(demo.story().deliveries)
    assert first["accepted"] >= first["deliveries"]  # every delivery brings at least one event
    assert first["duplicates"] == 0
    again = demo.load(db)
    assert again["accepted"] == 0
    assert again["duplicates"] == first["accepted"]
    assert again["digests"] == first["digests"]
    assert again["commit"] == first["commit"]


def test_summary_names_what_to_try(loaded):
    _, first = loaded
    old, new = first["digests"]["original"], first["digests"]["rebuild"]
    commit = first["commit"]
    lines = first["try"]
    assert f"provenance trace {old}" in lines
    assert f"provenance blast-radius --commit {commit}" in lines
    assert any(line.startswith("curl -s ") and new in line for line in lines)
    [post] = [line for line in lines if "/v1/incidents/blast-radius" in line]
    assert "-X POST" in post
    assert "-H 'content-type: application/json'" in post
    assert f"-d '{json.dumps({'commit': commit}, separators=(',', ':'))}'" in post
    json.dumps(first)  # the CLI's --json prints it as is


def test_old_digest_deleted_and_tag_moved(loaded):
    db, first = loaded
    old, new = first["digests"]["original"], first["digests"]["rebuild"]
    with db.read() as session:
        view = artifacts.artifact(session, old)
        assert view.deleted
        # pushed to the registry and GHCR, pulled through Harbor's proxy-cache project
        harbor_proxy = f"{demo.HARBOR}/{demo.HARBOR_PROJECT}/{demo.IMAGE_PATH}"
        assert set(view.repositories) == {demo.REPOSITORY, demo.GHCR_REPOSITORY, harbor_proxy}
        assert {c.evidence for c in view.commits} == {"build", "label"}
        assert all(not t.current for t in view.tags)
        assert not artifacts.artifact(session, new).deleted

        history = artifacts.tag_history(session, demo.REPOSITORY, demo.TAG).history
        assert [h.digest for h in history] == [old, new]
        assert history[0].until == history[1].since
        assert history[1].until is None

        sha_tag = artifacts.tag_history(session, demo.REPOSITORY, demo.SHA_TAG).history
        assert [h.digest for h in sha_tag] == [old]
        assert sha_tag[0].until is not None  # untagged when the digest was deleted

        events = [e.event for e in artifacts.timeline(session, new, limit=1000).events]
        moved = [e for e in events if e.type == "tag.updated"]
        assert {(e.repository, e.previous_digest) for e in moved} == {
            (demo.REPOSITORY, old),
            (demo.GHCR_REPOSITORY, old),
        }


def test_commit_blast_radius_reaches_the_story(loaded):
    db, first = loaded
    old, new = first["digests"]["original"], first["digests"]["rebuild"]
    commit_node = N.commit(first["commit"])
    with db.read() as session:
        radius = blast.blast_radius(session, "commit", first["commit"])
        view = artifacts.commit(session, first["commit"])

    assert {a.digest for a in radius.artifacts} == {old, new}
    tags = {(t.repository, t.tag) for t in radius.tags}
    assert (demo.REPOSITORY, demo.TAG) in tags
    assert (demo.GHCR_REPOSITORY, demo.TAG) in tags
    environments = {d.environment for d in radius.deployments}
    assert {"prod", "staging"} <= environments
    pullers = {p.actor for p in radius.pullers}
    assert {demo.NODE_ACTOR, demo.ROBOT} <= pullers
    node = next(p for p in radius.pullers if p.actor == demo.NODE_ACTOR)
    assert node.client == demo.NODE_ADDR

    for item in (*radius.artifacts, *radius.tags, *radius.deployments, *radius.pullers):
        assert item.path[0] == commit_node
    assert radius.derived == []

    assert {a.digest for a in view.artifacts} == {old, new}
    assert {b.id for b in view.builds} == {demo.BUILD_1, demo.BUILD_2}
    assert view.vcs_url == demo.VCS_URL


def test_prod_runs_the_rebuild_and_staging_the_deleted_digest(loaded):
    db, first = loaded
    old, new = first["digests"]["original"], first["digests"]["rebuild"]
    with db.read() as session:
        new_view = artifacts.artifact(session, new)
        old_view = artifacts.artifact(session, old)
    [prod] = [d for d in new_view.deployments if d.environment == "prod"]
    assert prod.active
    assert (prod.cluster, prod.namespace, prod.workload) == (
        "prod-eu-1",
        "shop-prod",
        "deployment/shop-api",
    )
    by_env = {d.environment: d for d in old_view.deployments}
    assert not by_env["prod"].active
    assert by_env["prod"].until == prod.since
    assert by_env["staging"].active
    assert old_view.pulls.count == 3
    assert set(old_view.pulls.actors) == {demo.NODE_ACTOR, demo.ROBOT}


def test_digests_are_the_manifests_sha256():
    story = demo.story()
    for image, name in ((demo.ORIGINAL, "original"), (demo.REBUILD, "rebuild")):
        assert story.digests[name] == "sha256:" + hashlib.sha256(image.manifest).hexdigest()
        manifest = json.loads(image.manifest)
        assert manifest["config"]["digest"] == image.config.digest
        assert manifest["annotations"]["org.opencontainers.image.revision"] == demo.COMMIT
    assert story.digests["original"] != story.digests["rebuild"]


def test_deliveries_are_deterministic_and_in_wire_format():
    first, second = demo.story(), demo.story()
    assert [d.body for d in first.deliveries] == [d.body for d in second.deliveries]
    assert [dict(d.headers) for d in first.deliveries] == [
        dict(d.headers) for d in second.deliveries
    ]
    sources = {d.source for d in first.deliveries}
    assert sources == {"distribution", "ghcr", "harbor", "cdevents"}
    for delivery in first.deliveries:
        if delivery.source == "distribution":
            assert delivery.body.startswith(b'{\n   "events": [\n      {\n')  # Go's 3-space indent
        assert delivery.received_at.year == 2026
        assert normalize(delivery, SourceSecrets())  # each one is accepted on its own


def test_ghcr_deliveries_carry_a_valid_signature():
    ghcr = [d for d in demo.story().deliveries if d.source == "ghcr"]
    assert len(ghcr) == 2
    for delivery in ghcr:
        signature = delivery.headers["x-hub-signature-256"]
        verify_github_signature(delivery.body, signature, demo.DEMO_WEBHOOK_SECRET)
        [event] = normalize(delivery, SourceSecrets())
        assert event.type is EventType.ARTIFACT_PUSHED
        assert event.commit == demo.COMMIT
        assert event.vcs_url == demo.VCS_URL
