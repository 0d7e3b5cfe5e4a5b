"""Docker Hub repository webhooks (push only).

Body: `{"callback_url", "push_data": {"pushed_at", "pusher", "tag", "images"},
"repository": {"namespace", "name", "repo_name", "is_official", ...}}`. One delivery is one
`artifact.pushed`.

Quirks handled here:
* Docker Hub sends **no digest** (nor media type, size, client IP or event id). The event
  names `repository` + `tag` only, with `attributes.digest_unresolved = true`; the projection
  keeps the tag known until another source (or reconciliation against the Registry API)
  names the digest it pointed to.
* No event id: the id is `content_id("dockerhub", repository, tag, pusher, pushed_at)`. An
  exact retry gets the same id (stored once); a re-push of the tag differs in `pushed_at`
  and is a new event. Several deliveries for one multi-platform push that agree on these
  fields are stored once, which is what they mean. `callback_url` (legacy, not to be
  called), `images` (always empty) and the repository's counters (stars, comments) are
  left out of the id on purpose.
* `repository` is `docker.io/<namespace>/<name>`; official images (`is_official`, or the
  `library` namespace, or a `repo_name` without a slash) are `docker.io/library/<name>`.
* `time` is `push_data.pushed_at` (unix seconds); the receive time when it is absent.
* No signature or auth header exists; protect the URL itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.ingest.sources._common import (
    compact,
    guarded,
    load_json,
    opt_str,
    parse_when,
    req_str,
    require_content_type,
    require_object,
)
from provenance.model.errors import InvalidPayload
from provenance.model.events import Event, EventType, content_id

SOURCE = "dockerhub"
CONTENT_TYPES = ("application/json",)
HOST = "docker.io"
OFFICIAL_NAMESPACE = "library"


@guarded
def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    require_content_type(delivery.content_type, CONTENT_TYPES, SOURCE)
    body = require_object(load_json(delivery.body), "Docker Hub payload")
    if "push_data" not in body or "repository" not in body:
        raise InvalidPayload("not a Docker Hub webhook: no push_data and repository")
    push = require_object(body["push_data"], "push_data")
    repo = require_object(body["repository"], "repository")
    repository = repository_name(repo)
    tag = req_str(push, "tag", "push_data")
    pusher = opt_str(push, "pusher", "push_data")
    pushed_at = push.get("pushed_at")
    time = (
        delivery.received_at if pushed_at is None else parse_when(pushed_at, "push_data.pushed_at")
    )
    event = Event(
        id=content_id(SOURCE, repository, tag, pusher, _json_scalar(pushed_at)),
        type=EventType.ARTIFACT_PUSHED,
        time=time,
        source=SOURCE,
        repository=repository,
        tag=tag,
        actor=pusher,
        attributes=compact(
            digest_unresolved=True,
            time_from_receipt=True if pushed_at is None else None,
            repo_url=opt_str(repo, "repo_url", "repository"),
            is_private=_bool(repo.get("is_private")),
            is_official=_bool(repo.get("is_official")),
        ),
    )
    return [event.validate()]


def repository_name(repo: Mapping[str, Any]) -> str:
    """`docker.io/<namespace>/<name>`, official images under `library`."""
    namespace = opt_str(repo, "namespace", "repository")
    name = opt_str(repo, "name", "repository")
    repo_name = opt_str(repo, "repo_name", "repository")
    if name is None or namespace is None:
        if repo_name is None:
            raise InvalidPayload("repository names neither namespace+name nor repo_name")
        head, slash, tail = repo_name.rpartition("/")
        namespace = namespace or (head if slash else None)
        name = name or tail
    if repo.get("is_official") is True or not namespace:
        namespace = OFFICIAL_NAMESPACE
    for part in (namespace, name):
        if not part or "/" in part or any(c.isspace() for c in part):
            raise InvalidPayload(f"repository {namespace}/{name} is not a Docker Hub name")
    return f"{HOST}/{namespace}/{name}".lower()


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _json_scalar(value: object) -> str | int | float | bool | None:
    return value if isinstance(value, str | int | float | bool) else None
