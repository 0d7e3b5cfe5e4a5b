"""The scopes of alerts: the history a finding is derived from, and derived again with.

A scope's stored findings are replaced by what its history implies now (superseded, not
deleted: `provenance.model.alerts.supersede`). The names are stored (`alerts.scope`).
"""

from __future__ import annotations


def tag_fact(tag: str, okey: str) -> str:
    """One fact of a tag's history (a move raises `tag_moved` in it)."""
    return f"{tag}|{okey}"


def workload(name: str) -> str:
    """A workload's deployments (`unsigned_deployed`, `unattested_deployed`)."""
    return f"workload:{name}"


def deleted(digest: str) -> str:
    """A digest's deletes (`deleted_while_deployed`)."""
    return f"deleted:{digest}"


def vulnerable(digest: str) -> str:
    """A digest's latest scans against where it ran (`vulnerable_deployed`)."""
    return f"vulnerable:{digest}"


def puller(repository: str, actor: str) -> str:
    """An actor's first pull from a repository (`new_puller`)."""
    return f"puller:{repository}|{actor}"


__all__ = ["deleted", "puller", "tag_fact", "vulnerable", "workload"]
