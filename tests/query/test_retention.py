"""The retention report: its rules (pure), and on both backends a property that no digest
in use, nor the base or the evidence of a kept digest, is ever `delete`, with an oracle
built from the artifact views and the deployments (other code paths), and a property that
the report does not depend on arrival order."""

from __future__ import annotations

import itertools
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.ingest import demo
from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.model.errors import InvalidQuery, NotFound
from provenance.model.retention import DigestFacts, Interval, Window, judge, kept
from provenance.query import artifacts, deployments
from provenance.store import Database
from provenance.store import retention as store_retention
from tests.factories import delivery, digest

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


# --- the rules, pure -------------------------------------------------------------------


def facts(name: str, *, member: bool = True, **kw: Any) -> DigestFacts:
    return DigestFacts(digest=digest(name), in_repository=member, **kw)


def test_nothing_in_use_is_delete_and_each_reason_keeps() -> None:
    window = Window(unused_since=minutes(60), as_of=minutes(120))
    cases = {
        "idle": facts(
            "idle", last_pull=minutes(10), deployments=(Interval(minutes(0), minutes(30)),)
        ),
        "tagged": facts("tagged", tags=(Interval(minutes(0), None, "r", "v1"),)),
        "moved": facts("moved", tags=(Interval(minutes(0), minutes(50), "r", "v1"),)),
        "running": facts("running", deployments=(Interval(minutes(0), None),)),
        "ran": facts("ran", deployments=(Interval(minutes(0), minutes(61)),)),
        "pulled": facts("pulled", last_pull=minutes(60)),
        # Closed after as_of: it still ran then.
        "later": facts("later", deployments=(Interval(minutes(100), minutes(130)),)),
    }
    report = judge("r", cases.values(), window)
    got = {i.digest: (i.verdict, i.reasons) for i in report.items}
    assert got == {
        digest("idle"): ("delete", []),
        digest("tagged"): ("keep", ["tagged"]),
        digest("moved"): ("delete", []),
        digest("running"): ("keep", ["deployed_now", "deployed_since"]),
        digest("ran"): ("keep", ["deployed_since"]),
        digest("pulled"): ("keep", ["pulled_since"]),
        digest("later"): ("keep", ["deployed_now", "deployed_since"]),
    }
    assert report.summary == {"keep": 5, "delete": 2}
    assert [i.tags for i in report.items if i.digest == digest("tagged")] == [["v1"]]


def test_kept_is_a_fixpoint_through_bases_and_evidence_in_any_repository() -> None:
    # base2 -base_of-> base1 -base_of-> app (running, in another repository);
    # sig is a signature of base2; junk signs something nobody keeps.
    app = facts("app", member=False, deployments=(Interval(minutes(0), None),))
    base1 = facts("base1", base_of=frozenset({digest("app")}))
    base2 = facts("base2", base_of=frozenset({digest("base1")}))
    sig = facts("sig", evidence_of=frozenset({digest("base2")}))
    junk = facts("junk", evidence_of=frozenset({digest("idle")}))
    idle = facts("idle")
    window = Window()
    assert kept({f.digest: f for f in (app, base1, base2, sig, junk, idle)}, window) == {
        digest(n) for n in ("app", "base1", "base2", "sig")
    }
    report = judge("r", [app, base1, base2, sig, junk, idle], window)
    got = {i.digest: i.reasons for i in report.items}
    assert digest("app") not in got  # reached, not of the repository: not listed
    assert got[digest("base2")] == ["base_of_kept"]
    assert got[digest("sig")] == ["evidence_of_kept"]
    assert got[digest("junk")] == [] and got[digest("idle")] == []
    assert [i.evidence_of for i in report.items if i.digest == digest("sig")] == [[digest("base2")]]


def test_a_tag_elsewhere_keeps_what_it_needs_but_is_no_tag_here() -> None:
    shared = facts("shared", tags=(Interval(minutes(0), None, "other", "v1"),))
    base = facts("base", base_of=frozenset({digest("shared")}))
    got = {i.digest: i.reasons for i in judge("r", [shared, base], Window()).items}
    assert got == {digest("shared"): [], digest("base"): ["base_of_kept"]}


def test_deleted_digests_are_counted_not_listed() -> None:
    report = judge("r", [facts("gone", deleted=True), facts("here")], Window())
    assert [i.digest for i in report.items] == [digest("here")]
    assert report.already_deleted == 1


