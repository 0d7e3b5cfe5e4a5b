"""How the CLI shows answers to a person: consoles, tables and trees that fit 80 columns.

Entry points: `consoles()`, `Style`, `short`, `when`, `trace_view`, `blast_radius_tables`.
Everything here renders the answers' dataclasses (`provenance.query`); an answer in the
API's JSON (from `--server`, or a saved `--json`) is read into the same dataclass first
(`api.schemas`), so both look the same and each table has one renderer.

* Digests are shortened in the middle (`sha256:0123abcd…89ef`) unless `--wide`; `--json`
  always prints them whole.
* One time format: RFC 3339 in UTC to the second (`2026-05-04T09:12:00Z`).
* On a terminal the console fits its width; piped, lines are never hard-wrapped (a program
  reading the output gets one record per line).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from api.schemas import (
    ArtifactResponse,
    BlastRadiusResponse,
    LineageResponse,
    Model,
    TimelineEventModel,
)
from provenance.model.timeutil import parse_time
from provenance.query.artifacts import ArtifactView, TimelineEvent
from provenance.query.blast_radius import BlastRadius
from provenance.query.columns import names, values
from provenance.query.lineage import Lineage, LineageEdge

# An OCI digest (algorithm:hex) or a git sha (40 hex) anywhere in a cell.
_DIGEST = re.compile(r"\b([a-z0-9]+:)?([0-9a-f]{40,128})\b")
_PIPED_WIDTH = 10_000  # effectively unbounded: rich otherwise assumes 80 columns


def consoles() -> tuple[Console, Console]:
    """(stdout, stderr) consoles; piped output is never wrapped."""
    out_tty, err_tty = sys.stdout.isatty(), sys.stderr.isatty()
    return (
        Console(soft_wrap=not out_tty, width=None if out_tty else _PIPED_WIDTH),
        Console(stderr=True, soft_wrap=not err_tty, width=None if err_tty else _PIPED_WIDTH),
    )


@dataclass(frozen=True, slots=True)
class Style:
    wide: bool = False

    def digest(self, text: str) -> str:
        return text if self.wide else short(text)


def short(text: str) -> str:
    """Every digest in `text` shortened in the middle: 8 hex characters, `…`, 4."""

    def cut(m: re.Match[str]) -> str:
        algo, hexa = m.group(1) or "", m.group(2)
        return f"{algo}{hexa[:8]}…{hexa[-4:]}"

    return _DIGEST.sub(cut, text)


def when(value: str | datetime | None) -> str:
    """The one time format of human output; "-" for none."""
    if value is None or value == "":
        return "-"
    moment = value if isinstance(value, datetime) else parse_time(value)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- reading an answer ---------------------------------------------------------------

A = TypeVar("A")


def as_answer(value: A | Mapping[str, Any], model: type[Model], kind: type[A]) -> A:
    """The answer's dataclass: as given, or read from its JSON form through its API model."""
    if isinstance(value, kind):
        return value
    read: A = model.model_validate(value).to_domain()
    return read


def timeline_events(events: Sequence[TimelineEvent | Mapping[str, Any]]) -> list[TimelineEvent]:
    return [as_answer(e, TimelineEventModel, TimelineEvent) for e in events]


# --- trace ---------------------------------------------------------------------------


def trace_view(
    digest: str,
    artifact: ArtifactView | Mapping[str, Any],
    up: Lineage | Mapping[str, Any],
    down: Lineage | Mapping[str, Any],
    timeline: Sequence[TimelineEvent | Mapping[str, Any]],
    *,
    style: Style,
) -> tuple[Tree, Table]:
    view = as_answer(artifact, ArtifactResponse, ArtifactView)
    ups, downs = (as_answer(x, LineageResponse, Lineage) for x in (up, down))
    return _lineage_tree(digest, view, ups, downs, style), _timeline(
        timeline_events(timeline), style
    )


