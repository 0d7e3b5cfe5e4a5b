"""Console page timings on a large graph (not a test).

Builds the query benchmark's graph (`bench/ingest.py`'s `build_graph`: commits, builds,
5 images each, tags, pulls, deployments) on SQLite, or reuses one (`--db`), serves it with
`provenance serve` in its own process (as `bench/ingest.py` does), then times over HTTP,
for `--samples` random artifacts and commits, the calls each console page makes
(`api/console/static/app.js`), per call (p50 / p95) and per page, beside the budget
(issue 11: a page usable in < 1 s):

* the page shell (`/ui/...` and the scripts and stylesheet it loads, a first visit);
* artifact page: `GET /v1/artifacts/{d}`, then `/timeline?limit=200` and
  `/lineage?direction=both&depth=2`, then `/v1/tags/history` for each of its tags;
* first blast-radius page (`POST /v1/incidents/blast-radius`, `limit` 100: counts and the
  first page of every list), by commit, by digest, and by the widest key, a CI actor;
* the catalog: `/v1/search?q=<12-hex prefix>`, `/v1/artifacts?limit=25`, `/v1/repositories`;
* with `--browser` (needs /usr/bin/chromium): the artifact page and the blast-radius page
  in Chromium, from navigation until the graph / the counts are drawn ("usable").

A page's time is the sum of its calls made one after another: the browser overlaps the
timeline with the lineage, and the tag histories, so it is an upper bound of the API time.
Each API call also shows the server's CPU time for it (/proc, clock ticks of 10 ms: a p50
over many calls), which other work on the machine skews less than wall time.

    .venv/bin/python bench/console.py --db /path/to/graph.db --samples 20
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import Server, build_graph, kept_graph, percentile

from provenance.ingest.rebuild import REPLAY_EVENTS

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUDGET_MS = 1000.0  # issue 11: artifact page and first blast-radius page usable in < 1 s
BLAST_LIMIT = 100  # what the console asks for (`blastBody` in app.js)
SHELL_ASSETS = (  # what index.html loads before the page's first API call
    "/ui/static/console.css",
    "/ui/static/vendor/cytoscape/cytoscape.min.js",
    "/ui/static/vendor/cytoscape-dagre/cytoscape-dagre.min.js",
    "/ui/static/app.js",
    "/ui/static/api.js",
    "/ui/static/lineage.js",
)


def _ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1000:8.1f} ms   p95 {percentile(values, 95) * 1000:8.1f} ms"
    )


class Timer:
    """Times calls by name, and the pages they make up."""

    def __init__(self, client: httpx.Client, server: Server) -> None:
        self.client = client
        self.server = server  # its CPU time per call: a figure the machine's load skews less
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self.pages: dict[str, list[float]] = defaultdict(list)
        self._page = 0.0

    def call(self, name: str, method: str, url: str, **kw: Any) -> Any:
        cpu, t = self.server.cpu_seconds(), time.perf_counter()
        r = self.client.request(method, url, **kw)
        body = r.content
        elapsed = time.perf_counter() - t
        self.cpu[name].append(self.server.cpu_seconds() - cpu)
        r.raise_for_status()
        self.calls[name].append(elapsed)
        self._page += elapsed
        return (
            r.json() if r.headers.get("content-type", "").startswith("application/json") else body
        )

    def shell(self, path: str) -> None:
        """The page's HTML and what it loads (a first visit: nothing cached)."""
        t = time.perf_counter()
        for url in (path, *SHELL_ASSETS):
            r = self.client.get(url)
            r.raise_for_status()
        elapsed = time.perf_counter() - t
        self.calls["shell: HTML, scripts, stylesheet"].append(elapsed)
        self._page += elapsed

    def start(self) -> None:
        self._page = 0.0

    def end(self, page: str) -> None:
        self.pages[page].append(self._page)


def artifact_page(timer: Timer, digest: str) -> None:
    timer.start()
    timer.shell(f"/ui/artifacts/{digest}")
    view = timer.call("GET /v1/artifacts/{d}", "GET", f"/v1/artifacts/{digest}")
    timer.call(
        "GET /v1/artifacts/{d}/timeline?limit=200",
        "GET",
        f"/v1/artifacts/{digest}/timeline",
        params={"limit": 200},
    )
    timer.call(
        "GET /v1/artifacts/{d}/lineage?direction=both&depth=2",
        "GET",
        f"/v1/artifacts/{digest}/lineage",
        params={"direction": "both", "depth": 2},
    )
    for repository, tag in dict.fromkeys((t["repository"], t["tag"]) for t in view["tags"]):
        timer.call(
            "GET /v1/tags/history (each tag)",
            "GET",
            "/v1/tags/history",
            params={"repository": repository, "tag": tag},
        )
    timer.end("artifact page")


