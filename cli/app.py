"""The `provenance` command: serve the service, load the demo, ask questions from a terminal.

Human output (trees, tables: `cli.tables`) goes to the terminal; `--json` prints
machine output. Query commands ask a running service with `--server URL` (else
PROVENANCE_URL; `provenance.client`), otherwise they open the database at `--database-url`
(else PROVENANCE_DATABASE_URL), which they never create (`provenance.ingest.opening`). Exit codes
are decided in one place (`cli.exits`); a domain error is one line, never a traceback.
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import orjson
import typer
from rich.table import Table

from api.schemas import (
    ArtifactResponse,
    BlastRadiusResponse,
    LineageResponse,
    Model,
    TimelineEventModel,
)
from cli import exits, reports
from cli.tables import (
    Style,
    as_answer,
    blast_radius_tables,
    consoles,
    timeline_events,
    trace_view,
    when,
)
from provenance.client import ServiceClient
from provenance.ingest.opening import Database, open_database
from provenance.logs import configure_logging
from provenance.model.errors import InvalidConfiguration, ProvenanceError
from provenance.model.timeutil import parse_time, utcnow
from provenance.query import artifacts, audit, catalog
from provenance.query import blast_radius as blast
from provenance.query import lineage as lineages
from provenance.query.artifacts import ArtifactView
from provenance.query.blast_radius import BlastRadius
from provenance.query.lineage import Lineage
from provenance.settings import Settings, is_loopback

if TYPE_CHECKING:
    from provenance.ingest.opening import Session

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Schema migrations and the projection.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident event log.")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
trust_app = typer.Typer(no_args_is_help=True, help="The trust policy and the evidence.")
app.add_typer(trust_app, name="trust")
keys_app = typer.Typer(no_args_is_help=True, help="The service key (checkpoints, exports).")
app.add_typer(keys_app, name="keys")

console, err = consoles()
logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A")

DEFAULT_SERVER = "http://127.0.0.1:8000"  # where `demo` looks for a running service

DbUrl = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL")]
Json = Annotated[bool, typer.Option("--json", help="machine-readable output")]
Server = Annotated[
    str | None,
    typer.Option(
        "--server", envvar="PROVENANCE_URL", help="ask a running service at URL, not a database"
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="PROVENANCE_TOKEN", help="bearer token for --server", show_default=False
    ),
]
Wide = Annotated[bool, typer.Option("--wide", help="print digests whole")]


def _version(value: bool) -> None:
    if value:
        try:
            number = version("provenance")
        except PackageNotFoundError:  # run from a source tree that is not installed
            number = "unknown"
        sys.stdout.write(f"provenance {number}\n")
        raise typer.Exit(exits.OK)


@app.callback()
def _root(
    _version_flag: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Supply-chain provenance for container registries."""
    # A one-shot command says what went wrong in one line (`answers`); the library's
    # warnings would repeat it. Long-running commands call `configure_logging` instead.
    root = logging.getLogger()
    if not root.handlers:  # not when embedded (a test runner's capture, an application)
        quiet = logging.StreamHandler(sys.stderr)
        quiet.setLevel(logging.ERROR)
        root.addHandler(quiet)


def answers(command: Callable[P, R]) -> Callable[P, R]:
    """A command whose domain errors end it with one line and the contract's exit code."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ProvenanceError as exc:
            err.print(f"[red]error:[/red] {exits.message(exc)}", markup=True, highlight=False)
            raise typer.Exit(exits.exit_code(exc)) from exc

    return run


def _settings(database_url: str | None = None) -> Settings:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


@contextmanager
def _database(settings: Settings, *, create: bool = True) -> Iterator[Database]:
    """The migrated database; a reading command passes `create=False` (never an empty one)."""
    db = open_database(settings.database_url, create=create)
    try:
        yield db
    finally:
        db.dispose()


def _reading(database_url: str | None) -> Any:
    return _database(_settings(database_url), create=False)


def _plain(value: Any) -> Any:
    """A domain answer in the API's JSON shape, so both modes render alike."""
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS))


