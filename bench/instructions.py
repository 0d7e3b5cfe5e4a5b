"""Instructions per unit of work, counted by callgrind (a benchmark, not a test).

Wall-clock figures on a shared 2-CPU VM move by 20-30% from one run to the next (the
host's load, and its memory reclaim dropping the database file from the page cache), so a
change of a few percent is invisible in them. Instructions executed are not: counted by
valgrind's callgrind, the same code on the same input gives the same count within 0.1%.
Each figure is a difference of two runs that do the same warm-up and then `n` and `2n`
units of work, so start-up, imports and the warm-up cancel out:

    actor    one CI actor's blast radius (first page with counts), warm, on a graph built
             by `bench/ingest.py --db F`: instructions per query
    ingest   the bench's Distribution stream through the domain as `provenance serve`
             takes it (normalize, hash-chained append, commit, project before the 202),
             requests of --batch events, on a fresh SQLite file: instructions per event of
             events n+1..2n (the cost at that graph size; the graph grows a little)

    .venv/bin/python bench/instructions.py actor --db /path/840k.sqlite [--n 2]
    .venv/bin/python bench/instructions.py ingest [--events 2000] [--batch 100]

Slow: valgrind runs Python about 50 times slower (a few minutes per figure).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest as bench  # bench/ingest.py: the same stream as its ingest part

from provenance.ingest.group_commit import GroupCommit
from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.query import blast_radius as blast
from provenance.store import Database


def _child_actor(db_path: Path, count: int, actor: str | None) -> None:
    plan = json.loads(Path(f"{db_path}.plan.json").read_text())
    who = actor or plan["actors"][0]
    db = Database(f"sqlite:///{db_path}")
    for _ in range(2 + count):  # two to warm the caches, then the counted ones
        with db.read() as session:
            blast.blast_radius(session, "actor", who)
    db.dispose()


def _child_ingest(events: int, batch: int, seed: int) -> None:
    stream = bench.DistributionStream(random.Random(seed), repositories=200)
    bodies = bench.envelopes(stream.generate(events), batch)
    with tempfile.TemporaryDirectory() as workdir:
        db = Database(f"sqlite:///{workdir}/bench.db")
        db.upgrade()
        runner = ProjectionRunner(db)
        group = GroupCommit(db, then=runner.try_catch_up)
        for body in bodies:
            delivery = Delivery(
                source="distribution",
                body=body,
                received_at=datetime.now(UTC),
                content_type=bench.DISTRIBUTION_TYPE,
                params={"registry": bench.REGISTRY_HOST},
                headers={"user-agent": "Go-http-client/1.1"},
            )
            ingest(db, delivery, SourceSecrets(), group=group)
        db.dispose()


def _instructions(child_args: list[str], workdir: Path) -> int:
    """Instructions callgrind counted for one run of this script in child mode."""
    out = workdir / f"callgrind.{time.monotonic_ns()}.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--child",
        *child_args,
    ]
    subprocess.run(command, check=True, capture_output=True)
    text = out.read_text(errors="replace")
    out.unlink()
    found = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.MULTILINE)
    if found is None:
        raise RuntimeError("no instruction total in callgrind's output")
    return int(found.group(1))


def _per_unit(make: Sequence[str], n: int, units: int, workdir: Path) -> tuple[float, int, int]:
    small = _instructions([*make, str(n)], workdir)
    large = _instructions([*make, str(2 * n)], workdir)
    return (large - small) / units, small, large


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--child":
        kind, *rest = argv[1:]
        if kind == "actor":
            db_path, actor, count = rest
            _child_actor(Path(db_path), int(count), actor or None)
        else:
            batch, seed, events = rest
            _child_ingest(int(events), int(batch), int(seed))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="kind", required=True)
    a = sub.add_parser("actor", help="instructions per warm CI-actor blast radius")
    a.add_argument("--db", type=Path, required=True, help="a graph built by bench/ingest.py --db")
    a.add_argument("--actor", default="", help="default: the plan's first CI actor")
    a.add_argument("--n", type=int, default=2, help="queries of the smaller run")
    i = sub.add_parser("ingest", help="instructions per event, accepted and projected")
    i.add_argument("--events", type=int, default=2_000, help="events of the smaller run")
    i.add_argument("--batch", type=int, default=100, help="events per request")
    i.add_argument("--seed", type=int, default=20260301)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.kind == "actor":
            make = ["actor", str(args.db), args.actor]
            per, small, large = _per_unit(make, args.n, args.n, workdir)
            print(f"actor blast radius, warm: {per / 1e6:,.1f}M instructions per query")
        else:
            # The larger run's stream starts with the smaller one's (one seeded generator).
            make = ["ingest", str(args.batch), str(args.seed)]
            per, small, large = _per_unit(make, args.events, args.events, workdir)
            print(
                f"ingest, {args.batch} events per request: {per / 1e3:,.0f}k instructions"
                f" per event (events {args.events + 1:,}..{2 * args.events:,})"
            )
        print(f"  (callgrind totals: {small:,} and {large:,})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
