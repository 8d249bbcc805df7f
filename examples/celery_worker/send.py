"""Queue page views and purchases for the example worker: ``python send.py [N]``.

It only sends messages by task name, so it neither imports the tasks nor exports anything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from celery import Celery


def main(count: int) -> None:
    broker = Path(os.environ.get("BROKER_DIR", "./broker")).absolute()
    for name in ("queue", "processed", "control"):
        (broker / name).mkdir(parents=True, exist_ok=True)
    app = Celery("sender", broker="filesystem://")
    app.conf.broker_transport_options = {
        "data_folder_in": str(broker / "queue"),
        "data_folder_out": str(broker / "queue"),
        "control_folder": str(broker / "control"),
    }
    for i in range(count):
        app.send_task("tasks.render_home", args=[f"user-{i}", "fr"])
        app.send_task("tasks.purchase", args=[f"user-{i}", 42.5])
    print(f"queued {count} page views and {count} purchases")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
