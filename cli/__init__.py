"""The `provenance` command: the third shell around the domain, beside `api` and `streams`.

    cli.app      the typer application and its commands (`main` is the entry point)
    cli.tables   human output: trees and tables rendered with rich
    cli.exits    the one mapping from the domain's error tree to exit codes

It may start either other shell (`serve`, `api`, `worker`); neither of them, nor the
domain, imports it.
"""

from cli.app import app, main

__all__ = ["app", "main"]
