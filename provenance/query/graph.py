"""networkx over a bounded subgraph: the only module that imports networkx.

The store hands over the edges a query reached (never the whole graph); this module
turns them into a DiGraph for path finding and for GraphML / DOT rendering.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx


def build(
    nodes: Mapping[str, Mapping[str, Any]], edges: Iterable[tuple[str, str, Mapping[str, Any]]]
) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    for node_id, attrs in nodes.items():
        graph.add_node(node_id, **attrs)
    for src, dst, attrs in edges:
        graph.add_edge(src, dst, **attrs)
    return graph


def paths_from(root: str, edges: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Shortest path (as node ids) from `root` to every node the edges reach."""
    graph = nx.DiGraph()
    graph.add_node(root)
    graph.add_edges_from(edges)
    result: dict[str, list[str]] = nx.single_source_shortest_path(graph, root)
    return result


def to_graphml(graph: nx.MultiDiGraph) -> str:
    clean = nx.MultiDiGraph()
    for node_id, attrs in graph.nodes(data=True):
        clean.add_node(node_id, **_scalars(attrs))
    for src, dst, attrs in graph.edges(data=True):
        clean.add_edge(src, dst, **_scalars(attrs))
    buffer = io.BytesIO()
    nx.write_graphml(clean, buffer)
    return buffer.getvalue().decode()


def to_dot(graph: nx.MultiDiGraph) -> str:
    lines = ["digraph lineage {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
    for node_id, attrs in graph.nodes(data=True):
        label = f"{attrs.get('kind', '')}\\n{attrs.get('label') or _short(node_id)}"
        lines.append(f"  {_quote(node_id)} [label={_quote(label)}];")
    for src, dst, attrs in graph.edges(data=True):
        lines.append(
            f"  {_quote(src)} -> {_quote(dst)} [label={_quote(str(attrs.get('kind', '')))}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _scalars(attrs: Mapping[str, Any]) -> dict[str, Any]:
    # GraphML takes str/int/float/bool only; drop None and stringify the rest.
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        out[key] = value if isinstance(value, str | int | float | bool) else str(value)
    return out


def _short(node_id: str) -> str:
    _, _, rest = node_id.partition(":")
    if rest.startswith("sha256:"):
        return rest[:19]
    return rest if len(rest) <= 60 else rest[:57] + "..."


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'


__all__ = ["build", "paths_from", "to_dot", "to_graphml"]
