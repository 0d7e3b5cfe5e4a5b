"""Console page timings on a large graph (not a test).

Builds the query benchmark's graph (`bench/ingest.py`'s `build_graph`: commits, builds,
5 images each, tags, pulls, deployments) on SQLite, serves it, then times, for `--samples`
random artifacts and commits:

* the requests the artifact page makes (`GET /v1/artifacts/{d}`, `/timeline`,
  `/lineage?depth=2`, `/v1/tags/history` per tag), sequentially: the page's API time;
* the first blast-radius page by commit (`POST /v1/incidents/blast-radius`);
* the catalog: `/v1/search?q=<12-hex prefix>`, `/v1/artifacts?limit=25`, `/v1/repositories`;
* with `--browser` (needs /usr/bin/chromium): the artifact page and the blast-radius page
  in Chromium, from navigation until the graph / the counts are drawn ("usable").

    .venv/bin/python bench/console.py --artifacts 70000 --samples 20 --browser
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import build_graph, kept_graph

from provenance.settings import Settings
from tests.browser.conftest import _Server

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"p50 {statistics.median(values) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


def _timed(client: httpx.Client, method: str, url: str, **kw: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    r = client.request(method, url, **kw)
    elapsed = time.perf_counter() - t
    r.raise_for_status()
    return elapsed, r.json()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--artifacts", type=int, default=10_000)
    p.add_argument("--pulls-per-artifact", type=float, default=0.5)
    p.add_argument("--delivery-events", type=int, default=5_000)
    p.add_argument("--projection-batch", type=int, default=2)
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--browser", action="store_true")
    p.add_argument("--window-events", type=int, default=20_000, help="projection-rate window")
    p.add_argument(
        "--db", type=Path, help="keep the built graph in this SQLite file, or reuse it if it exists"
    )
    args = p.parse_args()
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if args.db is not None:
        built, plan, db = kept_graph(args.db, args)
        url = f"sqlite:///{args.db}"
    else:
        workdir = Path(tempfile.mkdtemp(prefix="console-bench-"))
        url = f"sqlite:///{workdir / 'graph.db'}"
        built, plan, db = build_graph(url, args)
    if built is not None:
        print(
            f"graph: {built.events} events, {built.artifacts} artifacts, {built.nodes} nodes, "
            f"{built.edges} edges (built in {built.project_seconds:.0f}s)"
        )
    rng = random.Random(args.seed)
    with (
        _Server(Settings(database_url=url), db) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        listing = client.get("/v1/artifacts", params={"limit": 1000}).json()["items"]
        digests = rng.sample([a["digest"] for a in listing], min(args.samples, len(listing)))
        commits = rng.sample(plan.commits, min(args.samples, len(plan.commits)))
        page_times, blast_times, search_times, list_times = [], [], [], []
        for d in digests:
            t0 = time.perf_counter()
            _, view = _timed(client, "GET", f"/v1/artifacts/{d}")
            _timed(client, "GET", f"/v1/artifacts/{d}/timeline", params={"limit": 200})
            _timed(client, "GET", f"/v1/artifacts/{d}/lineage", params={"depth": 2})
            for tag in {(t["repository"], t["tag"]) for t in view["tags"]}:
                _timed(
                    client, "GET", "/v1/tags/history", params={"repository": tag[0], "tag": tag[1]}
                )
            page_times.append(time.perf_counter() - t0)
            search_times.append(_timed(client, "GET", "/v1/search", params={"q": d[7:19]})[0])
        for sha in commits:
            blast_times.append(
                _timed(client, "POST", "/v1/incidents/blast-radius", json={"commit": sha})[0]
            )
        for _ in range(args.samples):
            list_times.append(_timed(client, "GET", "/v1/artifacts", params={"limit": 25})[0])
        repo_times = [_timed(client, "GET", "/v1/repositories")[0] for _ in range(args.samples)]
        print(f"artifact page, API requests ({len(page_times)}):  {_ms(page_times)}")
        print(f"blast radius by commit, first page:    {_ms(blast_times)}")
        print(f"search by a 12-hex digest prefix:      {_ms(search_times)}")
        print(f"GET /v1/artifacts?limit=25:            {_ms(list_times)}")
        print(f"GET /v1/repositories (one page):       {_ms(repo_times)}")
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
