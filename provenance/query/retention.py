"""The retention report: `report(session, repository, window) -> Report`.

The store gathers each digest's facts in SQL; the rules that judge them are the model's
(`provenance.model.retention`), so the API and the CLI give the same verdicts.
"""

from __future__ import annotations

from provenance.model.retention import Report, Window
from provenance.store import Session
from provenance.store import retention as store_retention


def report(session: Session, repository: str, window: Window) -> Report:
    """Per digest of `repository`: delete or keep, and why, as of `window`."""
    return store_retention.report(session, repository, window)


__all__ = ["report"]
