"""Opening the database: the handle the shells hold, and the two ways to get one.

    Database                          the handle: engines, the `read()` and `write()`
                                      transactions the shells own, `dispose()`
    connect(url) -> Database          the database at `url` as it is: the HTTP API and the
                                      workers (`provenance serve` and `provenance worker`
                                      open it migrated first, below)
    open_database(url, create=) -> Database
                                      migrated, with the CLI's promises kept: a reading
                                      command never creates one, a URL SQLAlchemy cannot
                                      use or a server that does not answer is one line

The shells never import `provenance.store` (import-linter forbids it), so the handle's
type is named here: `Database` is the store's class, re-exported, not a Protocol. The
shells pass it on to use cases that take that class, and use most of its surface; a
Protocol restating it would only be a second description of the one implementation,
free to drift from it. `Session` is named here for the same reason: it is what
`Database.read()` and `write()` yield, which a shell passes on to a use case.
"""

from __future__ import annotations

from provenance.store import Database, Session
from provenance.store.opening import open_database


def connect(url: str) -> Database:
    """A handle on the database at `url`; nothing is created or migrated. The caller
    disposes of it."""
    return Database(url)


__all__ = ["Database", "Session", "connect", "open_database"]
