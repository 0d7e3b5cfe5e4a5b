"""The console as a person uses it, in Chromium, on the demo story."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
from playwright.sync_api import expect

from tests.browser.conftest import READ_TOKEN, shot
from tests.scan_reports import trivy_report


def test_search_finds_a_digest_by_prefix_and_by_repo_tag(served, page) -> None:
    url, info = served
    original, rebuild = info["digests"]["original"], info["digests"]["rebuild"]
    page.goto(url + "/")
    page.fill("#q", original[7:21])
    page.press("#q", "Enter")
    link = page.locator('#results a.result[data-kind="artifact"]')
    expect(link).to_have_count(1)
    expect(page.locator("#results")).to_contain_text(original)
    shot(page, "search-prefix")

    page.fill("#q", f"{info['repository']}:{info['tag']}")
    page.press("#q", "Enter")
    expect(page.locator('#results [data-kind="tag"] h2')).to_contain_text("tag")
    artifact = page.locator('#results a.result[data-kind="artifact"]')
    expect(artifact).to_have_count(1)
    artifact.click()
    expect(page).to_have_url(re.compile(rf"/ui/artifacts/{rebuild}$"))
    expect(page.locator("h1")).to_contain_text(rebuild)


def test_artifact_page_shows_tags_verdicts_and_deployments(served, page) -> None:
    url, info = served
    digest = info["digests"]["rebuild"]
    api = httpx.get(f"{url}/v1/artifacts/{digest}").json()
    page.goto(f"{url}/ui/artifacts/{digest[:19]}")  # a prefix is enough; the URL settles
    expect(page).to_have_url(re.compile(rf"/ui/artifacts/{digest}$"))
    tags = page.locator("#tags")
    for t in api["tags"]:
        expect(tags).to_contain_text(f"{t['repository']}:{t['tag']}")
    verdicts = page.locator("#verdicts")
    outcomes = {item["verified"] for item in api["attestations"]}
    assert outcomes == {True, False}, "the fixture attests once with each key"
    expect(verdicts.locator(".badge.ok", has_text="verified")).to_have_count(1)
    expect(verdicts.locator(".badge.bad", has_text="not verified")).to_have_count(1)
    expect(verdicts).to_contain_text("ci-release")  # the key that verified
    for item in api["attestations"]:
        if not item["verified"]:
            expect(verdicts).to_contain_text(item["reason"])  # why not
    assert api["deployments"], "the demo deploys this digest"
    deployments = page.locator("#deployments")
    for d in api["deployments"]:
        expect(deployments).to_contain_text(d["workload"])
        if d["environment"]:
            expect(deployments).to_contain_text(d["environment"])
    expect(page.locator("#builds")).to_contain_text(info["commit"][:12])
    expect(page.locator("#timeline tbody tr").first).to_be_visible()
    shot(page, "artifact")


def test_lineage_graph_renders_its_nodes_and_a_click_opens_the_neighbour(served, page) -> None:
    url, info = served
    digest = info["digests"]["rebuild"]
    lineage = httpx.get(f"{url}/v1/artifacts/{digest}/lineage?direction=both&depth=2").json()
    page.goto(f"{url}/ui/artifacts/{digest}")
    graph = page.locator("#graph")
    expect(graph).to_have_attribute("data-nodes", str(len(lineage["nodes"])))
    drawn = page.evaluate("document.getElementById('graph').cy.nodes().map(n => n.id())")
    assert sorted(drawn) == sorted(n["id"] for n in lineage["nodes"])
    # Click the commit's node on the canvas (where Cytoscape drew it), then open its page.
    base = next(n["id"] for n in lineage["nodes"] if n["kind"] == "commit")
    pos = page.evaluate(
        "id => { const n = document.getElementById('graph').cy.getElementById(id);"
        " const p = n.renderedPosition(); return [p.x, p.y]; }",
        base,
    )
    box = graph.bounding_box()
    page.mouse.click(box["x"] + pos[0], box["y"] + pos[1])
    expect(page.locator("#graph-panel")).to_contain_text(base)
    shot(page, "lineage-selected")
    page.click("#open-node")
    sha = base.removeprefix("commit:")
    expect(page).to_have_url(re.compile(rf"/ui/blast-radius\?commit={sha}$"))
    expect(page.locator("#counts")).to_be_visible()


def test_blast_radius_by_commit_shows_the_counts_the_api_gives(served, page) -> None:
    url, info = served
    commit = info["commit"]
    api = httpx.post(f"{url}/v1/incidents/blast-radius", json={"commit": commit}).json()
    page.goto(f"{url}/ui/blast-radius?commit={commit[:7]}")  # a prefix, as people paste it
    counts = page.locator("#counts")
    expect(counts).to_be_visible()
    for kind, n in api["counts"].items():
        expect(counts.locator(f'[data-kind="{kind}"] b')).to_have_text(str(n))
    assert api["counts"]["deployments"] > 0
    expect(page.locator('[data-list="deployments"]')).to_contain_text("→")  # each item's path
    with page.expect_download() as download:
        page.click("#csv")
    rows = download.value.path().read_text().strip().splitlines()
    assert len(rows) == 1 + sum(api["counts"].values())
    shot(page, "blast-radius")


def test_as_of_changes_the_deployments_shown(served, page) -> None:
    url, _ = served
    now: Any = httpx.get(f"{url}/v1/deployments").json()["items"]
    earlier = "2026-05-06T00:00:00Z"
    then: Any = httpx.get(f"{url}/v1/deployments", params={"as_of": earlier}).json()["items"]
    assert {d["digest"] for d in now} != {d["digest"] for d in then}
    page.goto(f"{url}/ui/deployments")
    matrix = page.locator("#matrix")
    for d in now:
        expect(matrix).to_contain_text(d["digest"].removeprefix("sha256:")[:12])
    shot(page, "deployments-now")
    page.fill("#as-of", earlier.removesuffix("Z"))
    page.click("#asof-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"as_of=2026-05-06"))
    expect(page.locator("h1")).to_contain_text("as of 2026-05-06")
    gone = {d["digest"] for d in now} - {d["digest"] for d in then}
    for digest in gone:
        expect(matrix).not_to_contain_text(digest.removeprefix("sha256:")[:12])
    for d in then:
        if d["digest"]:
            expect(matrix).to_contain_text(d["digest"].removeprefix("sha256:")[:12])
    shot(page, "deployments-as-of")


def test_a_wrong_read_token_gets_a_clear_message(served_with_auth, page) -> None:
    url = served_with_auth
    page.goto(url + "/ui/alerts")
    dialog = page.locator("#token-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#token-message")).to_contain_text("needs a read token")
    page.fill("#token-input", "not-the-token")
    page.click("#token-submit")
    expect(page.locator("#token-message")).to_contain_text("That token was refused (401")
    shot(page, "wrong-token")
    page.fill("#token-input", READ_TOKEN)
    page.click("#token-submit")
    expect(dialog).to_be_hidden()
    expect(page.locator("h1")).to_have_text("Alerts")
    # Asked once per session: the next page needs no dialog.
    page.goto(url + "/ui/audit")
    expect(page.locator("#chain")).to_contain_text("entries")
    expect(dialog).to_be_hidden()


def test_docs_and_redoc_load_their_assets_from_the_service(served, page) -> None:
    url, _ = served
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith((url, "data:", "blob:")) else None,
    )
    page.goto(url + "/docs")
    expect(page.locator(".swagger-ui .title").first).to_contain_text("Provenance")
    page.goto(url + "/redoc")
    expect(page.locator("h1").first).to_contain_text("Provenance")
    page.goto(url + "/")
    expect(page.locator("h1")).to_have_text("Overview")
    assert not outside, outside


def test_expanding_a_node_walks_one_level_further(served, page) -> None:
    url, info = served
    original = info["digests"]["rebuild"]
    lineage = f"{url}/v1/artifacts/{original}/lineage"
    first = httpx.get(lineage, params={"direction": "both", "depth": 1}).json()
    further = httpx.get(lineage, params={"direction": "up", "depth": 2}).json()
    expected = {n["id"] for n in first["nodes"]} | {n["id"] for n in further["nodes"]}
    assert expected > {n["id"] for n in first["nodes"]}, "the story goes deeper than 1 up"
    page.goto(f"{url}/ui/artifacts/{original}?depth=1")
    graph = page.locator("#graph")
    expect(graph).to_have_attribute("data-nodes", str(len(first["nodes"])))
    page.evaluate(
        "id => document.getElementById('graph').cy.getElementById(id).emit('tap')",
        f"artifact:{original}",
    )
    page.click("#expand-up")
    expect(graph).to_have_attribute("data-nodes", str(len(expected)))
    drawn = set(page.evaluate("document.getElementById('graph').cy.nodes().map(n => n.id())"))
    assert drawn == expected
    shot(page, "lineage-expanded")


def test_a_scan_shows_on_the_artifact_page_and_marks_the_deployments_matrix(served, page) -> None:
    url, info = served
    digest = info["digests"]["rebuild"]  # the demo deploys it
    report = trivy_report(digest, [("CVE-2026-4242", "CRITICAL", "openssl", "3.1.4", "3.1.5")])
    sent = httpx.post(
        f"{url}/v1/scans",
        content=orjson.dumps(report),
        headers={"content-type": "application/json"},
    )
    assert sent.status_code == 202, sent.text
    page.goto(f"{url}/ui/artifacts/{digest}")
    section = page.locator("#vulnerabilities")
    expect(section).to_contain_text("trivy")
    expect(section.locator('.vulnerable[data-severity="critical"]')).to_have_count(1)
    expect(section.locator("a", has_text="CVE-2026-4242")).to_have_attribute(
        "href", re.compile(r"/ui/blast-radius\?vulnerability=CVE-2026-4242")
    )
    shot(page, "artifact-vulnerabilities")
    running = [
        d for d in httpx.get(f"{url}/v1/deployments").json()["items"] if d["digest"] == digest
    ]
    assert running and all(d["severity"] == "critical" for d in running)
    page.goto(f"{url}/ui/deployments")
    marked = page.locator('#matrix .cell:has(.vulnerable[data-severity="critical"])')
    expect(marked).to_have_count(len(running))
    expect(marked.first).to_contain_text(digest.removeprefix("sha256:")[:12])
    shot(page, "deployments-vulnerable")
