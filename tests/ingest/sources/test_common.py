"""Helpers shared by the adapters: the one name a source repository goes by."""

from __future__ import annotations

import pytest

from provenance.ingest.sources._common import normalize_vcs_url

WEB = "https://github.com/acme/payments-api"


@pytest.mark.parametrize(
    "given",
    [
        WEB,
        WEB + "/",
        WEB + ".git",
        "git@github.com:acme/payments-api.git",
        "git@GitHub.com:acme/payments-api",
        "github.com:acme/payments-api.git",
        "ssh://git@github.com/acme/payments-api.git",
        "ssh://git@github.com:22/acme/payments-api.git",
        "git://github.com/acme/payments-api.git",
        "git+https://github.com/acme/payments-api.git",
        "git+ssh://git@github.com/acme/payments-api.git",
        "https://token:x-oauth@github.com/acme/payments-api.git",
        WEB + "/commit/1f3c0b99ee32fa789a58807755933c2f994a2acd",
        WEB + "/commit/1f3c0b9",
    ],
)
def test_every_form_of_a_github_repository_is_one_url(given: str) -> None:
    assert normalize_vcs_url(given) == WEB


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "https://gitlab.acme.io:8443/acme/api/-/commit/1f3c0b99",
            "https://gitlab.acme.io:8443/acme/api",
        ),
        ("https://bitbucket.org/acme/api/commits/1f3c0b99", "https://bitbucket.org/acme/api"),
        ("git@gitlab.acme.io:group/sub/api.git", "https://gitlab.acme.io/group/sub/api"),
        ("http://git.internal/acme/api.git", "http://git.internal/acme/api"),
        ("svn+ssh://svn.acme.io/trunk", "svn+ssh://svn.acme.io/trunk"),  # not git: as given
        ("/srv/git/api", "/srv/git/api"),
        ("  ", None),
        (None, None),
    ],
)
def test_other_hosts_and_forms(given: str | None, expected: str | None) -> None:
    assert normalize_vcs_url(given) == expected
