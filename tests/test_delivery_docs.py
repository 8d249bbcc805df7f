"""The DuckDB blocks of docs/delivery.md run on a real export holding a duplicated file."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb

from openfeature_s3_export import EventExporter, FileSink
from openfeature_s3_export.cli._duckdb import view_sql

DOC = Path(__file__).parent.parent / "docs" / "delivery.md"


def test_the_deduplication_snippets_keep_one_row_per_event_id(tmp_path: Path) -> None:
    exporter = EventExporter(FileSink(tmp_path), register_atexit=False)
    for seq in range(50):
        exporter.track("e", attributes={"seq": seq})
    assert exporter.shutdown(10)
    (original,) = tmp_path.rglob("*.json.gz")
    shutil.copy(original, original.with_name("replayed-" + original.name))  # at-least-once

    blocks = re.findall(r"^```sql\n(-- duckdb: (\w+)\n.*?)^```", DOC.read_text(), flags=re.M | re.S)
    assert {name for _, name in blocks} == {"duplicates_after_an_outage", "one_row_per_event"}
    db = duckdb.connect()
    db.execute(view_sql(str(tmp_path)))
    sql = dict((name, body) for body, name in blocks)
    assert db.execute(sql["duplicates_after_an_outage"]).fetchall() == [(50,)]
    db.execute(sql["one_row_per_event"])
    assert db.execute("SELECT count(*), count(DISTINCT event_id) FROM flag_events_once").fetchall() == [
        (50, 50)
    ]
