"""Reading the alerts back: `list_alerts(session, since=, kind=, after=, limit=, superseded=)`.

The rows come in the order they were raised (their id); `superseded=False` keeps only the
findings that still hold. Raising and delivering them is ingest's (`provenance.ingest`).
"""

from __future__ import annotations

from datetime import datetime

from provenance.store import Session, alerting
from provenance.store.alert_models import AlertRow


def list_alerts(
    session: Session,
    *,
    since: datetime | None = None,
    kind: str | None = None,
    after: int = 0,
    limit: int = 100,
    superseded: bool = True,
) -> list[AlertRow]:
    return alerting.list_alerts(
        session, since=since, kind=kind, after=after, limit=limit, superseded=superseded
    )


__all__ = ["AlertRow", "list_alerts"]
