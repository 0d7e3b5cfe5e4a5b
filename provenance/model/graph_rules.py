"""What an event means for the provenance graph: the projection's rules, as pure functions.

`facts_of(seq, event, context)` answers, for one validated event of log entry `seq`, the
facts it states: nodes (kind, id, attributes), once-only edges, the artifact row it
speaks of, tag and deployment facts, a pull, a delete, an evidence row and a scan. It
reads nothing but its arguments, so the same event always states the same facts whatever
was projected before: "rebuild equals live" and "order of arrival does not matter" rest
on that, and on the writer (`provenance.store.projection.writer`) keeping, per node and
edge, the earliest time anything said of it.

The histories an event touches are named by its facts: a `TagFact` touches its tag (and
the digest it points at), a `DeployFact` its workload (and the digest or tag it names), a
`DeleteFact` its digest, an `EvidenceFact` or a `ScanFact` its digest's findings. The
writer collects them and derives just those histories again.

Here, in the model, because the rules need nothing of the store: nodes, events and the
graph's vocabulary (`provenance.model.kinds`). The import contract keeps them free of the
database. The writer adds what only the log knows (an event's order key, its JSON form).

Facts are immutable named tuples, built on the projection's hot path: ~10 an event. Not
frozen dataclasses: their `__init__` sets each field through `object.__setattr__`, ~0.8 us
a fact against ~0.4 us, 4-5 us an event (issue 14: the projection's CPU per event). Their
mappings are never changed after they are made (the writer stores them as given).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from provenance.model import nodes as N
from provenance.model.events import BLOB_TYPES, Event, EventType, is_digest
from provenance.model.kinds import DeployFactKind, EdgeKind, NodeKind, TagFactKind
from provenance.model.timeutil import format_time

_NO_ATTRS: Mapping[str, Any] = MappingProxyType({})  # shared, so read-only


@dataclass(frozen=True, slots=True)
class Context:
    """What a rule needs of the log entry an event came in: whether its verdicts count.

    `verifies`: the entry came from this service's verifying source, so a signed or
    attested event of that same source carries a verdict this service reached."""

    source: str | None
    verifies: bool = False


class NodeFact(NamedTuple):
    """Node `id` exists since `time` at the latest. `attrs` describe a new node; with
    `learns`, a node stored already learns them too (a build that started, then finished)."""

    id: str
    kind: NodeKind
    time: datetime
    attrs: Mapping[str, Any]
    learns: bool = False


class EdgeFact(NamedTuple):
    """A once-only edge: once true, true for good; `since` is the earliest time said."""

    src: str
    kind: EdgeKind
    dst: str
    since: datetime
    seq: int
    attrs: Mapping[str, Any] = _NO_ATTRS


class ArtifactFact(NamedTuple):
    """The artifact `digest` (and its node) exists since `time`. `media_type` and `size`:
    what the event says of it (None: nothing). `deleted`: a push (False) or a delete
    (True) says whether it is there; the latest by event time decides. None: says nothing."""

    digest: str
    time: datetime
    media_type: str | None = None
    size: int | None = None
    deleted: bool | None = None


class TagFact(NamedTuple):
    """Tag node `tag` pointed at `digest` (`POINT`) or was deleted (`DELETE`) at `time`.
    `explicit`: said by a `tag.updated` event (a push names its tag in passing)."""

    tag: str
    repository: str
    kind: TagFactKind
    digest: str | None
    explicit: bool
    time: datetime


class DeployFact(NamedTuple):
    """What `workload` was given (`APPLIED`: a digest, or what tag `tag_ref` held then) or
    that it was removed, at `time`. `target`: the deployment node when the event names
    one container exactly; None: every matching container of the workload, as the history
    decides. `names_digest`: the digest the event names, applied or not (the writer locks
    it with the workload: a history that reads it waits)."""

    workload: str
    target: str | None
    kind: DeployFactKind
    digest: str | None
    tag_ref: str | None
    names_digest: str | None
    time: datetime


class PullFact(NamedTuple):
    """`actor` (with `client`) pulled `digest` at `time`, from `repository` if named."""

    digest: str
    actor: str
    client: str
    repository: str | None
    time: datetime


class DeleteFact(NamedTuple):
    """An artifact (`digest`) or what a tag held (`tag_ref`) was deleted at `time`."""

    digest: str | None
    tag_ref: str | None
    repository: str | None
    time: datetime


class EvidenceFact(NamedTuple):
    """The arrival verdict of a signature or attestation of `digest`. `trusted`: the event
    carries this service's own verdict (the writer's evidence row keeps it)."""

    digest: str
    trusted: bool


class ScanFact(NamedTuple):
    """A scan of `digest`: it replaces its scanner's earlier one by event time."""

    digest: str


