"""Container image references (`registry/repository:tag@digest`): the one parser.

    parse(text) -> ImageReference         strict, with Docker's normalization (a 422 else)
    split(text) -> ImageReference         lenient: the parts as written, nothing checked
    docker_name(path, registry) -> (registry, repository)   Docker's name rules alone

Docker's rules (distribution/reference `ParseNormalizedNamed`): the first path component is
a registry host when a `/` follows it and it has a `.` or a `:` or is `localhost`, so in
`host:5000/x:tag` the first colon is a port and the last one a tag; otherwise the registry
is `docker.io`, whose aliases (`index.docker.io`, ...) are `docker.io` too, and a
one-component Docker Hub name is under `library/` (`nginx` -> `docker.io/library/nginx`).
A tag is what follows a `:` in the last component; a digest what follows the first `@`,
and `parse` wants it to be `sha256:<64 hex>`, the contract's rule for every digest.

`parse` is for references a workload runs (the kubelet's reading: Kubernetes audit
events); `split` for names sources and users write that are not pulled as they stand
(webhook URLs, package URLs, a search box), whose callers decide what a missing or odd
part means. Pure: strings in, a frozen dataclass out.
"""

from __future__ import annotations

from dataclasses import dataclass

from provenance.model.errors import InvalidPayload
from provenance.model.events import is_digest

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset(
    {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", "hub.docker.com"}
)
_SCHEMES = ("https://", "http://", "oci://", "docker://")


@dataclass(frozen=True, slots=True)
class ImageReference:
    """`registry` is None only from `split`, when the text named no registry."""

    registry: str | None
    repository: str  # the path inside the registry: `library/nginx`, `acme/api`
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """`registry/repository`: how the graph names a repository."""
        return self.repository if self.registry is None else f"{self.registry}/{self.repository}"

    @property
    def named(self) -> str:
        """The reference without its digest: `name[:tag]`."""
        return self.name if self.tag is None else f"{self.name}:{self.tag}"

    def __str__(self) -> str:
        return self.named if self.digest is None else f"{self.named}@{self.digest}"


def strip_scheme(url: str) -> str:
    """`https://host/path` -> `host/path`: repositories are named as in image references."""
    for prefix in _SCHEMES:
        if url.startswith(prefix):
            return url[len(prefix) :]
    return url


def is_registry_host(component: str) -> bool:
    """Whether a name's first component (followed by `/`) names a registry."""
    return "." in component or ":" in component or component == "localhost"


def docker_name(path: str, registry: str | None = None) -> tuple[str, str]:
    """(registry, repository) of a name without tag or digest, by Docker's rules; a given
    `registry` (a purl's `repository_url`) is used instead of looking for one in `path`."""
    if registry is None:
        first, slash, rest = path.partition("/")
        if slash and is_registry_host(first):
            registry, path = first.lower(), rest
        else:
            registry = DOCKER_HUB
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return registry, path


def _split_name(text: str) -> tuple[str, str, str | None, str | None]:
    """(name, tag separator, tag, digest) as written; the separator tells `x:` from `x`."""
    name, at, digest = text.partition("@")
    head, slash, last = name.rpartition("/")
    last, colon, tag = last.partition(":")
    return head + slash + last, colon, tag, (digest if at else None)


def split(text: str) -> ImageReference:
    """The parts of `text` as written (a URL scheme dropped); an empty tag or digest is
    None, a registry is named only when the text has one, and no part is checked."""
    name, _, tag, digest = _split_name(strip_scheme(text.strip()))
    first, slash, rest = name.partition("/")
    if slash and is_registry_host(first):
        return ImageReference(first, rest, tag or None, digest or None)
    return ImageReference(None, name, tag or None, digest or None)


def parse(text: str) -> ImageReference:
    """A reference as a container runtime reads it: `nginx` ->
    (`docker.io`, `library/nginx`, None, None); InvalidPayload when it is none."""
    ref = text.strip()
    if not ref or any(c.isspace() for c in ref):
        raise InvalidPayload(f"image {text!r} is not an image reference")
    name, colon, tag, digest = _split_name(ref)
    if digest is not None and not is_digest(digest):
        raise InvalidPayload(f"image {text!r} digest {digest!r} is not sha256:<64 hex>")
    if colon and not tag:
        raise InvalidPayload(f"image {text!r} has an empty tag")
    registry, repository = docker_name(name)
    if not repository or any(not part for part in repository.split("/")):
        raise InvalidPayload(f"image {text!r} names no repository")
    return ImageReference(registry, repository, tag or None, digest)


__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_ALIASES",
    "ImageReference",
    "docker_name",
    "is_registry_host",
    "parse",
    "split",
    "strip_scheme",
]