def _answer(
    server: str | None,
    token: str | None,
    database_url: str | None,
    *,
    ask: Callable[[ServiceClient], Any],
    parse: Callable[[Any], A],
    read: Callable[[Session], A],
    plain: Callable[[A], Any] = _plain,
) -> tuple[A, Any]:
    """An answer and its JSON: from the service at `server` (its JSON, parsed into the query's
    dataclass) or from the database (the dataclass, and its JSON in the API's shape)."""

    def asked(client: ServiceClient) -> tuple[A, Any]:
        doc = ask(client)
        return parse(doc), doc

    def found(session: Session) -> tuple[A, Any]:
        answer = read(session)
        return answer, plain(answer)

    return _ask_or_read(server, token, database_url, ask=asked, read=found)


def _ask_or_read(
    server: str | None,
    token: str | None,
    database_url: str | None,
    *,
    ask: Callable[[ServiceClient], A],
    read: Callable[[Session], A],
) -> A:
    """The one place a query command chooses: the service at `server` when given, else one
    read transaction on the database (never created)."""
    if server:
        with _client(server, token) as client:
            return ask(client)
    with _reading(database_url) as db, db.read() as session:
        return read(session)


def _wire(model: type[Model], answer: object) -> Any:
    """An answer in the API's JSON form, exactly as the service would send it."""
    return model.from_domain(answer).model_dump(mode="json")


def _client(server: str, token: str | None) -> ServiceClient:
    return ServiceClient.connect(server, token)


def _print_json(value: Any) -> None:
    sys.stdout.write(
        orjson.dumps(
            value,
            option=orjson.OPT_UTC_Z | orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
            default=str,
        ).decode()
        + "\n"
    )


# --- serving -------------------------------------------------------------------------


@app.command()
@answers
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8000,
    database_url: DbUrl = None,
) -> None:
    """Embedded all-in-one: the API plus in-process projection, on one database."""
    _serve_http(_settings(database_url), host, port, embedded=True)


@app.command("api")
@answers
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
    if not settings.auth_enabled:  # logged, not printed: JSON logs are JSON from line one
        logger.warning(
            "authentication is OFF (no tokens set); listening on loopback %s only",
            host,
            extra={"host": host, "auth": "off"},
        )
    if settings.github_webhook_secret is None:
        logger.info("PROVENANCE_GITHUB_WEBHOOK_SECRET unset: GHCR webhooks need a bearer token")
    with _database(settings) as db:
        from api.app import create_app  # noqa: PLC0415 - only serving loads the HTTP shell

        served = create_app(settings, db=db, embedded=embedded)
        _settle_heap()
        uvicorn.run(
            served,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
        )


def _settle_heap() -> None:
    """For a process that stays: what it built to start (modules, schemas, routes, trust
    roots) lives as long as it does, so the cyclic collector stops visiting it at every
    full collection (serve: +5% events/s on the ingest benchmark, bench/README)."""
    gc.collect()
    gc.freeze()


@app.command()
@answers
def worker(database_url: DbUrl = None) -> None:
    """Distributed mode: the faust-streaming worker. Consumes the deliveries topic, writes
    the log and the graph, serves /readyz on PROVENANCE_WORKER_PORT. Scale by running more
    (up to PROVENANCE_KAFKA_PARTITIONS); exit status 1 after a crash: restart it."""
    settings = _settings(database_url)
    configure_logging(settings.log_level, settings.log_format)
    _require_kafka(settings, "worker")
    with _database(settings) as db:
        from streams import app as streams  # noqa: PLC0415 - only a worker loads faust

        worker_app = streams.create_app(settings, db=db)
        _settle_heap()
        streams.run(worker_app, settings)


