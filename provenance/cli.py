"""The `provenance` command: serve the service, load the demo, ask questions from a terminal.

Human output (trees, tables) goes to the terminal; `--json` prints machine output.
Every command that reads data takes `--database-url` (else PROVENANCE_DATABASE_URL).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from provenance import catalog, queries
from provenance.errors import ProvenanceError
from provenance.logs import configure_logging
from provenance.settings import Settings, is_loopback
from provenance.store import Database, log, projection
from provenance.timeutil import format_time, parse_time, utcnow

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Schema migrations and the projection.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident event log.")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
trust_app = typer.Typer(no_args_is_help=True, help="The trust policy and the evidence.")
app.add_typer(trust_app, name="trust")

console = Console()
err = Console(stderr=True)
logger = logging.getLogger(__name__)

DbUrl = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL")]
Json = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _settings(database_url: str | None = None) -> Settings:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


@contextmanager
def _database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.database_url)
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()


def _print_json(value: Any) -> None:
    sys.stdout.write(
        orjson.dumps(
            value,
            option=orjson.OPT_UTC_Z | orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
            default=str,
        ).decode()
        + "\n"
    )


def _fail(exc: ProvenanceError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.detail}")
    return typer.Exit(2)


def _when(value: datetime | None) -> str:
    return format_time(value) if value else "-"


# --- serving -------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8000,
    database_url: DbUrl = None,
) -> None:
    """Embedded all-in-one: the API plus in-process projection, on one database."""
    _serve_http(_settings(database_url), host, port, embedded=True)


@app.command("api")
def api_command(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8000,
    database_url: DbUrl = None,
) -> None:
    """Distributed mode: the API only; accepted deliveries go to Kafka (PROVENANCE_KAFKA_URL),
    answered 202 once the broker acknowledged them. Run any number of replicas."""
    settings = _settings(database_url)
    _require_kafka(settings, "api")
    _serve_http(settings, host, port, embedded=False)


def _serve_http(settings: Settings, host: str, port: int, *, embedded: bool) -> None:
    """Refuse a public address without tokens, then run the HTTP shell under uvicorn."""
    import uvicorn  # noqa: PLC0415 - only serving needs it

    if not settings.auth_enabled and not is_loopback(host):
        err.print(
            f"[red]refusing to listen on {host} without tokens[/red]: set "
            "PROVENANCE_INGEST_TOKEN, PROVENANCE_READ_TOKEN and PROVENANCE_ADMIN_TOKEN"
        )
        raise typer.Exit(2)
    configure_logging(settings.log_level, settings.log_format)  # only for a process that stays
    if not settings.auth_enabled:
        err.print(
            "[bold yellow]WARNING: authentication is OFF[/bold yellow] (no tokens set); "
            f"listening on loopback {host} only"
        )
    if settings.github_webhook_secret is None:
        logger.info("PROVENANCE_GITHUB_WEBHOOK_SECRET unset: GHCR webhooks need a bearer token")
    with _database(settings) as db:
        # The HTTP shell is wired by name, like any ASGI server would: the domain package
        # never imports `api`, so the dependency direction stays one way.
        create_app = importlib.import_module("api.app").create_app
        uvicorn.run(
            create_app(settings, db=db, embedded=embedded),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
        )


@app.command()
def worker(database_url: DbUrl = None) -> None:
    """Distributed mode: the faust-streaming worker. Consumes the deliveries topic, writes
    the log and the graph, serves /readyz on PROVENANCE_WORKER_PORT. Scale by running more
    (up to PROVENANCE_KAFKA_PARTITIONS); exit status 1 after a crash: restart it."""
    settings = _settings(database_url)
    configure_logging(settings.log_level, settings.log_format)
    _require_kafka(settings, "worker")
    with _database(settings) as db:
        # Wired by name like the HTTP shell: the domain never imports `streams` (or faust).
        streams = importlib.import_module("streams.app")
        streams.run(streams.create_app(settings, db=db), settings)


def _require_kafka(settings: Settings, command: str) -> None:
    if not settings.kafka_url:
        err.print(
            f"[red]provenance {command} needs PROVENANCE_KAFKA_URL[/red] "
            "(e.g. kafka://127.0.0.1:9092); `provenance serve` runs without Kafka"
        )
        raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade(database_url: DbUrl = None) -> None:
    """Apply schema migrations (Alembic) up to the latest."""
    with _database(_settings(database_url)):
        pass  # opening applies the migrations
    console.print("database is up to date")


@db_app.command("rebuild")
def db_rebuild(database_url: DbUrl = None) -> None:
    """Drop the graph and replay it from the log."""
    from provenance.service import ProjectionRunner  # noqa: PLC0415

    with _database(_settings(database_url)) as db:
        with db.write() as session:
            projection.rebuild(session)
        count = ProjectionRunner(db, batch=500).catch_up()
    console.print(f"replayed {count} log entries")


# --- demo ----------------------------------------------------------------------------


@app.command()
def demo(database_url: DbUrl = None, json: Json = False) -> None:
    """Load a built-in example story (in the sources' own formats) so queries show something."""
    from provenance import demo as story  # noqa: PLC0415

    with _database(_settings(database_url)) as db:
        summary = story.load(db)
    if json:
        _print_json(summary)
        return
    console.print(
        f"[green]loaded the demo story[/green]: {summary['accepted']} events accepted, "
        f"{summary['duplicates']} already present, {summary['deliveries']} deliveries"
    )
    console.print("try:")
    for line in summary["try"]:
        console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)


