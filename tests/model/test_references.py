"""The one image reference parser: Docker's grammar as tables (cases from
distribution/reference's own tests), then properties over generated references."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.model.errors import InvalidPayload
from provenance.model.references import (
    DOCKER_HUB,
    DOCKER_HUB_ALIASES,
    ImageReference,
    docker_name,
    is_registry_host,
    parse,
    split,
)

F64 = "sha256:" + "f" * 64
D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("test_com", ImageReference("docker.io", "library/test_com")),
        ("test.com:tag", ImageReference("docker.io", "library/test.com", "tag")),  # no `/`: a name
        ("test.com:5000", ImageReference("docker.io", "library/test.com", "5000")),
        ("test.com/repo:tag", ImageReference("test.com", "repo", "tag")),
        ("test:5000/repo", ImageReference("test:5000", "repo")),  # the colon is a port
        ("test:5000/repo:tag", ImageReference("test:5000", "repo", "tag")),
        (f"test:5000/repo@{F64}", ImageReference("test:5000", "repo", None, F64)),
        (f"test:5000/repo:tag@{F64}", ImageReference("test:5000", "repo", "tag", F64)),
        ("test:5000/repo:5000", ImageReference("test:5000", "repo", "5000")),
        ("lowercase:Uppercase", ImageReference("docker.io", "library/lowercase", "Uppercase")),
        ("sub-dom1.foo.com/bar/baz/quux", ImageReference("sub-dom1.foo.com", "bar/baz/quux")),
        (
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            ImageReference("sub-dom1.foo.com", "bar/baz/quux", "some-long-tag"),
        ),
        (
            "b.gcr.io/test.example.com/my-app:test.example.com",
            ImageReference("b.gcr.io", "test.example.com/my-app", "test.example.com"),
        ),
        (
            "xn--n3h.com/myimage:xn--n3h.com",
            ImageReference("xn--n3h.com", "myimage", "xn--n3h.com"),
        ),
        ("foo_bar.com:8080", ImageReference("docker.io", "library/foo_bar.com", "8080")),
        ("foo/foo_bar.com:8080", ImageReference("docker.io", "foo/foo_bar.com", "8080")),
        ("localhost/foo", ImageReference("localhost", "foo")),
        ("localhost:5000/foo:bar", ImageReference("localhost:5000", "foo", "bar")),
        ("[2001:db8::1]:5000/repo:tag", ImageReference("[2001:db8::1]:5000", "repo", "tag")),
        ("docker.io/library/foo", ImageReference("docker.io", "library/foo")),
        ("docker.io/foo", ImageReference("docker.io", "library/foo")),
        ("index.docker.io/foo/bar", ImageReference("docker.io", "foo/bar")),
        ("registry-1.docker.io/foo", ImageReference("docker.io", "library/foo")),
        ("Registry.Acme.IO/team/app:v2", ImageReference("registry.acme.io", "team/app", "v2")),
        (f"  nginx:1.27@{D1} ", ImageReference("docker.io", "library/nginx", "1.27", D1)),
    ],
)
def test_docker_grammar(text: str, expected: ImageReference) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        ":justtag",
        f"@{F64}",
        "repo@sha256:ffffffffffffffffffffffffffffffffff",  # too short
        "validname@invaliddigest:" + "e" * 64,  # not sha256
        f"repo@{F64.upper()}",
        "repo@",
        "repo:",
        "test:5000/repo:",
        "test:5000//repo",
        "/repo",
        "repo/",
        "a b",
        "nginx\t:1",
    ],
)
def test_not_references(text: str) -> None:
    with pytest.raises(InvalidPayload):
        parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://ghcr.io/acme/api", ImageReference("ghcr.io", "acme/api")),
        ("Harbor.Acme.IO/lib/app:v1", ImageReference("Harbor.Acme.IO", "lib/app", "v1")),
        ("nginx", ImageReference(None, "nginx")),  # as written: no registry, no `library/`
        ("acme/api:v1@sha256:abc", ImageReference(None, "acme/api", "v1", "sha256:abc")),
        ("host:5000/x:", ImageReference("host:5000", "x")),  # nothing checked: empty is None
        ("", ImageReference(None, "")),
    ],
)
def test_split_keeps_what_was_written(text: str, expected: ImageReference) -> None:
    assert split(text) == expected


def test_docker_name_with_a_given_registry() -> None:
    assert docker_name("acme/api", "gcr.io") == ("gcr.io", "acme/api")
    assert docker_name("nginx", "hub.docker.com") == ("docker.io", "library/nginx")
    assert docker_name("ghcr.io/acme/api", "gcr.io") == ("gcr.io", "ghcr.io/acme/api")
    assert docker_name("ghcr.io/acme/api") == ("ghcr.io", "acme/api")


# --- properties ----------------------------------------------------------------------

components = st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
ports = st.integers(1, 65535).map(str)
domains = st.lists(labels, min_size=2, max_size=4).map(".".join)
hosts = st.one_of(
    st.just("localhost"),
    st.builds(lambda p: f"localhost:{p}", ports),
    domains,
    st.builds(lambda d, p: f"{d}:{p}", domains, ports),
    st.builds(lambda n, p: f"{n}:{p}", labels, ports),  # a bare name with a port
)
tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}", fullmatch=True)
digests = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}")


@st.composite
def normalized(draw: st.DrawFn) -> ImageReference:
    """A reference as `parse` gives it: a registry always, `library/` on Docker Hub."""
    registry = draw(st.one_of(st.just(DOCKER_HUB), hosts))
    path = draw(st.lists(components, min_size=1, max_size=4))
    if registry == DOCKER_HUB and len(path) == 1:
        path = ["library", *path]
    tag = draw(st.none() | tags)
    digest = draw(st.none() | digests)
    return ImageReference(registry, "/".join(path), tag, digest)


def _suffix(ref: ImageReference) -> str:
    return str(ref).removeprefix(ref.name)


@given(normalized())
def test_round_trip(ref: ImageReference) -> None:
    assert parse(str(ref)) == ref
    assert split(str(ref)) == ref  # a written registry is kept by both


@given(
    normalized().filter(lambda r: r.registry == DOCKER_HUB),
    st.sampled_from(sorted(DOCKER_HUB_ALIASES)),
)
def test_docker_hub_may_be_left_out_or_aliased(ref: ImageReference, alias: str) -> None:
    assert parse(f"{alias}/{ref.repository}{_suffix(ref)}") == ref
    first = ref.repository.split("/")[0]
    if not is_registry_host(first):  # else the first component would be read as a host
        assert parse(f"{ref.repository}{_suffix(ref)}") == ref
    if ref.repository.startswith("library/") and ref.repository.count("/") == 1:
        short = ref.repository.removeprefix("library/")
        assert parse(f"{short}{_suffix(ref)}") == ref
        assert split(f"{short}{_suffix(ref)}") == ImageReference(None, short, ref.tag, ref.digest)


@given(normalized().filter(lambda r: ":" in (r.registry or "")), tags)
def test_a_port_is_not_a_tag(ref: ImageReference, tag: str) -> None:
    without = ImageReference(ref.registry, ref.repository)
    assert parse(str(without)).tag is None
    assert parse(f"{without}:{tag}") == ImageReference(ref.registry, ref.repository, tag)


@given(normalized(), st.data())
def test_whitespace_inside_is_rejected(ref: ImageReference, data: st.DataObject) -> None:
    text = str(ref)
    at = data.draw(st.integers(1, len(text) - 1))
    space = data.draw(st.sampled_from([" ", "\t", "\n"]))
    with pytest.raises(InvalidPayload, match="not an image reference"):
        parse(text[:at] + space + text[at:])


@given(normalized(), st.text("0123456789abcdefABCDEFxyz:", max_size=70))
def test_a_digest_that_is_not_sha256_hex_is_rejected(ref: ImageReference, junk: str) -> None:
    digest = f"sha256:{junk}"
    if len(junk) == 64 and all(c in "0123456789abcdef" for c in junk):
        return  # that one is a digest
    with pytest.raises(InvalidPayload, match="digest"):
        parse(f"{ref.named}@{digest}")


@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_422(text: str) -> None:
    ref = split(text)  # never raises
    try:
        parsed = parse(text)
    except InvalidPayload:
        return
    # what parse accepts, split reads the same way, before normalization
    assert (parsed.tag, parsed.digest) == (ref.tag, ref.digest)
    assert docker_name(ref.name) == (parsed.registry, parsed.repository)