Fact = (
    NodeFact
    | EdgeFact
    | ArtifactFact
    | TagFact
    | DeployFact
    | PullFact
    | DeleteFact
    | EvidenceFact
    | ScanFact
)
Facts = tuple[Fact, ...]
Rule = Callable[[int, Event, Context], Facts]


def on_timeline(event: Event) -> bool:
    """Whether the event is shown on the timeline: blob (layer) traffic is kept in the log
    for the audit trail, never on an artifact's timeline."""
    return event.type not in BLOB_TYPES


def facts_of(seq: int, event: Event, context: Context) -> Facts:
    """The facts `event` (of log entry `seq`) states; () for a type the graph ignores."""
    rule = RULES.get(event.type)
    return () if rule is None else rule(seq, event, context)


# The members the rules name, bound once: on Python 3.11 looking a member up on its enum
# class (`NodeKind.TAG`) costs ~0.1 us, and an event names ~10 of them.
_APPLIED = DeployFactKind.APPLIED
_REMOVED = DeployFactKind.REMOVED
_ATTESTS = EdgeKind.ATTESTS
_BASE_OF = EdgeKind.BASE_OF
_BUILT = EdgeKind.BUILT
_CLAIMS = EdgeKind.CLAIMS
_PRODUCED = EdgeKind.PRODUCED
_PULLED_BY = EdgeKind.PULLED_BY
_PUSHED = EdgeKind.PUSHED
_RAN = EdgeKind.RAN
_SIGNED_WITH = EdgeKind.SIGNED_WITH
_SIGNS = EdgeKind.SIGNS
_STORED_IN = EdgeKind.STORED_IN
_ACTOR = NodeKind.ACTOR
_ATTESTATION = NodeKind.ATTESTATION
_BUILD = NodeKind.BUILD
_BUILDER = NodeKind.BUILDER
_COMMIT = NodeKind.COMMIT
_DEPLOYMENT = NodeKind.DEPLOYMENT
_KEY = NodeKind.KEY
_REPOSITORY = NodeKind.REPOSITORY
_SIGNATURE = NodeKind.SIGNATURE
_TAG = NodeKind.TAG
_DELETE = TagFactKind.DELETE
_POINT = TagFactKind.POINT
_TAG_UPDATED = EventType.TAG_UPDATED
_ARTIFACT_SIGNED = EventType.ARTIFACT_SIGNED
_BUILD_FINISHED = EventType.BUILD_FINISHED


# --- building blocks ---------------------------------------------------------------


def _repository(name: str, time: datetime) -> NodeFact:
    return NodeFact(N.repository(name), _REPOSITORY, time, {"name": name})


def _tag(repository: str, tag: str, time: datetime) -> NodeFact:
    attrs = {"repository": repository, "tag": tag}
    return NodeFact(N.tag(repository, tag), _TAG, time, attrs)


def _actor(name: str, time: datetime) -> NodeFact:
    return NodeFact(N.actor(name), _ACTOR, time, {"name": name})