def blast_page(timer: Timer, key: str, value: str) -> int:
    """The first blast-radius page by `key`; returns how many items the counts hold."""
    timer.start()
    timer.shell(f"/ui/blast-radius?{key}={value}")
    answer = timer.call(
        f"POST /v1/incidents/blast-radius ({key}, first page)",
        "POST",
        "/v1/incidents/blast-radius",
        json={key: value, "limit": BLAST_LIMIT},
    )
    timer.end(f"blast-radius page by {key}")
    return int(sum(answer["counts"].values()))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--artifacts", type=int, default=10_000)
    p.add_argument("--pulls-per-artifact", type=float, default=0.5)
    p.add_argument("--delivery-events", type=int, default=5_000)
    p.add_argument("--projection-batch", type=int, default=500)
    p.add_argument("--projection-events", type=int, default=REPLAY_EVENTS)
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--actors", type=int, default=3, help="blast-radius pages by a CI actor")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--browser", action="store_true")
    p.add_argument("--window-events", type=int, default=20_000, help="projection-rate window")
    p.add_argument(
        "--db", type=Path, help="keep the built graph in this SQLite file, or reuse it if it exists"
    )
    args = p.parse_args()
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    workdir = Path(tempfile.mkdtemp(prefix="console-bench-"))
    if args.db is not None:
        built, plan, db = kept_graph(args.db, args)
        url = f"sqlite:///{args.db}"
    else:
        url = f"sqlite:///{workdir / 'graph.db'}"
        built, plan, db = build_graph(url, args)
    db.dispose()
    if built is not None:
        print(
            f"graph: {built.events} events, {built.artifacts} artifacts, {built.nodes} nodes, "
            f"{built.edges} edges (built in {built.project_seconds:.0f}s)"
        )
    rng = random.Random(args.seed)
    with (
        Server(url, workdir) as server,
        httpx.Client(base_url=server.url, timeout=300) as client,
    ):
        listing = client.get("/v1/artifacts", params={"limit": 1000}).json()["items"]
        digests = rng.sample([a["digest"] for a in listing], min(args.samples, len(listing)))
        commits = rng.sample(plan.commits, min(args.samples, len(plan.commits)))
        warm = Timer(client, server)  # caches and the connection pool, not counted
        for d, sha in zip(digests[:3], commits[:3], strict=False):
            artifact_page(warm, d)
            blast_page(warm, "commit", sha)
        timer = Timer(client, server)
        for d in digests:
            artifact_page(timer, d)
        for sha in commits:
            blast_page(timer, "commit", sha)
        for d in digests:
            blast_page(timer, "digest", d)
        reached = [blast_page(timer, "actor", a) for a in plan.actors[: args.actors]]
        for d in digests:
            timer.call(
                "GET /v1/search?q=<12-hex prefix>", "GET", "/v1/search", params={"q": d[7:19]}
            )
        for _ in range(args.samples):
            timer.call("GET /v1/artifacts?limit=25", "GET", "/v1/artifacts", params={"limit": 25})
            timer.call(
                "GET /v1/repositories?limit=50", "GET", "/v1/repositories", params={"limit": 50}
            )
        rss = server.peak_rss_mib()

        print(f"\nper call over HTTP (n each; sequential requests; server peak RSS {rss:.0f} MiB)")
        for name, values in timer.calls.items():
            cpu = timer.cpu.get(name)
            cpu_ms = f"   server CPU p50 {percentile(cpu, 50) * 1000:6.0f} ms" if cpu else ""
            print(f"  {name:<58} n {len(values):3d}   {_ms(values)}{cpu_ms}")
        print(f"\nper page: the sum of its calls, budget < {BUDGET_MS:.0f} ms")
        for name, values in timer.pages.items():
            p95 = percentile(values, 95) * 1000
            verdict = "within budget" if p95 < BUDGET_MS else "OVER BUDGET"
            print(f"  {name:<30} n {len(values):3d}   {_ms(values)}   {verdict} (p95)")
        if reached:
            print(f"  (CI actor pages: {statistics.fmean(reached):,.0f} items counted on average)")
        print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.browser:
            _browser(server.url, digests[:5], commits[:5])


def _browser(base: str, digests: list[str], commits: list[str]) -> None:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        art, blast = [], []
        for d in digests:
            t = time.perf_counter()
            page.goto(f"{base}/ui/artifacts/{d}")
            page.wait_for_selector("#graph[data-nodes]", timeout=60_000)
            page.wait_for_selector("#timeline table, #timeline p", timeout=60_000)
            art.append(time.perf_counter() - t)
        for sha in commits:
            t = time.perf_counter()
            page.goto(f"{base}/ui/blast-radius?commit={sha}")
            page.wait_for_selector("#counts", timeout=60_000)
            blast.append(time.perf_counter() - t)
        browser.close()
    print(f"Chromium: artifact page usable:        {_ms(art)}")
    print(f"Chromium: blast radius counts drawn:   {_ms(blast)}")


if __name__ == "__main__":
    main()
