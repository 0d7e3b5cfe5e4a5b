"""The framework's own floor: a bare faust agent that only counts messages.

Run by bench/kafka.py as `python bench/faust_floor.py worker -l warn` with
FLOOR_BROKER, FLOOR_TOPIC, FLOOR_COUNT, FLOOR_OUT and FLOOR_GROUP in the environment.
It iterates the stream one message at a time (what an agent without batching does) and,
when FLOOR_COUNT messages were seen, writes the time of the first and of the last one
to FLOOR_OUT as JSON. Nothing else happens per message: no decoding, no database.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import faust

COUNT = int(os.environ["FLOOR_COUNT"])
OUT = Path(os.environ["FLOOR_OUT"])

app = faust.App(
    os.environ.get("FLOOR_GROUP", "bench-floor"),
    broker=os.environ["FLOOR_BROKER"],
    key_serializer="raw",
    value_serializer="raw",
    store="memory://",
    web_enabled=False,
    broker_session_timeout=6.0,
    broker_rebalance_timeout=6.0,
    broker_heartbeat_interval=1.0,
    datadir=Path(tempfile.gettempdir()) / "provenance-bench-floor",
)
topic = app.topic(os.environ["FLOOR_TOPIC"], key_type=bytes, value_type=bytes)
seen = {"count": 0, "first": 0.0}


@app.agent(topic)
async def count(stream):  # the bare minimum, on purpose
    async for _value in stream:
        seen["count"] += 1
        if seen["count"] == 1:
            seen["first"] = time.time()
        if seen["count"] == COUNT:
            done = {"count": COUNT, "first": seen["first"], "last": time.time()}
            OUT.write_text(json.dumps(done))


if __name__ == "__main__":
    app.main()
