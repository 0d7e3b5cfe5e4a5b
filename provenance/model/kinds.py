"""The vocabulary of the graph: what a node is, how two nodes relate, what a fact says.

StrEnums, so a member is equal to its stored text: rows keep plain strings, the code names
the kind instead of spelling it. A new kind of node or edge is added here first.
"""

from __future__ import annotations

from enum import StrEnum


class NodeKind(StrEnum):
    """The prefix of a node id (`provenance.model.nodes`) and the `nodes.kind` column.

    Scans and vulnerabilities are no nodes: `store.scans` keeps them in tables of their own,
    and a blast radius from a vulnerability starts at the digests whose latest scan lists it.
    """

    ARTIFACT = "artifact"
    REPOSITORY = "repository"
    TAG = "tag"
    ACTOR = "actor"
    COMMIT = "commit"
    BUILD = "build"
    BUILDER = "builder"
    KEY = "key"
    IMAGE = "image"  # known only by its reference (`repo:tag`), deployed before any digest was
    DEPLOYMENT = "deployment"
    SIGNATURE = "signature"
    ATTESTATION = "attestation"


class EdgeKind(StrEnum):
    """`edges.kind`: read as "src <kind> dst"."""

    STORED_IN = "stored_in"  # artifact -> repository
    PUSHED = "pushed"  # actor -> artifact
    PULLED_BY = "pulled_by"  # artifact -> actor
    CLAIMS = "claims"  # commit -> artifact, from an image label only
    PRODUCED = "produced"  # build -> artifact
    RAN = "ran"  # builder -> build
    BUILT = "built"  # commit -> build
    BASE_OF = "base_of"  # base artifact -> artifact
    SIGNS = "signs"  # signature -> artifact
    ATTESTS = "attests"  # attestation -> artifact
    SIGNED_WITH = "signed_with"  # key -> signature/attestation
    # Derived histories: intervals rewritten from the facts by event time (`store.history`).
    TAGGED = "tagged"  # tag -> artifact, since/until
    DEPLOYED = "deployed"  # deployment -> artifact, since/until


#: Edges whose rows are an interval history; every other kind is stated once and kept.
HISTORY_EDGES = frozenset({EdgeKind.TAGGED, EdgeKind.DEPLOYED})


class TagFactKind(StrEnum):
    """What a tag fact states at its time."""

    POINT = "point"  # the tag points at a digest
    DELETE = "delete"  # the tag (or the digest under it) is gone


class DeployFactKind(StrEnum):
    """What a deployment fact states at its time."""

    APPLIED = "applied"
    REMOVED = "removed"


__all__ = ["HISTORY_EDGES", "DeployFactKind", "EdgeKind", "NodeKind", "TagFactKind"]
