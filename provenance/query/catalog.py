"""The catalog: finding things without knowing their full name.

Entry points:

* `search(session, q)` -> `SearchResult`: digests or hex prefixes (>= 12), image
  references (`repo:tag`, `repo@digest`), commit shas or prefixes (>= 7), actors,
  workloads, repositories, builds; items by kind;
* `resolve_digest(session, ref)` / `resolve_commit(session, ref)`: a reference or a unique
  prefix to the full name, for every route that asks for a digest or a sha (`Ambiguous`
  lists the candidates, `NotFound` when nothing matches);
* `repositories(session, limit, cursor)` and `artifacts(session, ..., limit, cursor)`:
  keyset-paginated lists.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime

import orjson

from provenance.model import nodes as N
from provenance.model import references
from provenance.model.errors import Ambiguous, InvalidQuery, NotFound
from provenance.model.events import is_digest
from provenance.model.kinds import NodeKind
from provenance.store import Session, scans
from provenance.store import catalog as sql

MIN_DIGEST_PREFIX = 12
MIN_COMMIT_PREFIX = 7
_HEX = re.compile(r"\A[0-9a-f]+\Z")
_CANDIDATES = 20  # an ambiguous prefix lists at most this many


@dataclass(frozen=True, slots=True)
class SearchItem:
    kind: str  # artifact, repository, tag, commit, build, actor, workload
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    items: list[SearchItem]


def _short(digest: str) -> str:
    return digest[:19]


def _digest_prefix(text: str) -> str | None:
    """`sha256:<hex>` or bare hex of at least 12 characters, as a `sha256:` prefix."""
    hex_part = text.removeprefix("sha256:")
    if len(hex_part) >= MIN_DIGEST_PREFIX and len(hex_part) <= 64 and _HEX.match(hex_part):
        return "sha256:" + hex_part
    return None


def _split_reference(text: str) -> tuple[str, str, str] | None:
    """`repo@sha256:...` -> (`repo`, '@', digest); `repo:tag` -> (repo, ':', tag): the
    reference as written (`provenance.model.references.split`), not normalized, since the graph
    names a tag as its source wrote it."""
    ref = references.split(text)
    if not ref.name:
        return None
    if ref.digest is not None:
        return ref.named, "@", ref.digest
    if ref.tag is not None:
        return ref.name, ":", ref.tag
    return None


def resolve_digest(session: Session, ref: str) -> str:
    """A full digest, a unique hex prefix (>= 12), `repo@digest` or `repo:tag` -> digest."""
    text = ref.strip()
    if is_digest(text):
        return text
    parts = _split_reference(text) if not text.startswith("sha256:") else None
    if parts is not None:
        repo, sep, rest = parts
        if sep == "@":
            return resolve_digest(session, rest)
        found = sql.current_digest_of_tag(session, f"tag:{repo}:{rest}")
        if found is None:
            raise NotFound(f"tag {repo}:{rest} has never been seen")
        return found
    prefix = _digest_prefix(text.lower())
    if prefix is None:
        raise InvalidQuery(
            f"{ref!r} is not a digest (sha256:<64 hex>), a hex prefix of at least "
            f"{MIN_DIGEST_PREFIX} characters, or an image reference (repo:tag, repo@digest)"
        )
    matches = sql.artifact_digests_with_prefix(session, prefix, limit=_CANDIDATES + 1)
    if not matches:
        raise NotFound(f"no artifact has a digest starting with {prefix}")
    if len(matches) > 1:
        raise Ambiguous(
            f"{prefix} is the start of {len(matches)}"
            f"{'+' if len(matches) > _CANDIDATES else ''} digests; give more of it: "
            + ", ".join(matches[:5]),
            matches[:_CANDIDATES],
        )
    return matches[0]


def resolve_commit(session: Session, ref: str) -> str:
    """A commit sha or a unique prefix (>= 7) -> the full sha the graph knows."""
    text = ref.strip().lower()
    if not (MIN_COMMIT_PREFIX <= len(text) <= 64 and _HEX.match(text)):
        raise InvalidQuery(f"{ref!r} is not a hex commit sha or prefix (>= 7)")
    if sql.node_ids_with_prefix(session, NodeKind.COMMIT, N.commit(text), limit=1, exact=True):
        return text  # a known sha wins over longer ones it starts (one probe of the key)
    matches = [
        m.removeprefix("commit:")
        for m in sql.node_ids_with_prefix(
            session, NodeKind.COMMIT, N.commit(text), limit=_CANDIDATES + 1
        )
    ]
    if text in matches or len(matches) == 1:
        return text if text in matches else matches[0]
    if not matches:
        raise NotFound(f"commit {text} has never been seen")
    raise Ambiguous(
        f"{text} is the start of {len(matches)} commits; give more of it: "
        + ", ".join(matches[:5]),
        matches[:_CANDIDATES],
    )


def search(session: Session, q: str, *, limit: int = 50) -> SearchResult:
    """Everything `q` may name, exact matches first, grouped by kind."""
    text = q.strip()
    if not text:
        raise InvalidQuery("q is empty")
    items: list[SearchItem] = []
    lowered = text.lower()

    prefix = _digest_prefix(lowered)
    if prefix is not None:
        for d in sql.artifact_digests_with_prefix(session, prefix, limit=limit):
            items.append(SearchItem("artifact", d, _short(d)))
    hex_only = _HEX.match(lowered) is not None
    if hex_only and MIN_COMMIT_PREFIX <= len(lowered) <= 64:
        for node_id in sql.node_ids_with_prefix(
            session, NodeKind.COMMIT, N.commit(lowered), limit=limit
        ):
            sha = node_id.removeprefix("commit:")
            items.append(SearchItem("commit", sha, sha[:12]))

    parts = _split_reference(text) if not lowered.startswith("sha256:") else None
    if parts is not None:
        repo, sep, rest = parts
        if sep == "@":
            if is_digest(rest) and sql.artifact_digests_with_prefix(session, rest, limit=1):
                items.append(SearchItem("artifact", rest, f"{repo}@{_short(rest)}"))
        else:
            digest = sql.current_digest_of_tag(session, f"tag:{repo}:{rest}")
            if digest is not None:
                items.append(SearchItem("tag", f"{repo}:{rest}", f"{repo}:{rest}"))
                items.append(SearchItem("artifact", digest, f"{repo}:{rest} -> {_short(digest)}"))

    if not items or not hex_only:
        for row in sql.nodes_matching(
            session,
            (
                NodeKind.REPOSITORY,
                NodeKind.ACTOR,
                NodeKind.BUILD,
                NodeKind.DEPLOYMENT,
                NodeKind.TAG,
            ),
            text,
            limit=limit,
        ):
            items.extend(_node_item(row))
    return SearchResult(text, _dedupe(items)[:limit])


def _node_item(row: sql.NodeRow) -> list[SearchItem]:
    natural = row.id.split(":", 1)[1]
    if row.kind == NodeKind.REPOSITORY:
        return [SearchItem("repository", natural, natural)]
    if row.kind == NodeKind.ACTOR:
        return [SearchItem("actor", natural, natural)]
    if row.kind == NodeKind.BUILD:
        return [SearchItem("build", natural, natural)]
    if row.kind == NodeKind.TAG:
        return [SearchItem("tag", natural, natural)]
    workload = row.attrs.get("workload")
    if not workload:
        return []
    where = "/".join(str(row.attrs.get(k) or "-") for k in ("cluster", "namespace"))
    env = row.attrs.get("environment")
    label = f"{workload} ({env + ', ' if env else ''}{where})"
    return [SearchItem("workload", str(workload), label)]


def _dedupe(items: list[SearchItem]) -> list[SearchItem]:
    seen: set[tuple[str, str]] = set()
    out = []
    for item in items:
        if (item.kind, item.id) not in seen:
            seen.add((item.kind, item.id))
            out.append(item)
    return out


# --- lists -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    repository: str
    tags: int
    artifacts: int
    last_push: datetime | None


@dataclass(frozen=True, slots=True)
class RepositoryPage:
    items: list[RepositorySummary]
    next_cursor: str | None


def repositories(
    session: Session, *, limit: int = 100, cursor: str | None = None
) -> RepositoryPage:
    after = _decode(cursor, "r") if cursor else None
    if after is not None and not isinstance(after, str):
        raise InvalidQuery("cursor is not one this service issued")
    rows = sql.repositories_page(session, after=after, limit=limit + 1)
    page = rows[:limit]
    names = [r.id.removeprefix("repository:") for r in page]
    counts = sql.repository_counts(session, names)
    items = [
        RepositorySummary(n, counts[n].tags, counts[n].artifacts, counts[n].last_push)
        for n in names
    ]
    nxt = _encode("r", page[-1].id) if len(rows) > limit else None
    return RepositoryPage(items, nxt)


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    digest: str
    repository: str | None
    repositories: list[str]
    tags: list[str]
    media_type: str | None
    first_seen: datetime
    deleted: bool
    deployed: bool
    signed: bool
    attested: bool
    # Per severity, the largest count of any scanner's latest scan; None: never scanned.
    vulnerabilities: dict[str, int] | None


@dataclass(frozen=True, slots=True)
class ArtifactPage:
    items: list[ArtifactSummary]
    next_cursor: str | None


def artifacts(
    session: Session,
    *,
    repository: str | None = None,
    tag: str | None = None,
    deployed: bool | None = None,
    signed: bool | None = None,
    limit: int = 100,
    cursor: str | None = None,
    vulnerable: bool | None = None,
) -> ArtifactPage:
    after: tuple[datetime, str] | None = None
    if cursor:
        raw = _decode(cursor, "a")
        try:
            assert isinstance(raw, list)
            when, digest = raw
            after = (datetime.fromisoformat(str(when)), str(digest))
        except (AssertionError, TypeError, ValueError) as exc:
            raise InvalidQuery("cursor is not one this service issued") from exc
    rows = sql.artifacts_page(
        session,
        repository=repository,
        tag=tag,
        deployed=deployed,
        signed=signed,
        after=after,
        limit=limit + 1,
        vulnerable=vulnerable,
    )
    page = rows[:limit]
    flags = sql.artifact_flags(session, [r.digest for r in page])
    scanned = scans.latest_scans(session, [r.digest for r in page])
    items = []
    for r in page:
        f = flags[r.digest]
        items.append(
            ArtifactSummary(
                digest=r.digest,
                repository=repository or next(iter(f.repositories), None),
                repositories=f.repositories,
                tags=f.tags,
                media_type=r.media_type,
                first_seen=r.first_seen,
                deleted=r.deleted,
                deployed=f.deployed,
                signed=f.signed,
                attested=f.attested,
                vulnerabilities=scans.combined(scanned.get(r.digest, [])),
            )
        )
    nxt = None
    if len(rows) > limit:
        last = page[-1]
        nxt = _encode("a", [last.first_seen.isoformat(), last.digest])
    return ArtifactPage(items, nxt)


def _encode(kind: str, value: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({kind: value})).decode().rstrip("=")


def _decode(cursor: str, kind: str) -> object:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return data[kind]
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidQuery("cursor is not one this service issued") from exc


__all__ = [
    "MIN_COMMIT_PREFIX",
    "MIN_DIGEST_PREFIX",
    "ArtifactPage",
    "ArtifactSummary",
    "RepositoryPage",
    "RepositorySummary",
    "SearchItem",
    "SearchResult",
    "artifacts",
    "repositories",
    "resolve_commit",
    "resolve_digest",
    "search",
]
