"""The faust-streaming shell around `provenance` (distributed mode).

Entry points:
    streams.app.create_app(settings, db=None) -> faust.App   topics, the agent, the outbox
    streams.app.run(app, settings)                             run it as a worker
    streams.app.app                                            for `faust -A streams.app`

The whole topology is in `streams/app.py`. Agents are thin: they call the same
`provenance.ingest.service` functions as the embedded runner, in a thread.
"""

__all__: list[str] = []
