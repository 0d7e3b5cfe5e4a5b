"""Alembic environment: runs on the connection handed over by `Database.upgrade`."""

from alembic import context

from provenance.store import (
    alert_models,  # noqa: F401 - registers the alert tables
    evidence,  # noqa: F401 - registers the evidence table
)
from provenance.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