def _commit(sha: str, time: datetime, vcs_url: str | None) -> NodeFact:
    attrs = {"sha": sha, "vcs_url": vcs_url} if vcs_url else {"sha": sha}
    return NodeFact(N.commit(sha), _COMMIT, time, attrs)


def _builder(builder: str, time: datetime) -> NodeFact:
    return NodeFact(N.builder(builder), _BUILDER, time, {"id": builder})


def _tag_fact(e: Event, kind: TagFactKind) -> tuple[NodeFact, TagFact]:
    """This tag pointed at this digest (or was deleted) at `e.time`: a fact of its history."""
    assert e.repository and e.tag
    node = _tag(e.repository, e.tag, e.time)
    digest = e.digest if kind is _POINT else None
    explicit = e.type is _TAG_UPDATED
    return node, TagFact(node.id, e.repository, kind, digest, explicit, e.time)


# --- rules ---------------------------------------------------------------------------


def pushed(seq: int, e: Event, context: Context) -> Facts:
    t = e.time
    if e.digest is None:
        # Docker Hub / Quay: a tag was pushed, digest unknown until another source or
        # reconciliation names it. Keep the tag known; it points nowhere yet.
        assert e.repository and e.tag
        return (_repository(e.repository, t), _tag(e.repository, e.tag, t))
    art = N.artifact(e.digest)
    out: list[Fact] = [ArtifactFact(e.digest, t, e.media_type, e.size, deleted=False)]
    if e.repository:
        repo = _repository(e.repository, t)
        out += (repo, EdgeFact(art, _STORED_IN, repo.id, t, seq))
    if e.actor:
        actor = _actor(e.actor, t)
        out += (actor, EdgeFact(actor.id, _PUSHED, art, t, seq))
    if e.commit:
        commit = _commit(e.commit, t, e.vcs_url)
        # A label or annotation is a claim by whoever built the image, not a build record.
        claim = EdgeFact(commit.id, _CLAIMS, art, t, seq, {"evidence": "label"})
        out += (commit, claim)
    if e.build:
        build = NodeFact(N.build(e.build), _BUILD, t, {"id": e.build})
        out += (build, EdgeFact(build.id, _PRODUCED, art, t, seq))
    if e.repository and e.tag:
        out += _tag_fact(e, _POINT)
    return tuple(out)


def tag_updated(seq: int, e: Event, context: Context) -> Facts:
    assert e.digest is not None
    return (ArtifactFact(e.digest, e.time), *_tag_fact(e, _POINT))


def tag_deleted(seq: int, e: Event, context: Context) -> Facts:
    return _tag_fact(e, _DELETE)


def pulled(seq: int, e: Event, context: Context) -> Facts:
    assert e.digest is not None
    t = e.time
    art = N.artifact(e.digest)
    # A pull names what it fetched and from where: an artifact known only by its pulls
    # still has its media type and its repository.
    out: list[Fact] = [ArtifactFact(e.digest, t, e.media_type, e.size)]
    if e.repository:
        repo = _repository(e.repository, t)
        out += (repo, EdgeFact(art, _STORED_IN, repo.id, t, seq))
    who = e.actor or "anonymous"
    actor = _actor(who, t)
    out += (
        PullFact(e.digest, who, e.client or "", e.repository, t),
        actor,
        EdgeFact(art, _PULLED_BY, actor.id, t, seq),
    )
    return tuple(out)


def deleted(seq: int, e: Event, context: Context) -> Facts:
    if e.digest is None:
        # By tag (a Harbor retention run's `repo:tag`): the tag goes, and the digest it
        # held at `e.time` is derived with its history (`store.history`).
        node, fact = _tag_fact(e, _DELETE)
        return (node, fact, DeleteFact(None, node.id, e.repository, e.time))
    return (
        ArtifactFact(e.digest, e.time, deleted=True),
        DeleteFact(e.digest, None, e.repository, e.time),
    )


