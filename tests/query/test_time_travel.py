"""As of T, the service answers exactly what a fresh service fed only the events up to T
would answer: closing an edge later never rewrites the past."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.model.errors import NotFound
from provenance.model.timeutil import parse_time
from provenance.query import artifacts, deployments
from provenance.query import blast_radius as blast
from provenance.store import Database
from tests.factories import delivery, digest

REPO = "registry.acme.io/acme/app"
DIGESTS = [digest(n) for n in "abc"]
TAGS = ["v1", "latest"]
WORKLOADS = ["deployment/api", "deployment/worker"]
_ids = itertools.count()


@st.composite
def story(draw: st.DrawFn) -> list[dict[str, Any]]:
    events = []
    for minute in range(draw(st.integers(1, 20))):
        kind = draw(
            st.sampled_from(
                [
                    "push",
                    "push",
                    "pull",
                    "delete",
                    "untag",
                    "deploy",
                    "deploy",
                    "deploy-by-tag",
                    "undeploy",
                ]
            )
        )
        d, tag = draw(st.sampled_from(DIGESTS)), draw(st.sampled_from(TAGS))
        workload = draw(st.sampled_from(WORKLOADS))
        e: dict[str, Any] = {
            "id": f"tt-{next(_ids)}",
            "source": "prop",
            "time": f"2026-03-09T14:{minute:02d}:00Z",
        }
        where = {
            "workload": workload,
            "namespace": "prod",
            "cluster": "eu-1",
            "environment": draw(st.sampled_from(["production", "staging"])),
        }
        if kind == "push":
            e |= {
                "type": "artifact.pushed",
                "digest": d,
                "repository": REPO,
                "tag": tag,
                "actor": draw(st.sampled_from(["ci", "bob"])),
            }
        elif kind == "pull":
            e |= {
                "type": "artifact.pulled",
                "digest": d,
                "repository": REPO,
                "actor": draw(st.sampled_from(["node-1", "node-2"])),
            }
        elif kind == "delete":
            e |= {"type": "artifact.deleted", "digest": d, "repository": REPO}
        elif kind == "untag":
            e |= {"type": "tag.deleted", "repository": REPO, "tag": tag}
        elif kind == "deploy":
            e |= {"type": "deployment.applied", "digest": d, **where}
        elif kind == "deploy-by-tag":
            e |= {"type": "deployment.applied", "repository": REPO, "tag": tag, **where}
        else:
            e |= {
                "type": "deployment.removed",
                "workload": workload,
                "namespace": "prod",
                "cluster": "eu-1",
            }
        events.append(e)
    return events


def _db(tmp_path_factory: Any, name: str) -> Database:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp(name) / 'db.sqlite'}")
    db.upgrade()
    return db


def _load(db: Database, events: list[dict[str, Any]]) -> None:
    if events:
        ingest(db, delivery(*events), SourceSecrets())  # one delivery: log order = list order
    ProjectionRunner(db).catch_up()


def _answers(db: Database, as_of: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with db.read() as s:
        out["deployments"] = [asdict(d) for d in deployments.deployments(s, as_of=as_of)]
        for tag in TAGS:
            try:
                out[f"tag:{tag}"] = artifacts.tag_history(s, REPO, tag, as_of=as_of)
            except NotFound:
                out[f"tag:{tag}"] = None
        for d in DIGESTS:
            try:
                view = artifacts.artifact(s, d, as_of=as_of)
                radius = blast.blast_radius(s, "digest", d, as_of=as_of)
            except NotFound:
                out[d] = None
                continue
            out[d] = (
                asdict(view),
                radius.counts,
                radius.tags,
                radius.deployments,
                [(p.actor, p.count, p.last) for p in radius.pullers],
            )
    return out


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=story(), cut=st.integers(0, 19), exact=st.booleans())
def test_as_of_t_equals_a_fresh_service_fed_up_to_t(
    tmp_path_factory: Any, events: list[dict[str, Any]], cut: int, exact: bool
) -> None:
    cut = min(cut, len(events) - 1)
    as_of = parse_time(events[cut]["time"])  # exactly at an event, or between two
    if not exact:
        as_of = as_of.replace(second=30)
    full, fresh = _db(tmp_path_factory, "full"), _db(tmp_path_factory, "fresh")
    _load(full, events)
    _load(fresh, [e for e in events if parse_time(e["time"]) <= as_of])
    past, fed = _answers(full, as_of), _answers(fresh, as_of)
    for key in past:
        assert past[key] == fed[key], key
    full.dispose()
    fresh.dispose()