# --- questions -----------------------------------------------------------------------


@app.command()
def trace(
    digest: str,
    database_url: DbUrl = None,
    json: Json = False,
    depth: Annotated[int, typer.Option(help="lineage depth")] = 3,
) -> None:
    """An artifact's lineage (a tree) and timeline (a table)."""
    try:
        with _database(_settings(database_url)) as db, db.read() as session:
            digest = catalog.resolve_digest(session, digest)  # repo:tag or a prefix, too
            view = queries.artifact(session, digest)
            up = queries.lineage(session, digest, direction="up", depth=depth)
            down = queries.lineage(session, digest, direction="down", depth=depth)
            events = queries.timeline(session, digest, limit=1000).items
    except ProvenanceError as exc:
        raise _fail(exc) from exc
    if json:
        _print_json({"artifact": view, "lineage": {"up": up, "down": down}, "timeline": events})
        return
    console.print(_lineage_tree(digest, view, up, down))
    table = Table(title="timeline", show_lines=False)
    for col in ("seq", "time (UTC)", "type"):
        table.add_column(col, no_wrap=True)  # the columns a reader scans must stay whole
    for col in ("source", "actor", "detail"):
        table.add_column(col, overflow="fold")
    for e in events:
        detail = " ".join(
            f"{k}={e[k]}"
            for k in ("repository", "tag", "previous_digest", "workload", "environment")
            if e.get(k)
        )
        table.add_row(
            str(e["seq"]),
            e["time"][:19].replace("T", " "),
            e["type"],
            e["source"],
            e.get("actor") or "-",
            detail,
        )
    console.print(table)


def _lineage_tree(
    digest: str, view: queries.ArtifactView, up: queries.Lineage, down: queries.Lineage
) -> Tree:
    title = f"[bold]{digest}[/bold] {view.media_type or ''}" + (
        " [red](deleted)[/red]" if view.deleted else ""
    )
    tree = Tree(title)
    came_from = tree.add("[cyan]came from[/cyan]")
    root = f"artifact:{digest}"
    _branch(came_from, root, up.edges, upward=True, seen={root})
    goes_to = tree.add("[cyan]led to[/cyan]")
    _branch(goes_to, root, down.edges, upward=False, seen={root})
    pulls = view.pulls
    tree.add(
        f"[cyan]pulls[/cyan]: {pulls.count} by {', '.join(pulls.actors) or 'nobody'}"
        f" (last {_when(pulls.last)})"
    )
    return tree


def _branch(
    node: Tree, at: str, edges: list[dict[str, Any]], *, upward: bool, seen: set[str]
) -> None:
    for e in edges:
        near, far = (e["target"], e["source"]) if upward else (e["source"], e["target"])
        if near != at or far in seen:
            continue
        seen.add(far)
        span = f"{_when(e['since'])} .. {_when(e['until']) if e['until'] else 'now'}"
        claim = " [yellow](claim)[/yellow]" if e.get("evidence") == "label" else ""
        child = node.add(f"{e['kind']} [bold]{far}[/bold]{claim} [dim]{span}[/dim]")
        _branch(child, far, edges, upward=upward, seen=seen)


