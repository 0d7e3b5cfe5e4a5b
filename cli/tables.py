"""How the CLI shows answers to a person: consoles, tables and trees that fit 80 columns.

Entry points: `consoles()`, `Style`, `short`, `when`, `trace_view`, `blast_radius_tables`.
Everything here renders the API's JSON shapes (plain dicts), so an answer from the database
and one from `--server` look the same.

* Digests are shortened in the middle (`sha256:0123abcd…89ef`) unless `--wide`; `--json`
  always prints them whole.
* One time format: RFC 3339 in UTC to the second (`2026-05-04T09:12:00Z`).
* On a terminal the console fits its width; piped, lines are never hard-wrapped (a program
  reading the output gets one record per line).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from provenance.model.timeutil import parse_time

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


# --- trace ---------------------------------------------------------------------------


def trace_view(
    digest: str,
    artifact: dict[str, Any],
    up: dict[str, Any],
    down: dict[str, Any],
    timeline: list[dict[str, Any]],
    *,
    style: Style,
) -> tuple[Tree, Table]:
    return _lineage_tree(digest, artifact, up, down, style), _timeline(timeline, style)


def _lineage_tree(
    digest: str, view: dict[str, Any], up: dict[str, Any], down: dict[str, Any], style: Style
) -> Tree:
    title = f"[bold]{style.digest(digest)}[/bold] {view.get('media_type') or ''}" + (
        " [red](deleted)[/red]" if view.get("deleted") else ""
    )
    tree = Tree(title)
    root = f"artifact:{digest}"
    came_from, led_to = tree.add("[cyan]came from[/cyan]"), tree.add("[cyan]led to[/cyan]")
    _branch(came_from, root, up["edges"], upward=True, seen={root}, style=style)
    _branch(led_to, root, down["edges"], upward=False, seen={root}, style=style)
    pulls = view.get("pulls") or {}
    tree.add(
        f"[cyan]pulls[/cyan]: {pulls.get('count', 0)} by "
        f"{', '.join(pulls.get('actors') or []) or 'nobody'} (last {when(pulls.get('last'))})"
    )
    return tree


def _branch(
    node: Tree,
    at: str,
    edges: list[dict[str, Any]],
    *,
    upward: bool,
    seen: set[str],
    style: Style,
) -> None:
    for e in edges:
        near, far = (e["target"], e["source"]) if upward else (e["source"], e["target"])
        if near != at or far in seen:
            continue
        seen.add(far)
        span = f"{when(e.get('since'))} .. {when(e['until']) if e.get('until') else 'now'}"
        claim = " [yellow](claim)[/yellow]" if e.get("evidence") == "label" else ""
        child = node.add(f"{e['kind']} [bold]{style.digest(far)}[/bold]{claim} [dim]{span}[/dim]")
        _branch(child, far, edges, upward=upward, seen=seen, style=style)


def _timeline(events: list[dict[str, Any]], style: Style) -> Table:
    table = Table(title="timeline")
    for col in ("seq", "time (UTC)", "type"):
        table.add_column(col, no_wrap=True)  # the columns a reader scans must stay whole
    for col in ("source", "actor", "detail"):
        table.add_column(col, overflow="fold")
    for e in events:
        detail = " ".join(
            f"{k}={style.digest(str(e[k]))}"
            for k in ("repository", "tag", "previous_digest", "workload", "environment")
            if e.get(k)
        )
        actor = e.get("actor") or "-"
        table.add_row(str(e["seq"]), when(e.get("time")), e["type"], e["source"], actor, detail)
    return table


# --- blast radius --------------------------------------------------------------------

_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("artifacts", ("digest",)),
    ("derived", ("digest",)),
    ("builds", ("build",)),
    ("tags", ("repository", "tag", "digest")),
    ("deployments", ("environment", "cluster", "namespace", "workload", "digest", "active")),
    ("pullers", ("actor", "client", "count", "last")),
)


def blast_radius_tables(result: dict[str, Any], style: Style) -> Iterable[Table]:
    counts: dict[str, int] = result.get("counts") or {}
    for title, cols in _SECTIONS:
        items: list[dict[str, Any]] = result.get(title) or []
        if not items:
            continue
        table = Table(title=f"{title} ({counts.get(title, len(items))})")
        for col in cols:
            table.add_column(col, no_wrap=col in ("digest", "count", "active", "last"))
        table.add_column("path", overflow="fold")
        for item in items:
            path = " -> ".join(style.digest(p) for p in item.get("path", [])[1:])
            table.add_row(
                *[
                    when(item.get(c)) if c == "last" else style.digest(_cell(item.get(c)))
                    for c in cols
                ],
                path or "(the query itself)",
            )
        yield table


__all__ = ["Style", "blast_radius_tables", "consoles", "short", "trace_view", "when"]
