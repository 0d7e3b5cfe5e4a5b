"""How the CLI shows the reports: search results, retention verdicts, deployments, alerts.

Entry points: `answer_table`, `search_table`, `retention_view`, `deployments_table`,
`alerts_table`; and for `--server`, `search_result`, `retention_report`, `deployment_list`,
`alert_page` (the service's JSON as the dataclass).

Each renders the query's dataclass (`provenance.query`), whether the answer was computed
here or parsed from `--server`'s JSON into the same dataclass (`api.mirrors.parse`), so both
modes print alike. A table's columns are the dataclass's fields (`query.columns.names`), less
those a person does not read in a terminal: a field added to an answer is a column here, in
its CSV and on the wire at once. Cells follow `cli.tables`: digests shortened unless `--wide`,
one time format, "-" for nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.table import Table

from cli.tables import Style, when
from provenance.model.retention import Item, Report
from provenance.query.alerts import Alert, AlertPage
from provenance.query.catalog import SearchItem, SearchResult
from provenance.query.columns import names, values
from provenance.query.deployments import Deployment

Cell = Callable[[Any], str]


def cell(value: Any) -> str:
    """A value as a person reads it: "-" for none, yes/no, lists joined, RFC 3339 times."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def answer_table(
    rows: Sequence[object],
    answer_type: type,
    *,
    first: Sequence[str] = (),
    hide: Collection[str] = (),
    cells: Mapping[str, Cell] | None = None,
) -> Table:
    """One row per answer, one column per field of `answer_type` (`first` ones leading,
    `hide` ones left out); a column's header is its field name in words."""
    fields = names(answer_type)
    unknown = [n for n in (*first, *hide, *(cells or {})) if n not in fields]
    if unknown:
        raise ValueError(f"{answer_type.__name__} has no field {', '.join(unknown)}")
    order = [*first, *(n for n in fields if n not in first and n not in hide)]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in order:
        table.add_column(name.replace("_", " "), overflow="fold")
    shown = {**dict.fromkeys(order, cell), **(cells or {})}
    for row in rows:
        row_values = values(row)
        table.add_row(*(shown[n](row_values[n]) for n in order))
    return table


def search_table(items: Sequence[SearchItem]) -> Table:
    return answer_table(items, SearchItem, first=("kind", "label"))


def retention_view(report: Report, style: Style) -> tuple[Table, str]:
    """The verdicts, and the line that sums them up."""
    table = answer_table(
        report.items,
        Item,
        hide=("first_seen", "base_of", "evidence_of"),  # in `--json` and the CSV
        cells={"digest": lambda d: style.digest(str(d))},
    )
    summary = ", ".join(f"{n} {verdict}" for verdict, n in report.summary.items())
    return table, f"{summary}; {report.already_deleted} already deleted"


def deployments_table(items: Sequence[Deployment], style: Style) -> Table:
    digest: Cell = lambda d: style.digest(d) if d else "-"  # noqa: E731 - one cell rule
    return answer_table(
        items,
        Deployment,
        hide=("pinned",),  # `image` says it: set only for an image given by tag
        cells={"digest": digest, "commit": digest},
    )


def alerts_table(items: Sequence[Alert], style: Style) -> Table:
    return answer_table(
        items,
        Alert,
        hide=("details", "key", "superseded_at", "superseded_by"),  # in `--json`
        cells={"digest": lambda d: style.digest(d) if d else "-"},
    )


# --- answers from --server: the service's JSON as the same dataclasses ------------------
# (the API's models are loaded only here: a command on the database never imports them)


def search_result(doc: Any) -> SearchResult:
    from api.catalog import SearchResponse  # noqa: PLC0415
    from api.mirrors import parse  # noqa: PLC0415

    return parse(SearchResponse, SearchResult, doc)


def retention_report(doc: Any) -> Report:
    from api.mirrors import parse  # noqa: PLC0415
    from api.retention import RetentionReport  # noqa: PLC0415

    return parse(RetentionReport, Report, doc)


def deployment_list(doc: Any) -> list[Deployment]:
    from api.insights import DeploymentModel  # noqa: PLC0415
    from api.mirrors import parse  # noqa: PLC0415

    return [parse(DeploymentModel, Deployment, item) for item in doc["items"]]


def alert_page(doc: Any) -> AlertPage:
    from api.insights import AlertsResponse  # noqa: PLC0415
    from api.mirrors import parse  # noqa: PLC0415

    return parse(AlertsResponse, AlertPage, doc)


__all__ = [
    "alert_page",
    "alerts_table",
    "answer_table",
    "cell",
    "deployment_list",
    "deployments_table",
    "retention_report",
    "retention_view",
    "search_result",
    "search_table",
]