_STAGES = {
    EventType.BUILD_QUEUED: "queued",
    EventType.BUILD_STARTED: "started",
    EventType.BUILD_FINISHED: "finished",
}


def build_event(seq: int, e: Event, context: Context) -> Facts:
    assert e.build is not None or e.type is not _BUILD_FINISHED
    if e.build is None:
        return ()
    t = e.time
    attrs: dict[str, Any] = {"id": e.build, _STAGES[e.type]: format_time(t)}
    if e.builder:
        attrs["builder"] = e.builder
    # started, then finished: the build learns as it goes
    build = NodeFact(N.build(e.build), _BUILD, t, attrs, learns=True)
    out: list[Fact] = [build]
    if e.builder:
        builder = _builder(e.builder, t)
        out += (builder, EdgeFact(builder.id, _RAN, build.id, t, seq))
    if e.commit:
        commit = _commit(e.commit, t, e.vcs_url)
        out += (commit, EdgeFact(commit.id, _BUILT, build.id, t, seq))
    if e.digest:
        art = N.artifact(e.digest)
        out += (ArtifactFact(e.digest, t), EdgeFact(build.id, _PRODUCED, art, t, seq))
    return tuple(out)


def change_merged(seq: int, e: Event, context: Context) -> Facts:
    assert e.commit is not None
    return (_commit(e.commit, e.time, e.vcs_url),)


# What a signature/attestation node keeps about itself; verdicts live in `evidence`.
_SIGNED_ATTRS = ("format", "predicate_type", "media_type", "key_hint", "subject_name", "keyless")


def signed(seq: int, e: Event, context: Context) -> Facts:
    """A signature or an attestation: its node signs/attests the artifact, the key it was
    made with signed it, and its arrival verdict is evidence. Only this service's own
    verdicts count: those of events of the verifying source in entries from it."""
    assert e.digest is not None
    t = e.time
    art = N.artifact(e.digest)
    if e.type is _ARTIFACT_SIGNED:
        kind, edge = _SIGNATURE, _SIGNS
    else:
        kind, edge = _ATTESTATION, _ATTESTS
    a = e.attributes
    about = {"event": e.id, "source": e.source} | {k: a[k] for k in _SIGNED_ATTRS if k in a}
    ref = NodeFact(f"{kind}:{e.id}", kind, t, about)
    out: list[Fact] = [ArtifactFact(e.digest, t), ref, EdgeFact(ref.id, edge, art, t, seq)]
    key = a.get("key")
    if isinstance(key, str) and key:
        signer = NodeFact(N.key(key), _KEY, t, {"id": key})
        out += (signer, EdgeFact(signer.id, _SIGNED_WITH, ref.id, t, seq))
    trusted = context.verifies and e.source == context.source
    out.append(EvidenceFact(e.digest, trusted))
    if e.build or e.builder or a.get("dependencies"):
        # The evidence row's `verified` (`store.evidence.values_for`): a verdict only
        # counts when trusted, and says so itself.
        verdict = a.get("verdict") if trusted else None
        verified = isinstance(verdict, Mapping) and bool(verdict.get("verified"))
        out += _attested_build(seq, e, art, verified=verified)
    return tuple(out)


_BUILD_ATTRS = (
    ("builder", "builder_id"),
    ("build_type", "build_type"),
    ("invocation_id", "invocation_id"),
    ("started", "started_on"),
    ("finished", "finished_on"),
)