@app.command("blast-radius")
def blast_radius(
    digest: Annotated[str | None, typer.Option()] = None,
    commit: Annotated[str | None, typer.Option()] = None,
    build: Annotated[str | None, typer.Option()] = None,
    builder: Annotated[str | None, typer.Option()] = None,
    actor: Annotated[str | None, typer.Option()] = None,
    key: Annotated[str | None, typer.Option()] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="RFC 3339 time")] = None,
    limit: Annotated[int, typer.Option(help="items per list")] = 100,
    database_url: DbUrl = None,
    json: Json = False,
) -> None:
    """What is affected if this digest / commit / build / builder / actor / key is compromised."""
    given = {
        k: v
        for k, v in dict(
            digest=digest, commit=commit, build=build, builder=builder, actor=actor, key=key
        ).items()
        if v
    }
    if len(given) != 1:
        err.print("give exactly one of --digest --commit --build --builder --actor --key")
        raise typer.Exit(2)
    ((kind, value),) = given.items()
    try:
        when = parse_time(as_of, field="--as-of") if as_of else None
        with _database(_settings(database_url)) as db, db.read() as session:
            if kind in ("digest", "commit"):  # a reference or a unique prefix, too
                resolve = catalog.resolve_digest if kind == "digest" else catalog.resolve_commit
                value = resolve(session, value)
            result = queries.blast_radius(session, kind, value, as_of=when, limit=limit)
    except ProvenanceError as exc:
        raise _fail(exc) from exc
    if json:
        _print_json(result)
        return
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
    console.print(f"[bold]blast radius of {kind} {value}[/bold]: {counts}")
    sections: list[tuple[str, list[str], list[dict[str, Any]]]] = [
        ("artifacts", ["digest"], result.artifacts),
        ("derived", ["digest"], result.derived),
        ("tags", ["repository", "tag", "digest"], result.tags),
        (
            "deployments",
            ["environment", "cluster", "namespace", "workload", "digest", "active"],
            result.deployments,
        ),
        ("pullers", ["actor", "client", "count", "last"], result.pullers),
    ]
    for title, cols, items in sections:
        if not items:
            continue
        table = Table(title=f"{title} ({result.counts[title]})")
        for col in [*cols, "path"]:
            table.add_column(col)
        for item in items:
            path = " -> ".join(item["path"][1:]) or "(the query itself)"
            table.add_row(
                *[str(item.get(c) if item.get(c) is not None else "-") for c in cols], path
            )
        console.print(table)


@audit_app.command("verify")
def audit_verify(
    database_url: DbUrl = None,
    json: Json = False,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint", help="a saved GET /v1/audit/checkpoint: prove the log extends it"
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="PEM public key the checkpoint must be signed with "
            "(default: this service's signing key)",
        ),
    ] = None,
) -> None:
    """Check the log's hash chain: exit 0 when intact, 1 naming the first broken entry.
    With --checkpoint: also that the signed checkpoint verifies and the log extends it."""
    if checkpoint is not None:
        _verify_checkpoint(checkpoint, key, database_url, json=json)
        return
    with _database(_settings(database_url)) as db, db.read() as session:
        result = log.verify(session)
    if json:
        _print_json(result)
    elif result.ok:
        console.print(f"[green]log intact[/green]: {result.entries} entries, head {result.head}")
    else:
        console.print(f"[red]log broken at entry {result.first_bad_seq}[/red]: {result.reason}")
    if not result.ok:
        raise typer.Exit(1)


# --- trust: evidence, exports, checkpoints -------------------------------------------


def _verify_checkpoint(
    path: Path, key: Path | None, database_url: str | None, *, json: bool
) -> None:
    from provenance import checkpoints  # noqa: PLC0415 - loads the cryptography
    from provenance.attestations import ServiceSigner  # noqa: PLC0415

    settings = _settings(database_url)
    try:
        doc = orjson.loads(path.read_bytes())
        if not isinstance(doc, dict):
            raise ProvenanceError("the checkpoint file is not a JSON object")
        if key is not None:
            pem = key.read_text()
        else:
            pem = ServiceSigner.for_service(settings.signing_key, settings.database_url).public_pem
        cp = checkpoints.open_checkpoint(doc, pem)
        with _database(settings) as db, db.read() as session:
            result = checkpoints.extends(session, cp)
    except (OSError, orjson.JSONDecodeError) as exc:
        err.print(f"[red]error:[/red] cannot read {path}: {exc}")
        raise typer.Exit(1) from exc
    except ProvenanceError as exc:
        err.print(f"[red]checkpoint rejected:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    if json:
        _print_json(result)
    elif result.ok:
        console.print(
            f"[green]the log extends the checkpoint[/green]: entry {cp.entries} still has hash "
            f"{cp.head} (signed {_when(cp.time)}); the log now has {result.entries} entries, "
            f"head {result.head}"
        )
    else:
        console.print(f"[red]the log does not extend the checkpoint[/red]: {result.reason}")
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    database_url: DbUrl = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to FILE")] = None,
) -> None:
    """Print (or save) a checkpoint of the log head, signed with the service key."""
    from provenance import checkpoints  # noqa: PLC0415 - loads the cryptography
    from provenance.attestations import ServiceSigner  # noqa: PLC0415

    settings = _settings(database_url)
    try:
        signer = ServiceSigner.for_service(settings.signing_key, settings.database_url)
        with _database(settings) as db, db.read() as session:
            doc = checkpoints.make(session, signer)
    except ProvenanceError as exc:
        raise _fail(exc) from exc
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    if output is None:
        sys.stdout.write(data.decode())
    else:
        output.write_bytes(data)
        err.print(f"checkpoint of {doc['entries']} entries written to {output}")


