"""The faust-streaming shell around `provenance` (distributed mode).

Intentionally empty until the distributed-mode issue: its topology will live in
`streams/app.py` and call the same `provenance.service` functions as the embedded runner.
"""

__all__: list[str] = []