def _attested_build(seq: int, e: Event, art: str, *, verified: bool) -> list[Fact]:
    """The build side of SLSA provenance: commit -built-> build <-ran- builder,
    build -produced-> artifact, and base image -base_of-> artifact for each resolved
    dependency that is an OCI image. Edges say they come from an attestation and
    whether it was trusted on arrival."""
    how = {"evidence": "attestation", "verified": verified}
    a = e.attributes
    t = e.time
    out: list[Fact] = []
    if e.build:
        attrs = {"id": e.build} | {
            name: a[k] for name, k in _BUILD_ATTRS if isinstance(a.get(k), str)
        }
        build = NodeFact(N.build(e.build), _BUILD, t, attrs, learns=True)
        out += (build, EdgeFact(build.id, _PRODUCED, art, t, seq, how))
        if e.builder:
            builder = _builder(e.builder, t)
            out += (builder, EdgeFact(builder.id, _RAN, build.id, t, seq, how))
        if e.commit:
            commit = _commit(e.commit, t, e.vcs_url)
            out += (commit, EdgeFact(commit.id, _BUILT, build.id, t, seq, how))
    for dep in a.get("dependencies") or []:
        base = dep.get("digest") if isinstance(dep, dict) else None
        if isinstance(base, str) and is_digest(base) and base != e.digest:
            base_of = EdgeFact(N.artifact(base), _BASE_OF, art, t, seq, how)
            out += (ArtifactFact(base, t), base_of)
    return out


def scanned(seq: int, e: Event, context: Context) -> Facts:
    assert e.digest is not None
    return (ArtifactFact(e.digest, e.time), ScanFact(e.digest))


def deployed(seq: int, e: Event, context: Context) -> Facts:
    return _deploy_fact(e, _APPLIED)


def undeployed(seq: int, e: Event, context: Context) -> Facts:
    return _deploy_fact(e, _REMOVED)


def _deploy_fact(e: Event, kind: DeployFactKind) -> Facts:
    """What a workload was given (or that it was removed) at `e.time`. An event naming
    cluster, namespace and container speaks of that container; one naming less (CDEvents
    often name a service and an environment) of every matching container of the
    workload, whenever they become known: the history decides, not the arrival."""
    assert e.workload is not None
    out: list[Fact] = []
    target = None
    if e.cluster and e.namespace and e.container:
        node_id = N.deployment(e.cluster, e.namespace, e.workload, e.container)
        placement = {
            "environment": e.environment,
            "cluster": e.cluster,
            "namespace": e.namespace,
            "workload": e.workload,
            "container": e.container,
        }
        out.append(NodeFact(node_id, _DEPLOYMENT, e.time, placement))
        target = node_id
    applied = kind is _APPLIED
    tag_ref = None
    if applied and e.digest is None and e.repository and e.tag:
        tag_ref = N.tag(e.repository, e.tag)  # runs what the tag held at that moment
    if applied and e.digest is not None:
        out.append(ArtifactFact(e.digest, e.time))
    digest = e.digest if applied else None
    out.append(DeployFact(e.workload, target, kind, digest, tag_ref, e.digest, e.time))
    return tuple(out)


#: The rule of each event type the graph takes in; any other type is on the timeline only.
RULES: Mapping[EventType, Rule] = {
    EventType.ARTIFACT_PUSHED: pushed,
    EventType.ARTIFACT_PULLED: pulled,
    EventType.ARTIFACT_DELETED: deleted,
    EventType.TAG_UPDATED: tag_updated,
    EventType.TAG_DELETED: tag_deleted,
    EventType.BUILD_QUEUED: build_event,
    EventType.BUILD_STARTED: build_event,
    EventType.BUILD_FINISHED: build_event,
    EventType.CHANGE_MERGED: change_merged,
    EventType.ARTIFACT_SIGNED: signed,
    EventType.ARTIFACT_ATTESTED: signed,
    EventType.DEPLOYMENT_APPLIED: deployed,
    EventType.DEPLOYMENT_REMOVED: undeployed,
    EventType.ARTIFACT_SCANNED: scanned,
}

__all__ = [
    "RULES",
    "ArtifactFact",
    "Context",
    "DeleteFact",
    "DeployFact",
    "EdgeFact",
    "EvidenceFact",
    "Fact",
    "Facts",
    "NodeFact",
    "PullFact",
    "Rule",
    "ScanFact",
    "TagFact",
    "facts_of",
    "on_timeline",
]