def _require_kafka(settings: Settings, command: str) -> None:
    if not settings.kafka_url:
        err.print(
            f"[red]provenance {command} needs PROVENANCE_KAFKA_URL[/red] "
            "(e.g. kafka://127.0.0.1:9092); `provenance serve` runs without Kafka"
        )
        raise typer.Exit(2)


@db_app.command("upgrade")
@answers
def db_upgrade(database_url: DbUrl = None) -> None:
    """Apply schema migrations (Alembic) up to the latest."""
    waiting = err.status("applying migrations", spinner="dots") if err.is_terminal else _quiet()
    with waiting, _database(_settings(database_url)):
        pass  # opening applies the migrations
    console.print("database is up to date")


@db_app.command("rebuild")
@answers
def db_rebuild(database_url: DbUrl = None) -> None:
    """Drop the graph and replay it from the log."""
    from provenance.ingest.rebuild import rebuild  # noqa: PLC0415

    settings = _settings(database_url)
    with _database(settings, create=False) as db:
        count = rebuild(db, batch=500, min_severity=settings.alert_min_severity)
    console.print(f"replayed {count} log entries")


# --- demo ----------------------------------------------------------------------------


@app.command()
@answers
def demo(
    database_url: DbUrl = None,
    server: Server = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Load a built-in example story (in the sources' own formats) so queries show something.
    It goes to the service at --server (PROVENANCE_URL), else to a service answering on
    http://127.0.0.1:8000, else (or with --database-url) into the database."""
    from provenance.ingest import demo as story  # noqa: PLC0415

    target = server
    if target is None and database_url is None:
        with ServiceClient(DEFAULT_SERVER) as probe:
            target = DEFAULT_SERVER if probe.healthy() else None
    if target is not None:
        with _client(target, token) as client:
            summary = story.post(client)
    else:
        settings = _settings(database_url)
        with _database(settings) as db:
            summary = story.load(db, min_severity=settings.alert_min_severity)
    if json:
        _print_json(summary)
        return
    where = f"the service at {target}" if target else "the database"
    console.print(
        f"[green]loaded the demo story into {where}[/green]: {summary['accepted']} events "
        f"accepted, {summary['duplicates']} already present, {summary['deliveries']} deliveries"
    )
    console.print("try:")
    for line in summary["try"]:
        shown = f"{line} --server {target}" if target and line.startswith("provenance ") else line
        console.print(f"  {shown}", soft_wrap=True, markup=False, highlight=False)


# --- questions -----------------------------------------------------------------------


# The digest traced (resolved when read from the database), its view, lineage up and down,
# and its timeline.
_Traced = tuple[str, ArtifactView, Lineage, Lineage, list[artifacts.TimelineEvent]]


@app.command()
@answers
def trace(
    digest: str,
    database_url: DbUrl = None,
    server: Server = None,
    token: Token = None,
    json: Json = False,
    wide: Wide = False,
    depth: Annotated[int, typer.Option(help="lineage depth")] = 3,
) -> None:
    """An artifact's lineage (a tree) and timeline (a table)."""

    def ask(client: ServiceClient) -> _Traced:
        view = as_answer(client.artifact(digest), ArtifactResponse, ArtifactView)
        up, down = (
            as_answer(client.lineage(digest, direction=way, depth=depth), LineageResponse, Lineage)
            for way in ("up", "down")
        )
        return digest, view, up, down, timeline_events(client.timeline(digest, limit=1000))

    def read(session: Session) -> _Traced:
        found = catalog.resolve_digest(session, digest)  # repo:tag or a prefix, too
        view = artifacts.artifact(session, found)
        up, down = (
            lineages.lineage(session, found, direction=way, depth=depth) for way in ("up", "down")
        )
        return found, view, up, down, artifacts.timeline(session, found, limit=1000).events

    traced, view, up, down, events = _ask_or_read(server, token, database_url, ask=ask, read=read)
    if json:
        _print_json(
            {
                "artifact": _wire(ArtifactResponse, view),
                "lineage": {"up": _wire(LineageResponse, up), "down": _wire(LineageResponse, down)},
                "timeline": [_wire(TimelineEventModel, e) for e in events],
            }
        )
        return
    tree, table = trace_view(traced, view, up, down, events, style=Style(wide=wide))
    console.print(tree)
    console.print(table)


@app.command()
@answers
def search(
    q: str,
    database_url: DbUrl = None,
    server: Server = None,
    token: Token = None,
    json: Json = False,
    limit: Annotated[int, typer.Option(help="at most this many items")] = 50,
) -> None:
    """The catalog search: a digest or hex prefix (>= 12), repo:tag, repo@digest, a commit
    or prefix (>= 7), an actor, a workload, a repository."""
    found, answer = _answer(
        server,
        token,
        database_url,
        ask=lambda client: client.search(q, limit=limit),
        parse=reports.search_result,
        read=lambda session: catalog.search(session, q, limit=limit),
    )
    if json:
        _print_json(answer)
        return
    if not found.items:
        err.print(f"nothing matches {q!r}")
        raise typer.Exit(exits.NEGATIVE)
    console.print(reports.search_table(found.items))


@app.command()
@answers
def retention(
    repository: Annotated[str, typer.Option(help="the repository judged")],
    unused_since: Annotated[
        str | None,
        typer.Option(help="RFC 3339: a pull or deployment since then keeps (default: ever)"),
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="RFC 3339 time")] = None,
    database_url: DbUrl = None,
    server: Server = None,
    token: Token = None,
    json: Json = False,
    wide: Wide = False,
) -> None:
    """The retention report: per digest of a repository, delete or keep, and why."""
    from provenance.model.retention import Window  # noqa: PLC0415 - only this command
    from provenance.query import retention as query_retention  # noqa: PLC0415

    window = Window(
        unused_since=parse_time(unused_since, field="--unused-since") if unused_since else None,
        as_of=parse_time(as_of, field="--as-of") if as_of else None,
    )
    report, answer = _answer(
        server,
        token,
        database_url,
        ask=lambda client: client.retention(repository, unused_since=unused_since, as_of=as_of),
        parse=reports.retention_report,
        read=lambda session: query_retention.report(session, repository, window),
    )
    if json:
        _print_json(answer)
        return
    if not report.items:
        err.print(f"no digest of {repository!r} to judge", highlight=False)
        raise typer.Exit(exits.NEGATIVE)
    table, summary = reports.retention_view(report, Style(wide=wide))
    console.print(table)
    console.print(summary, highlight=False)


@app.command("blast-radius")
@answers
def blast_radius(
    digest: Annotated[str | None, typer.Option()] = None,
    commit: Annotated[str | None, typer.Option()] = None,
    build: Annotated[str | None, typer.Option()] = None,
    builder: Annotated[str | None, typer.Option()] = None,
    actor: Annotated[str | None, typer.Option()] = None,
    key: Annotated[str | None, typer.Option()] = None,
    vulnerability: Annotated[str | None, typer.Option(help="a CVE or GHSA id")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="RFC 3339 time")] = None,
    limit: Annotated[int, typer.Option(help="items per list")] = 100,
    database_url: DbUrl = None,
    server: Server = None,
    token: Token = None,
    json: Json = False,
    wide: Wide = False,
) -> None:
    """What is affected if this digest / commit / build / builder / actor / key is compromised."""
    given = {
        k: v
        for k, v in dict(
            digest=digest,
            commit=commit,
            build=build,
            builder=builder,
            actor=actor,
            key=key,
            vulnerability=vulnerability,
        ).items()
        if v
    }
    if len(given) != 1:
        err.print(
            "give exactly one of --digest --commit --build --builder --actor --key --vulnerability"
        )
        raise typer.Exit(exits.USAGE)
    ((kind, value),) = given.items()
    when_ = parse_time(as_of, field="--as-of") if as_of else None

    def ask(client: ServiceClient) -> tuple[str, BlastRadius]:
        found = client.blast_radius(kind, value, as_of=as_of, limit=limit)
        return value, as_answer(found, BlastRadiusResponse, BlastRadius)

    def read(session: Session) -> tuple[str, BlastRadius]:
        resolved = value
        if kind in ("digest", "commit"):  # a reference or a unique prefix, too
            resolve = catalog.resolve_digest if kind == "digest" else catalog.resolve_commit
            resolved = resolve(session, value)
        return resolved, blast.blast_radius(session, kind, resolved, as_of=when_, limit=limit)

    named, result = _ask_or_read(server, token, database_url, ask=ask, read=read)
    if json:
        _print_json(_wire(BlastRadiusResponse, result))
        return
    style = Style(wide=wide)
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
    console.print(
        f"[bold]blast radius of {kind} {style.digest(named)}[/bold]: {counts}", highlight=False
    )
    for table in blast_radius_tables(result, style):
        console.print(table)


