"""Node ids of the provenance graph: `<kind>:<natural key>`, readable in paths."""

from __future__ import annotations


def artifact(digest: str) -> str:
    return f"artifact:{digest}"


def repository(name: str) -> str:
    return f"repository:{name}"


def tag(repo: str, name: str) -> str:
    return f"tag:{repo}:{name}"


def actor(name: str) -> str:
    return f"actor:{name}"


def commit(sha: str) -> str:
    return f"commit:{sha.lower()}"


def build(build_id: str) -> str:
    return f"build:{build_id}"


def builder(builder_id: str) -> str:
    return f"builder:{builder_id}"


def key(key_id: str) -> str:
    return f"key:{key_id}"


def image(reference: str) -> str:
    """An image known only by its reference (`repo:tag`), deployed before any digest was."""
    return f"image:{reference}"


def deployment(cluster: str | None, namespace: str | None, workload: str, container: str) -> str:
    return f"deployment:{cluster or '-'}/{namespace or '-'}/{workload}/{container}"


def kind_of(node_id: str) -> str:
    return node_id.split(":", 1)[0]
