"""The one settings object, read from `PROVENANCE_*` environment variables at the entrypoint."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROVENANCE_", extra="ignore")

    database_url: str = "sqlite:///./provenance.db"
    kafka_url: str | None = None
    ingest_token: SecretStr | None = None
    read_token: SecretStr | None = None
    admin_token: SecretStr | None = None
    github_webhook_secret: SecretStr | None = None
    # The gar route's Pub/Sub push token (provenance.trust.pubsub): both set, or neither.
    gar_audience: str | None = None
    gar_service_account: str | None = None
    google_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"  # v1 PEMs or a JWKS
    trust_policy: str | None = None
    signing_key: str | None = None
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    environments: dict[str, str] = Field(default_factory=dict)
    alert_webhook_url: str | None = None
    # The lowest severity a running digest's latest scan may report before
    # `vulnerable_deployed` fires. Each shell (API, worker, CLI) passes it to the projection
    # it runs (`ProjectionRunner` / `LaneProjector`): read here only.
    alert_min_severity: Literal["critical", "high", "medium", "low", "unknown"] = "critical"
    # `provenance reconcile`'s registry calls: tries per call on 429, 5xx and transport
    # errors, and the longest `Retry-After` honoured (seconds; a longer one is cut to this).
    registry_retry_attempts: int = Field(default=5, gt=0)
    registry_retry_after_max: float = Field(default=30.0, ge=0)
    log_format: str = "auto"  # json | console | auto (json when stdout is not a terminal)
    log_level: str = "INFO"
    # Distributed mode (`provenance api` / `provenance worker`, faust-streaming on Kafka).
    kafka_partitions: int = Field(default=8, gt=0)  # of every topic the service creates
    kafka_replication: int = Field(default=1, gt=0)  # 3 on a production cluster
    kafka_topic_prefix: str = "provenance"  # topics: <prefix>.deliveries, .events, ...
    kafka_group: str = "provenance-worker"  # the workers' consumer group (faust app id)
    kafka_session_timeout: float = Field(default=30.0, gt=0)  # a dead worker's partitions move
    kafka_publish_timeout: float = Field(default=10.0, gt=0)  # API: no broker ack by then: 503
    # Embedded (`serve`): project a delivery before its 202 (readable at once), or only
    # commit it and let the projection thread take all that is pending in one batch behind
    # (faster under load; a 202 still means durably stored; lag at /readyz and /metrics).
    project_before_accept: bool = True
    kafka_linger_ms: float = Field(default=5.0, ge=0)  # API: wait this long to fill a batch
    kafka_batch_deliveries: int = Field(default=200, gt=0)  # API: deliveries per Kafka message
    worker_batch: int = Field(default=200, gt=0)  # Kafka messages per database transaction
    worker_batch_seconds: float = Field(default=0.05, gt=0)  # wait at most this to fill it
    worker_host: str = "0.0.0.0"  # noqa: S104 - the worker's /readyz is for orchestrators
    worker_port: int = Field(default=6066, gt=0)

    @field_validator("ingest_token", "read_token", "admin_token", "github_webhook_secret")
    @classmethod
    def _empty_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("gar_audience", "gar_service_account")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip()

    @field_validator("alert_min_severity", mode="before")
    @classmethod
    def _severity_word(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("environments", mode="before")
    @classmethod
    def _empty_environments(cls, value: Any) -> Any:
        return {} if value in ("", None) else value

    @property
    def auth_enabled(self) -> bool:
        return any((self.ingest_token, self.read_token, self.admin_token))


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


__all__ = ["Settings", "is_loopback"]
