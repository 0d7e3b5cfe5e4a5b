"""Exit codes of the `provenance` command, decided in one place (contract, Commands).

    0  OK          the answer is positive (found, intact, done)
    1  NEGATIVE    a negative answer: not found, the log is broken, a checkpoint rejected
    2  USAGE       usage or configuration: bad flags, a bad URL, no database at that path,
                   a refused token, a query the service cannot answer as asked
    3  UNREACHABLE the server or the database does not answer

Entry points: `exit_code(error)` and `message(error)` (one line, never a traceback).
"""

from __future__ import annotations

from provenance.model.errors import NotFound, ProvenanceError, Unavailable

OK = 0
NEGATIVE = 1
USAGE = 2
UNREACHABLE = 3


def exit_code(error: ProvenanceError) -> int:
    if isinstance(error, NotFound):
        return NEGATIVE
    if isinstance(error, Unavailable):
        return UNREACHABLE
    return USAGE


def message(error: ProvenanceError) -> str:
    """The error's detail on one line: drivers put hints on the following lines."""
    lines = [line.strip() for line in error.detail.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


__all__ = ["NEGATIVE", "OK", "UNREACHABLE", "USAGE", "exit_code", "message"]
