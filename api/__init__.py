"""The HTTP shell around `provenance`.

Entry points:
    create_app(settings, db=None, embedded=True) -> FastAPI

Routers: ingest (webhooks, canonical events), reads (artifacts, tags, commits, blast
radius), audit (log, verify, quarantine), health (healthz, readyz, metrics). Errors
become problem+json in `api.problems`, the one mapping table.
"""

from api.app import create_app

__all__ = ["create_app"]