@trust_app.command("reverify")
def trust_reverify(
    database_url: DbUrl = None,
    json: Json = False,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="default: PROVENANCE_TRUST_POLICY")
    ] = None,
) -> None:
    """Verify every stored signature and attestation again under the current policy,
    appending the new verdicts next to the old ones (nothing is overwritten)."""
    from provenance.attestations import Verifier  # noqa: PLC0415 - loads the cryptography
    from provenance.reverify import reverify  # noqa: PLC0415

    settings = _settings(database_url)
    try:
        verifier = Verifier.from_policy(policy or settings.trust_policy)
        with _database(settings) as db:
            report = reverify(db, verifier)
    except ProvenanceError as exc:
        raise _fail(exc) from exc
    if json:
        _print_json(report)
        return
    console.print(
        f"re-verified {report.verdicts} verdicts from {report.entries} log entries under policy "
        f"{report.policy_sha256 or '(none)'}: {report.verified} verified, "
        f"{len(report.changed)} changed"
    )
    if report.changed:
        table = Table(title="verdicts that changed")
        for col in ("digest", "kind", "was", "now", "reason"):
            table.add_column(col, overflow="fold")
        for c in report.changed:
            table.add_row(c["digest"], c["kind"], str(c["was"]), str(c["now"]), c["reason"] or "-")
        console.print(table)


@app.command("export")
def export(
    since: Annotated[str | None, typer.Option(help="RFC 3339; default: the beginning")] = None,
    until: Annotated[str | None, typer.Option(help="RFC 3339; default: now")] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="json, csv, ndjson (streamed) or intoto (signed)")
    ] = "json",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to FILE")] = None,
    environment: Annotated[str | None, typer.Option(help="only deployments there")] = None,
    repository: Annotated[str | None, typer.Option(help="only this repository")] = None,
    database_url: DbUrl = None,
) -> None:
    """Compliance export: every push and deployment in the period, with its evidence."""
    from provenance import exports  # noqa: PLC0415 - loads the cryptography
    from provenance.attestations import ServiceSigner  # noqa: PLC0415

    settings = _settings(database_url)
    try:
        chosen = exports.check_format(fmt)
        spec = exports.Export(
            since=parse_time(since, field="--since") if since else exports.EPOCH,
            until=parse_time(until, field="--until") if until else utcnow(),
            environment=environment,
            repository=repository,
        )
        with _database(settings) as db:
            if chosen == "intoto":
                signer = ServiceSigner.for_service(settings.signing_key, settings.database_url)
                chunks: Iterator[bytes] = iter(
                    [orjson.dumps(exports.signed(db, spec, signer), option=orjson.OPT_INDENT_2)]
                )
            else:
                chunks = exports.stream(db, spec, chosen)
            out = output.open("wb") if output is not None else sys.stdout.buffer
            try:
                for chunk in chunks:
                    out.write(chunk)
            finally:
                if output is not None:
                    out.close()
                else:
                    out.flush()
    except ProvenanceError as exc:
        raise _fail(exc) from exc
    if output is not None:
        err.print(f"{chosen} export written to {output}")


@app.command()
def reconcile(
    registry: Annotated[
        str, typer.Option("--registry", help="registry URL, e.g. https://r.acme.io")
    ],
    username: Annotated[str | None, typer.Option(envvar="PROVENANCE_REGISTRY_USERNAME")] = None,
    password: Annotated[str | None, typer.Option(envvar="PROVENANCE_REGISTRY_PASSWORD")] = None,
    token: Annotated[str | None, typer.Option(envvar="PROVENANCE_REGISTRY_TOKEN")] = None,
    insecure: Annotated[bool, typer.Option(help="skip TLS verification")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show, do not record")] = False,
    database_url: DbUrl = None,
    json: Json = False,
) -> None:
    """Walk a registry (OCI distribution API) and record what the webhooks missed."""
    from provenance.reconcile import reconcile as run  # noqa: PLC0415
    from provenance.registry_client import RegistryClient  # noqa: PLC0415
    from provenance.service import ProjectionRunner  # noqa: PLC0415

    try:
        with (
            _database(_settings(database_url)) as db,
            RegistryClient(
                registry, username=username, password=password, token=token, verify=not insecure
            ) as client,
        ):
            report = run(db, client, dry_run=dry_run)
            ProjectionRunner(db).catch_up()
    except ProvenanceError as exc:
        raise _fail(exc) from exc
    if json:
        _print_json(report)
        return
    console.print(
        f"{report.registry}: {report.repositories} repositories, {report.tags} tags; "
        f"{len(report.events)} differences, {report.accepted} recorded"
        + (" (dry run)" if dry_run else "")
    )
    for e in report.events:
        console.print(
            f"  {e['type']:18} {e['repository']}:{e.get('tag') or e.get('digest')}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )


def main() -> None:
    app()


__all__ = ["app", "main"]