@audit_app.command("verify")
@answers
def audit_verify(
    database_url: DbUrl = None,
    server: Server = None,
    token: Token = None,
    json: Json = False,
    full: Annotated[
        bool, typer.Option("--full", help="with --server: recompute the whole chain (admin)")
    ] = False,
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
        if server:
            raise InvalidConfiguration("--checkpoint is checked against the database, not --server")
        _verify_checkpoint(checkpoint, key, database_url, json=json)
        return
    result = _ask_or_read(
        server,
        token,
        database_url,
        ask=lambda client: client.audit_verify(full=full),
        read=lambda session: _plain(audit.verify(session)),
    )
    if json:
        _print_json(result)
    elif result["ok"]:
        console.print(
            f"[green]log intact[/green]: {result['entries']} entries, head {result['head']}",
            highlight=False,
        )
    else:
        console.print(
            f"[red]log broken at entry {result['first_bad_seq']}[/red]: {result['reason']}",
            highlight=False,
        )
    if not result["ok"]:
        raise typer.Exit(exits.NEGATIVE)


# --- trust: evidence, exports, checkpoints -------------------------------------------


def _verify_checkpoint(
    path: Path, key: Path | None, database_url: str | None, *, json: bool
) -> None:
    from provenance.query import checkpoints  # noqa: PLC0415 - loads the cryptography
    from provenance.trust.attestations import ServiceSigner  # noqa: PLC0415

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
    except (OSError, orjson.JSONDecodeError) as exc:
        err.print(f"[red]error:[/red] cannot read {path}: {exc}")
        raise typer.Exit(exits.USAGE) from exc
    except ProvenanceError as exc:
        err.print(f"[red]checkpoint rejected:[/red] {exits.message(exc)}")
        raise typer.Exit(exits.NEGATIVE) from exc
    # Outside the `try`: a missing or unreachable database is not a rejected checkpoint.
    with _database(settings, create=False) as db, db.read() as session:
        result = checkpoints.extends(session, cp)
    if json:
        _print_json(result)
    elif result.ok:
        console.print(
            f"[green]the log extends the checkpoint[/green]: entry {cp.entries} still has hash "
            f"{cp.head} (signed {when(cp.time)}); the log now has {result.entries} entries, "
            f"head {result.head}"
        )
    else:
        console.print(f"[red]the log does not extend the checkpoint[/red]: {result.reason}")
    if not result.ok:
        raise typer.Exit(exits.NEGATIVE)


@audit_app.command("checkpoint")
@answers
def audit_checkpoint(
    database_url: DbUrl = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to FILE")] = None,
) -> None:
    """Print (or save) a checkpoint of the log head, signed with the service key."""
    from provenance.query import checkpoints  # noqa: PLC0415 - loads the cryptography
    from provenance.trust.attestations import ServiceSigner  # noqa: PLC0415

    settings = _settings(database_url)
    with _database(settings, create=False) as db, db.read() as session:
        # After the database opened: a missing one must not leave a generated key behind.
        signer = ServiceSigner.for_service(settings.signing_key, settings.database_url)
        doc = checkpoints.make(session, signer)
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    if output is None:
        sys.stdout.write(data.decode())
    else:
        output.write_bytes(data)
        err.print(f"checkpoint of {doc['entries']} entries written to {output}")


@keys_app.command("generate")
@answers
def keys_generate(
    output: Annotated[
        Path, typer.Option("-o", "--output", help="where to keep the PEM private key")
    ],
) -> None:
    """Create the service's signing key at PATH once (mode 0600); an existing key is kept,
    so an init container may run this at every start. Point PROVENANCE_SIGNING_KEY at it."""
    from provenance.trust.attestations import ServiceSigner  # noqa: PLC0415 - loads the cryptography

    existed = output.exists()
    if not output.parent.is_dir():
        raise InvalidConfiguration(f"no directory {output.parent} to keep the key in")
    signer = ServiceSigner.load_or_create(output)
    state = "kept the existing" if existed else "generated a"
    err.print(f"{state} signing key at {output} (keyid {signer.keyid})", highlight=False)
    sys.stdout.write(
        signer.public_pem if signer.public_pem.endswith("\n") else signer.public_pem + "\n"
    )


@trust_app.command("reverify")
@answers
def trust_reverify(
    database_url: DbUrl = None,
    json: Json = False,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="default: PROVENANCE_TRUST_POLICY")
    ] = None,
) -> None:
    """Verify every stored signature and attestation again under the current policy,
    appending the new verdicts next to the old ones (nothing is overwritten)."""
    from provenance.ingest.reverify import reverify  # noqa: PLC0415
    from provenance.trust.attestations import Verifier  # noqa: PLC0415 - loads the cryptography

    settings = _settings(database_url)
    verifier = Verifier.from_policy(policy or settings.trust_policy)
    with _database(settings, create=False) as db:
        report = reverify(db, verifier)
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
@answers
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
    server: Server = None,
    token: Token = None,
) -> None:
    """Compliance export: every push and deployment in the period, with its evidence."""
    from provenance.query import exports  # noqa: PLC0415 - loads the cryptography
    from provenance.trust.attestations import ServiceSigner  # noqa: PLC0415

    chosen = exports.check_format(fmt)
    spec = exports.Export(
        since=parse_time(since, field="--since") if since else exports.EPOCH,
        until=parse_time(until, field="--until") if until else utcnow(),
        environment=environment,
        repository=repository,
    )
    if server:
        params = {
            "since": since,
            "until": until,
            "format": chosen,
            "environment": environment,
            "repository": repository,
        }
        with _client(server, token) as client, client.export(params) as chunks:
            written = _write(chunks, output)
    else:
        settings = _settings(database_url)
        with _database(settings, create=False) as db:
            if chosen == "intoto":
                signer = ServiceSigner.for_service(settings.signing_key, settings.database_url)
                chunks = iter(
                    [orjson.dumps(exports.signed(db, spec, signer), option=orjson.OPT_INDENT_2)]
                )
            else:
                chunks = exports.stream(db, spec, chosen)
            written = _write(chunks, output)
    if output is not None:
        err.print(f"{chosen} export written to {output} ({written} bytes)", highlight=False)


