"""Node ids of the provenance graph: `<kind>:<natural key>`, readable in paths."""

from __future__ import annotations

from provenance.model.kinds import NodeKind

# The prefixes, spelled once: ids are built on hot paths, and formatting an enum member
# costs several times a plain string.
_ARTIFACT = f"{NodeKind.ARTIFACT.value}:"
_REPOSITORY = f"{NodeKind.REPOSITORY.value}:"
_TAG = f"{NodeKind.TAG.value}:"
_ACTOR = f"{NodeKind.ACTOR.value}:"
_COMMIT = f"{NodeKind.COMMIT.value}:"
_BUILD = f"{NodeKind.BUILD.value}:"
_BUILDER = f"{NodeKind.BUILDER.value}:"
_KEY = f"{NodeKind.KEY.value}:"
_IMAGE = f"{NodeKind.IMAGE.value}:"
_DEPLOYMENT = f"{NodeKind.DEPLOYMENT.value}:"
_SIGNATURE = f"{NodeKind.SIGNATURE.value}:"
_ATTESTATION = f"{NodeKind.ATTESTATION.value}:"


def artifact(digest: str) -> str:
    return f"{_ARTIFACT}{digest}"


def repository(name: str) -> str:
    return f"{_REPOSITORY}{name}"


def tag(repo: str, name: str) -> str:
    return f"{_TAG}{repo}:{name}"


def actor(name: str) -> str:
    return f"{_ACTOR}{name}"


def commit(sha: str) -> str:
    return f"{_COMMIT}{sha.lower()}"


def build(build_id: str) -> str:
    return f"{_BUILD}{build_id}"


def builder(builder_id: str) -> str:
    return f"{_BUILDER}{builder_id}"


def key(key_id: str) -> str:
    return f"{_KEY}{key_id}"


def image(reference: str) -> str:
    """An image known only by its reference (`repo:tag`), deployed before any digest was."""
    return f"{_IMAGE}{reference}"


def deployment(cluster: str | None, namespace: str | None, workload: str, container: str) -> str:
    return f"{_DEPLOYMENT}{cluster or '-'}/{namespace or '-'}/{workload}/{container}"


def signature(event_id: str) -> str:
    """A signature, named by the event that delivered it."""
    return f"{_SIGNATURE}{event_id}"


def attestation(event_id: str) -> str:
    """An attestation, named by the event that delivered it."""
    return f"{_ATTESTATION}{event_id}"


def kind_of(node_id: str) -> str:
    """The kind an id names, as the stored text: answers carry it, and a serializer that
    goes by exact type (GraphML) takes no enum member."""
    return node_id.split(":", 1)[0]