def _lineage_tree(
    digest: str, view: ArtifactView, up: Lineage, down: Lineage, style: Style
) -> Tree:
    title = f"[bold]{style.digest(digest)}[/bold] {view.media_type or ''}" + (
        " [red](deleted)[/red]" if view.deleted else ""
    )
    tree = Tree(title)
    root = f"artifact:{digest}"
    came_from, led_to = tree.add("[cyan]came from[/cyan]"), tree.add("[cyan]led to[/cyan]")
    _branch(came_from, root, up.edges, upward=True, seen={root}, style=style)
    _branch(led_to, root, down.edges, upward=False, seen={root}, style=style)
    pulls = view.pulls
    tree.add(
        f"[cyan]pulls[/cyan]: {pulls.count} by "
        f"{', '.join(pulls.actors) or 'nobody'} (last {when(pulls.last)})"
    )
    return tree


def _branch(
    node: Tree,
    at: str,
    edges: list[LineageEdge],
    *,
    upward: bool,
    seen: set[str],
    style: Style,
) -> None:
    for e in edges:
        near, far = (e.target, e.source) if upward else (e.source, e.target)
        if near != at or far in seen:
            continue
        seen.add(far)
        span = f"{when(e.since)} .. {when(e.until) if e.until else 'now'}"
        claim = " [yellow](claim)[/yellow]" if e.attrs.get("evidence") == "label" else ""
        child = node.add(f"{e.kind} [bold]{style.digest(far)}[/bold]{claim} [dim]{span}[/dim]")
        _branch(child, far, edges, upward=upward, seen=seen, style=style)


_DETAIL = ("repository", "tag", "previous_digest", "workload", "environment")


def _timeline(events: list[TimelineEvent], style: Style) -> Table:
    table = Table(title="timeline")
    for col in ("seq", "time (UTC)", "type"):
        table.add_column(col, no_wrap=True)  # the columns a reader scans must stay whole
    for col in ("source", "actor", "detail"):
        table.add_column(col, overflow="fold")
    for item in events:
        e = item.event
        detail = " ".join(
            f"{k}={style.digest(str(getattr(e, k)))}" for k in _DETAIL if getattr(e, k)
        )
        table.add_row(str(item.seq), when(e.time), str(e.type), e.source, e.actor or "-", detail)
    return table


# --- blast radius --------------------------------------------------------------------

# Each list's columns are its item's fields (`path` last, as the trail), less those a
# person does not scan for in an incident; a field added to an item is a column here.
_HIDDEN: dict[str, tuple[str, ...]] = {
    "deployments": ("container", "since", "until"),
    "pullers": ("digests",),
}
_SECTIONS = ("artifacts", "derived", "builds", "tags", "deployments", "pullers")
_NO_WRAP = ("digest", "count", "active", "last")


def blast_radius_tables(result: BlastRadius | Mapping[str, Any], style: Style) -> Iterable[Table]:
    radius = as_answer(result, BlastRadiusResponse, BlastRadius)
    for title in _SECTIONS:
        items: list[Any] = getattr(radius, title)
        if not items:
            continue
        hidden = (*_HIDDEN.get(title, ()), "path")
        cols = [c for c in names(type(items[0])) if c not in hidden]
        table = Table(title=f"{title} ({radius.counts.get(title, len(items))})")
        for col in cols:
            table.add_column(col, no_wrap=col in _NO_WRAP)
        table.add_column("path", overflow="fold")
        for item in items:
            row = values(item)
            path = " -> ".join(style.digest(p) for p in item.path[1:])
            table.add_row(
                *[when(row[c]) if c == "last" else style.digest(_cell(row[c])) for c in cols],
                path or "(the query itself)",
            )
        yield table


__all__ = [
    "Style",
    "as_answer",
    "blast_radius_tables",
    "consoles",
    "short",
    "timeline_events",
    "trace_view",
    "when",
]
