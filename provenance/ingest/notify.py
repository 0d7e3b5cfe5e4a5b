"""Outbound alert webhook: POST each alert as JSON to PROVENANCE_ALERT_WEBHOOK_URL,
retried with exponential backoff until the receiver answers 2xx.

Delivery is at least once; the payload's `key` is stable, so receivers can deduplicate.
State lives in `alert_deliveries`, so a restart or a projection rebuild sends nothing twice.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta

import httpx
import orjson

from provenance.model.timeutil import format_time, utcnow
from provenance.store import Database
from provenance.store.alert_models import AlertRow
from provenance.store.alerting import due_for_delivery, record_attempt

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=10)


def payload(alert: AlertRow) -> bytes:
    return orjson.dumps(
        {
            "id": alert.id,
            "key": alert.key,
            "kind": alert.kind,
            "time": format_time(alert.time),
            "digest": alert.digest,
            "repository": alert.repository,
            "details": alert.details,
            "events": alert.events,
            "superseded": alert.superseded_at is not None,
            "superseded_by": alert.superseded_by or [],
        }
    )


def backoff(attempts: int, *, base: float = 1.0) -> timedelta:
    """1s, 2s, 4s, ... capped at 10 minutes, with up to 20% jitter."""
    seconds = min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=seconds * (1 + random.random() * 0.2))  # noqa: S311 - jitter, not crypto


class AlertNotifier:
    def __init__(
        self,
        db: Database,
        url: str,
        *,
        client: httpx.Client | None = None,
        base_backoff: float = 1.0,
        interval: float = 1.0,
    ) -> None:
        self._db = db
        self._url = url
        self._client = client or httpx.Client(timeout=5.0)
        self._base = base_backoff
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def deliver_due(self, now: datetime | None = None) -> int:
        """One pass: POST every alert that is due; returns how many were delivered."""
        now = now or utcnow()
        with self._db.read() as session:
            due = due_for_delivery(session, now)
        delivered = 0
        for alert in due:
            ok, error = self._post(alert)
            with self._db.write() as session:
                record_attempt(
                    session,
                    alert.key,
                    now=now,
                    ok=ok,
                    error=error,
                    retry_in=lambda attempts: backoff(attempts, base=self._base),
                )
            delivered += ok
        return delivered

    def _post(self, alert: AlertRow) -> tuple[bool, str | None]:
        try:
            response = self._client.post(
                self._url, content=payload(alert), headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            logger.warning(
                "alert webhook unreachable", extra={"alert": alert.key, "error": str(exc)}
            )
            return False, str(exc)
        if response.is_success:
            return True, None
        return False, f"HTTP {response.status_code}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="alert-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:
                logger.exception("alert delivery pass failed; retrying")
            self._stop.wait(self._interval)


__all__ = ["AlertNotifier", "backoff", "payload"]
