"""The answers a test compares across arrival orders, batchings and processes.

`Answers` asks the read side questions on one session and keeps each answer in a
comparable form: dataclasses as dicts, lists whose order is not part of the answer sorted,
and the fields that depend on arrival (log seq, row ids, paths picked by row order) left
out. Two graphs built from the same events must give equal `Answers.out`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from provenance.model.errors import NotFound
from provenance.query import artifacts, deployments
from provenance.query import blast_radius as radii
from provenance.store.alerting import list_alerts

ARRIVAL = {"seq", "events", "id", "evaluated_at", "path", "next_cursor"}


def plain(value: Any) -> Any:
    """A comparable form of an answer, without what depends on arrival."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in sorted(value.items()) if k not in ARRIVAL}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def unordered(items: list[Any]) -> list[Any]:
    return sorted(items, key=repr)


def artifact(view: artifacts.ArtifactView) -> Any:
    out = plain(view)
    for key in ("tags", "deployments", "signatures", "attestations", "commits"):
        out[key] = unordered(out[key])
    return out


def blast(radius: radii.BlastRadius) -> Any:
    out = plain(radius)
    for key in ("artifacts", "derived", "tags", "deployments", "pullers", "builds"):
        out[key] = unordered(out[key])
    return out


class Answers:
    """Questions asked of one session; `out` maps each question to its answer."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.out: dict[str, Any] = {}

    def ask(self, name: str, question: Callable[[], Any]) -> None:
        try:
            self.out[name] = plain(question())
        except NotFound:
            self.out[name] = "not found"

    def tag(self, repository: str, tag: str) -> None:
        s = self.session
        self.ask(f"tag {repository}:{tag}", lambda: artifacts.tag_history(s, repository, tag))

    def artifact(self, digest: str, as_of: datetime | None = None) -> None:
        s = self.session
        self.ask(
            f"artifact {digest} {as_of}",
            lambda: artifact(artifacts.artifact(s, digest, as_of=as_of)),
        )

    def timeline(self, digest: str) -> None:
        s = self.session
        self.ask(f"timeline {digest}", lambda: artifacts.timeline(s, digest, limit=1000).events)

    def blast(self, kind: str, value: str, as_of: datetime | None = None) -> None:
        s = self.session
        self.ask(
            f"blast {kind} {value} {as_of}",
            lambda: blast(radii.blast_radius(s, kind, value, as_of=as_of)),
        )

    def deployments(self, as_of: datetime | None = None, *, drift: bool = False) -> None:
        s = self.session
        self.ask(f"deployments {as_of}", lambda: deployments.deployments(s, as_of=as_of))
        if drift:
            self.ask(f"drift {as_of}", lambda: deployments.drift(s, as_of=as_of))

    def alerts(self, *, limit: int = 100_000) -> None:
        """The findings that hold now (superseded ones left out)."""
        self.out["alerts"] = unordered(
            [
                plain(
                    {
                        "kind": a.kind,
                        "key": a.key,
                        "time": a.time,
                        "digest": a.digest,
                        "repository": a.repository,
                        "details": a.details,
                    }
                )
                for a in list_alerts(self.session, superseded=False, limit=limit)
            ]
        )