def test_a_window_needs_offsets_and_takes_the_ends_of_time() -> None:
    with pytest.raises(InvalidQuery):
        Window(unused_since=datetime(2026, 1, 1))  # no offset: which time is it?
    plus_one = timezone(timedelta(hours=1))
    window = Window(as_of=datetime(1, 1, 1, tzinfo=plus_one))
    assert window.as_of == datetime.min.replace(tzinfo=UTC)


def test_unused_since_after_as_of_keeps_only_what_holds_at_as_of() -> None:
    window = Window(unused_since=minutes(10), as_of=minutes(5))
    running = facts("running", deployments=(Interval(minutes(0), None),))
    pulled = facts("pulled", last_pull=minutes(4), deployments=(Interval(minutes(0), minutes(3)),))
    got = {i.digest: i.reasons for i in judge("r", [running, pulled], window).items}
    assert got == {digest("running"): ["deployed_now", "deployed_since"], digest("pulled"): []}


# --- stories, on both backends ---------------------------------------------------------

LETTERS = "abcde"
TAGS = ["v1", "latest"]
WORKLOADS = ["deployment/api", "deployment/worker"]
_namespaces = itertools.count()


@st.composite
def stories(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Abstract events (kind, minute, ...) over digests a..e: rendered per namespace."""
    out: list[tuple[Any, ...]] = []
    for minute in range(draw(st.integers(1, 24))):
        kind = draw(
            st.sampled_from(
                ["push", "push", "push-base", "pull", "delete", "untag", "deploy", "deploy",
                 "deploy-by-tag", "undeploy", "base", "sign", "untag-sig"]
            )
        )  # fmt: skip
        a, b = draw(st.sampled_from(LETTERS)), draw(st.sampled_from(LETTERS))
        out.append(
            (kind, minute, a, b, draw(st.sampled_from(TAGS)), draw(st.sampled_from(WORKLOADS)))
        )
    return out


class Space:
    """One namespace of a story: its repositories, digests and workloads."""

    def __init__(self) -> None:
        n = next(_namespaces)
        self.n = n
        self.repo = f"reg.test/ns{n}/app"
        self.base_repo = f"reg.test/ns{n}/base"  # base images live elsewhere
        self.digests = {x: digest(f"retention-{n}-{x}") for x in LETTERS}
        self.letter = {d: x for x, d in self.digests.items()}

    def sig_tag(self, subject: str) -> str:
        return "sha256-" + self.digests[subject].removeprefix("sha256:") + ".sig"

    def render(self, story: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        out = []
        for i, (kind, minute, a, b, tag, workload) in enumerate(story):
            e: dict[str, Any] = {
                "id": f"ret-{self.n}-{i}",
                "source": "prop",
                "time": minutes(minute).isoformat().replace("+00:00", "Z"),
            }
            da, db_ = self.digests[a], self.digests[b]
            where = {"workload": workload, "namespace": f"ns{self.n}", "cluster": "eu-1"}
            if kind == "push":
                e |= {"type": "artifact.pushed", "digest": da, "repository": self.repo, "tag": tag}
            elif kind == "push-base":
                e |= {"type": "artifact.pushed", "digest": da, "repository": self.base_repo}
                e |= {"tag": tag}
            elif kind == "pull":
                e |= {"type": "artifact.pulled", "digest": da, "repository": self.repo}
                e |= {"actor": "node-1"}
            elif kind == "delete":
                e |= {"type": "artifact.deleted", "digest": da, "repository": self.repo}
            elif kind == "untag":
                e |= {"type": "tag.deleted", "repository": self.repo, "tag": tag}
            elif kind == "deploy":
                e |= {"type": "deployment.applied", "digest": da, **where}
                e |= {"environment": "production"}
            elif kind == "deploy-by-tag":
                e |= {"type": "deployment.applied", "repository": self.repo, "tag": tag, **where}
            elif kind == "undeploy":
                e |= {"type": "deployment.removed", **where}
            elif kind == "base":  # b is built on a (SLSA resolved dependency)
                if a == b:
                    continue
                e |= {"type": "artifact.attested", "digest": db_}
                e |= {"attributes": {"dependencies": [{"digest": da}]}}
            elif kind == "sign":  # a is the cosign signature manifest of b
                if a == b:
                    continue
                e |= {"type": "artifact.pushed", "digest": da, "repository": self.repo}
                e |= {"tag": self.sig_tag(b)}
            else:  # untag-sig: the signature tag of b is gone (its manifest may stay)
                e |= {"type": "tag.deleted", "repository": self.repo, "tag": self.sig_tag(b)}
            out.append(e)
        return out


def _load(db: Database, events: list[dict[str, Any]], *, batches: int = 1) -> None:
    size = max(1, -(-len(events) // batches))
    for start in range(0, len(events), size):
        ingest(db, delivery(*events[start : start + size]), SourceSecrets())
    ProjectionRunner(db).catch_up()


_SIG = re.compile(r"^sha256-([0-9a-f]{64})\.sig$")


def oracle(db: Database, space: Space, window: Window) -> dict[str, tuple[str, set[str]]]:
    """digest -> (verdict, reasons), from the artifact views and the deployments as of
    `as_of`: code that shares nothing with the report but the graph."""
    as_of, since = window.as_of, window.unused_since
    with db.read() as s:
        views = {}
        for d in space.digests.values():
            try:
                views[d] = artifacts.artifact(s, d, as_of=as_of)
            except NotFound:
                continue
        running = {x.digest for x in deployments.deployments(s, as_of=as_of)}

    def own(d: str, repository: str | None) -> set[str]:
        v = views[d]
        tagged = any(t.current and repository in (None, t.repository) for t in v.tags)
        reasons = {"tagged"} if tagged else set()
        if d in running:
            reasons.add("deployed_now")
        if any(x.until is None or since is None or x.until > since for x in v.deployments):
            reasons.add("deployed_since")
        if v.pulls.last is not None and (since is None or v.pulls.last >= since):
            reasons.add("pulled_since")
        return reasons

    keepers: dict[str, set[str]] = {}  # d -> the digests that d being kept keeps
    for d, v in views.items():
        keepers.setdefault(d, set()).update(v.base_images)
        for t in v.tags:
            match = _SIG.match(t.tag)
            if match and f"sha256:{match[1]}" != d:
                keepers.setdefault(f"sha256:{match[1]}", set()).add(d)
    keeping = {d for d in views if own(d, None)}
    todo = list(keeping)
    while todo:
        for k in keepers.get(todo.pop(), ()):
            if k not in keeping:
                keeping.add(k)
                todo.append(k)
    out = {}
    for d, v in views.items():
        if space.repo not in v.repositories or v.deleted:
            continue
        reasons = own(d, space.repo)
        if any(d in views[y].base_images and y in keeping for y in views):
            reasons.add("base_of_kept")
        subjects = {f"sha256:{m[1]}" for t in v.tags if (m := _SIG.match(t.tag))} - {d}
        if subjects & keeping:
            reasons.add("evidence_of_kept")
        out[d] = ("keep" if reasons else "delete", reasons)
    return out


windows = st.tuples(
    st.one_of(st.none(), st.integers(0, 30)), st.one_of(st.none(), st.integers(0, 30))
)


def _window(pair: tuple[int | None, int | None]) -> Window:
    as_of_m, back = pair
    as_of = None if as_of_m is None else minutes(as_of_m + 0.5)
    if back is None:
        return Window(as_of=as_of)
    end = as_of or minutes(24)
    return Window(unused_since=end - timedelta(minutes=back), as_of=as_of)


PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def answer(db: Database, space: Space, window: Window) -> list[Any]:
    """The report in a form comparable across namespaces: digests named by letter."""
    with db.read() as s:
        report = store_retention.report(s, space.repo, window)
    named = space.letter.get

    def tag(name: str) -> str:  # a signature's tag names its subject's digest
        for x, d in space.digests.items():
            name = name.replace(d.removeprefix("sha256:"), x)
        return name

    items = sorted(
        (
            named(i.digest),
            i.verdict,
            i.reasons,
            sorted(tag(t) for t in i.tags),
            i.last_pull,
            i.last_deployed,
            i.first_seen,
            sorted(str(named(x)) for x in i.base_of),
            sorted(str(named(x)) for x in i.evidence_of),
        )
        for i in report.items
    )
    return [*items, report.summary, report.already_deleted]


@PROPERTY
@given(story=stories(), pair=windows)
def test_nothing_in_use_nor_needed_by_what_is_kept_is_ever_delete(
    db: Database, story: list[tuple[Any, ...]], pair: tuple[int | None, int | None]
) -> None:
    space, window = Space(), _window(pair)
    _load(db, space.render(story))
    with db.read() as s:
        report = store_retention.report(s, space.repo, window)
    expected = oracle(db, space, window)
    got = {i.digest: (i.verdict, set(i.reasons)) for i in report.items}
    assert got == expected
    # The property, said as the issue says it, against the oracle's facts:
    for item in report.items:
        if item.verdict == "delete":
            assert expected[item.digest][1] == set()
            assert not item.tags and not item.base_of and not item.evidence_of
    assert report.summary == {
        v: sum(1 for i in report.items if i.verdict == v) for v in ("keep", "delete")
    }


@PROPERTY
@given(story=stories(), pair=windows, seed=st.integers(0, 2**32 - 1), batches=st.integers(1, 4))
def test_the_report_does_not_depend_on_arrival_order(
    db: Database,
    story: list[tuple[Any, ...]],
    pair: tuple[int | None, int | None],
    seed: int,
    batches: int,
) -> None:
    window = _window(pair)
    in_order, shuffled = Space(), Space()
    _load(db, in_order.render(story))
    events = shuffled.render(story)
    random.Random(seed).shuffle(events)
    _load(db, events, batches=batches)

    assert answer(db, in_order, window) == answer(db, shuffled, window)


# --- the demo story --------------------------------------------------------------------


@pytest.fixture
def demo_db(db: Database) -> tuple[Database, dict[str, Any]]:
    return db, demo.load(db)


def test_demo_now_keeps_the_running_rebuild_and_counts_the_deleted_original(
    demo_db: tuple[Database, dict[str, Any]],
) -> None:
    db, summary = demo_db
    original, rebuild = summary["digests"]["original"], summary["digests"]["rebuild"]
    with db.read() as s:
        report = store_retention.report(
            s, demo.REPOSITORY, Window(unused_since=datetime(2026, 5, 13, tzinfo=UTC))
        )
    [item] = report.items
    assert item.digest == rebuild and item.verdict == "keep"
    assert item.tags == [demo.TAG]
    assert {"tagged", "deployed_now", "deployed_since"} <= set(item.reasons)
    assert original not in {i.digest for i in report.items}
    assert report.already_deleted == 1


def test_demo_before_the_clean_up_keeps_the_original_staging_runs(
    demo_db: tuple[Database, dict[str, Any]],
) -> None:
    db, summary = demo_db
    original = summary["digests"]["original"]
    window = Window(
        unused_since=datetime(2026, 5, 13, tzinfo=UTC), as_of=datetime(2026, 5, 20, tzinfo=UTC)
    )
    with db.read() as s:
        report = store_retention.report(s, demo.REPOSITORY, window)
    by_digest = {i.digest: i for i in report.items}
    old = by_digest[original]
    assert old.verdict == "keep"
    assert "deployed_now" in old.reasons  # staging still runs it
    assert old.tags == [demo.SHA_TAG]  # v2.0.0 moved to the rebuild on 05-12
    assert old.last_pull is not None and old.last_pull < datetime(2026, 5, 13, tzinfo=UTC)
    assert "pulled_since" not in old.reasons
    assert report.already_deleted == 0
    # Before anything was pushed there is nothing to judge.
    with db.read() as s:
        early = store_retention.report(
            s, demo.REPOSITORY, Window(as_of=datetime(2026, 5, 1, tzinfo=UTC))
        )
    assert early.items == [] and early.summary == {"keep": 0, "delete": 0}


@PROPERTY
@given(story=stories(), cut=st.integers(0, 23), between=st.booleans())
def test_as_of_t_is_the_report_of_a_service_fed_up_to_t(
    db: Database, story: list[tuple[Any, ...]], cut: int, between: bool
) -> None:
    as_of = minutes(min(cut, len(story) - 1) + (0.5 if between else 0))
    window = Window(unused_since=as_of - timedelta(minutes=5), as_of=as_of)
    full, fed = Space(), Space()
    _load(db, full.render(story))
    _load(db, fed.render([e for e in story if minutes(e[1]) <= as_of]))
    assert answer(db, full, window) == answer(db, fed, window)