@contextmanager
def _quiet() -> Iterator[None]:
    yield


def _write(chunks: Iterator[bytes], output: Path | None) -> int:
    """Copy the chunks to the file (with progress on a terminal) or to stdout."""
    if output is None:
        total = 0
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
            total += len(chunk)
        sys.stdout.buffer.flush()
        return total
    with _progress(f"writing {output}") as advance, output.open("wb") as out:
        total = 0
        for chunk in chunks:
            out.write(chunk)
            total += len(chunk)
            advance(len(chunk))
    return total


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int], None]]:
    """A transient byte counter on stderr when it is a terminal; silent otherwise."""
    if not err.is_terminal:
        yield lambda _n: None
        return
    from rich.progress import DownloadColumn, Progress, SpinnerColumn  # noqa: PLC0415

    with Progress(
        SpinnerColumn(), "{task.description}", DownloadColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


@app.command()
@answers
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
    from provenance.ingest.reconcile import reconcile as run  # noqa: PLC0415
    from provenance.ingest.registry_client import RegistryClient  # noqa: PLC0415
    from provenance.ingest.service import ProjectionRunner  # noqa: PLC0415

    settings = _settings(database_url)
    with (
        _database(settings) as db,
        RegistryClient(
            registry,
            username=username,
            password=password,
            token=token,
            verify=not insecure,
            retry_attempts=settings.registry_retry_attempts,
            retry_after_max=settings.registry_retry_after_max,
        ) as client,
        err.status(f"walking {registry}", spinner="dots") if err.is_terminal else _quiet(),
    ):
        report = run(db, client, dry_run=dry_run)
        ProjectionRunner(db, min_severity=settings.alert_min_severity).catch_up()
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


# --- what runs where, and what is wrong with it --------------------------------------


@app.command()
@answers
def deployments(
    environment: Annotated[str | None, typer.Option(help="only this environment")] = None,
    cluster: Annotated[str | None, typer.Option(help="only this cluster")] = None,
    namespace: Annotated[str | None, typer.Option(help="only this namespace")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="RFC 3339 time")] = None,
    database_url: DbUrl = None,
    server: Server = None,
    token: Token = None,
    json: Json = False,
    wide: Wide = False,
) -> None:
    """What ran where at --as-of (default now), with its commit and evidence."""
    from provenance.query import deployments as deps  # noqa: PLC0415 - only this command

    moment = parse_time(as_of, field="--as-of") if as_of else None
    where = {"environment": environment, "cluster": cluster, "namespace": namespace}
    items, answer = _answer(
        server,
        token,
        database_url,
        ask=lambda client: client.get_json("/v1/deployments", {**where, "as_of": as_of}),
        parse=reports.deployment_list,
        read=lambda session: deps.deployments(session, as_of=moment, **where),
        plain=lambda found: _plain({"as_of": moment, "items": found}),
    )
    if json:
        _print_json(answer)
        return
    if not items:
        err.print("nothing deployed there then", highlight=False)
        return
    console.print(reports.deployments_table(items, Style(wide=wide)))


