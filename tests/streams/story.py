"""A seeded stream of events across several repositories, and the answers to compare.

The events are what makes concurrent projection hard: tags that move, pulls, deployments
of one workload from images of different repositories (so from different partitions)
that replace each other, undeployments, deletes of deployed digests, tag deletes,
signatures arriving after the deployments they answer, builds. `answers` asks every
question the event-time property asks (tag histories, deployments now and as of several
moments, artifact views, timelines, blast radii, current alerts), with arrival-dependent
fields (log seq, row ids, paths chosen by row order) left out.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from provenance.store import Database
from tests.answers import Answers
from tests.factories import T0, at, digest, sha

REPOS = [f"registry.acme.io/team-{n}/app" for n in range(6)]
TAGS = ["v1", "latest"]
ACTORS = ["ci", "bob", "node-1", "node-2"]
COMMITS = [sha(f"commit-{n}") for n in range(3)]
PROD = {"cluster": "eu-1", "namespace": "prod", "environment": "production"}
TARGETS = [
    {**PROD, "workload": "deployment/shop", "container": "app"},
    {**PROD, "workload": "deployment/shop", "container": "sidecar"},
    {**PROD, "workload": "deployment/api", "container": "api"},
]
MINUTES = 600
KINDS = [
    *("push", "push", "push", "pull", "pull", "deploy", "deploy", "deploy_tag"),
    *("undeploy", "delete", "untag", "sign", "build"),
]


def digests(repo: str) -> list[str]:
    return [digest(f"{repo}#{k}") for k in range(3)]


def events(seed: int, count: int) -> list[dict[str, Any]]:
    """`count` events with distinct times, in time order."""
    rng = random.Random(seed)
    times = sorted(rng.sample(range(MINUTES * 10), count))
    out: list[dict[str, Any]] = []
    for i, tenth in enumerate(times):
        repo = rng.choice(REPOS)
        d = rng.choice(digests(repo))
        base: dict[str, Any] = {"id": f"s{seed}-{i}", "time": at(tenth / 10), "source": "story"}
        kind = rng.choice(KINDS)
        if kind == "push":
            e = base | {
                "type": "artifact.pushed",
                "digest": d,
                "repository": repo,
                "media_type": "application/vnd.oci.image.manifest.v1+json",
                "actor": rng.choice(ACTORS),
            }
            if rng.random() < 0.8:
                e["tag"] = rng.choice(TAGS)
        elif kind == "pull":
            e = base | {
                "type": "artifact.pulled",
                "digest": d,
                "repository": repo,
                "actor": rng.choice(ACTORS),
            }
        elif kind == "deploy":  # one workload, images of any repository: any partition
            e = base | {"type": "deployment.applied", "digest": d, "repository": repo}
            e |= rng.choice(TARGETS)
        elif kind == "deploy_tag":
            e = base | {"type": "deployment.applied", "repository": repo, "tag": rng.choice(TAGS)}
            e |= rng.choice(TARGETS)
        elif kind == "undeploy":
            e = base | {"type": "deployment.removed", **rng.choice(TARGETS)}
        elif kind == "delete":
            e = base | {"type": "artifact.deleted", "digest": d, "repository": repo}
        elif kind == "untag":
            e = base | {"type": "tag.deleted", "repository": repo, "tag": rng.choice(TAGS)}
        elif kind == "sign":
            e = base | {"type": "artifact.signed", "digest": d}
        else:
            e = base | {
                "type": "build.finished",
                "build": f"run-{d[-6:]}",
                # one commit per build (two are contradictory input; the answers then name
                # the earliest stated: tests/store/test_event_order.py)
                "commit": COMMITS[int(d[-6:], 16) % len(COMMITS)],
                "digest": d,
                "repository": repo,
            }
        out.append(e)
    return out


def answers(db: Database) -> dict[str, Any]:
    moments = [None, *(T0 + timedelta(minutes=m) for m in (60, 200, 350, 500))]
    with db.read() as s:
        asked = Answers(s)
        for repo in REPOS:
            for tag in TAGS:
                asked.tag(repo, tag)
            for d in digests(repo):
                for when in (None, moments[2]):
                    asked.artifact(d, when)
                asked.timeline(d)
                asked.blast("digest", d)
        for when in moments:
            asked.deployments(when)
        for key, value in (*(("commit", c) for c in COMMITS), *(("actor", a) for a in ACTORS)):
            asked.blast(key, value)
        asked.alerts()
    return asked.out


def differences(got: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """The questions whose answers differ (for a readable failure)."""
    return sorted(k for k in expected.keys() | got.keys() if got.get(k) != expected.get(k))
