"""A producer process for the kill -9 test: tracks events into an S3Sink with a spill directory.

``python chaos_producer.py ENDPOINT BUCKET SPILL_DIR RUN COUNT RATE``: prints a JSON line of
progress every 100 events (``produced``, ``spilled``) and, once done, ``{"done": ...}``; then
waits to be killed.  With COUNT 0 it only replays: it exits once nothing is left to replay.
"""

from __future__ import annotations

import json
import os
import sys
import threading

from openfeature_s3_export import EventExporter, S3Sink

endpoint, bucket, spill_dir, run, count, rate = sys.argv[1:7]
exporter = EventExporter(
    S3Sink(bucket, endpoint_url=endpoint, connect_timeout=1, read_timeout=2),
    spill_dir=spill_dir,
    max_batch_size=200,
    max_queue_size=1000,
    flush_interval=0.25,
    export_timeout=2.0,
)
pause = threading.Event()


def report(**extra: object) -> None:
    stats = exporter.stats()
    keys = ("enqueued", "exported", "spilled", "replayed", "spill_adopted", "spill_backlog_events", "dropped")
    print(json.dumps({k: stats.get(k, 0) for k in keys} | extra), flush=True)


if int(count) == 0:
    # Replay only: until every segment in the directory is delivered.
    while exporter.stats()["spill_adopted"] == 0 or any(n.endswith(".seg") for n in os.listdir(spill_dir)):
        pause.wait(0.05)
    exporter.shutdown(10)
    report(done=True)
    sys.exit(0)

step = max(int(float(rate) / 100), 1)
for seq in range(int(count)):
    exporter.track("chaos", attributes={"run": run, "seq": seq})
    if seq % 100 == 99:
        report(produced=seq + 1)
    if seq % step == step - 1:
        pause.wait(0.01)
report(produced=int(count), done=True)
pause.wait()