@app.command()
@answers
def alerts(
    since: Annotated[str | None, typer.Option(help="RFC 3339: raised at or after")] = None,
    kind: Annotated[str | None, typer.Option(help="only this kind (tag_moved, ...)")] = None,
    superseded: Annotated[
        bool, typer.Option("--superseded", help="also those a later event made obsolete")
    ] = False,
    limit: Annotated[int, typer.Option(help="at most this many")] = 100,
    database_url: DbUrl = None,
    server: Server = None,
    token: Token = None,
    json: Json = False,
    wide: Wide = False,
) -> None:
    """Policy findings, oldest first: tags moved, unsigned or vulnerable digests running."""
    from provenance.query import alerts as findings  # noqa: PLC0415 - only this command

    params = {"since": since, "kind": kind, "limit": limit, "superseded": superseded}
    moment = parse_time(since, field="--since") if since else None
    page, answer = _answer(
        server,
        token,
        database_url,
        ask=lambda client: client.get_json("/v1/alerts", params),
        parse=reports.alert_page,
        read=lambda session: findings.alerts(
            session, since=moment, kind=kind, limit=limit, superseded=superseded
        ),
    )
    if json:
        _print_json(answer)
        return
    if not page.items:
        err.print("no alerts", highlight=False)
        return
    console.print(reports.alerts_table(page.items, Style(wide=wide)))


def main() -> None:
    app()


__all__ = ["app", "main"]
