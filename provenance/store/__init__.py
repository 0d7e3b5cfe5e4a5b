"""Persistence: the only package that imports SQLAlchemy.

Entry points:
    Database                     engines, `write()` / `read()` transactions, `upgrade()`
    Session                      the unit of work `write()` / `read()` yield, which every
                                 store function takes: re-exported so the layers above
                                 name its type without importing SQLAlchemy
    blames_the_input(exc)        a failed write: the input's fault (set it aside) or not
    log.append / log.verify      the hash-chained log of accepted deliveries
    log.append_many              a batch of deliveries, one lock of the head
    cursors                      named positions in the log (the events topic's outbox)
    quarantine.put / .items      refused deliveries with their reason
    projection.project_pending   log -> graph tables, exactly once per entry (global cursor)
    projection.project_lane      the same for one partition's entries (distributed mode)
    projection.rebuild           drop the projection so it replays from the log
    reads                        lookups the query layer builds answers from: reads.graph,
                                 reads.timeline, reads.pulls, reads.exports
    reach                        a blast radius's reach, walked in SQL, counted and paged

Store functions add and flush; the caller's `Database.write()` block commits.
"""

from sqlalchemy.orm import Session

from provenance.store import cursors, log, projection, quarantine, reads
from provenance.store.db import Database, blames_the_input

__all__ = [
    "Database",
    "Session",
    "blames_the_input",
    "cursors",
    "log",
    "projection",
    "quarantine",
    "reads",
]
