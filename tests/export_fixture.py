"""A hand-made export whose report figures are worked out by hand (see EXPECTED).

Flag ``exp`` (metric ``buy``), times in minutes after 2026-03-01T10:00Z:

- control: c1 exposed at 1 and 5, buys at 10 (10.0; this row is delivered twice);
  c2 exposed at 2, bought at 0 (99.0, before exposure: ignored); c3 exposed at 3, no buy;
  c4 exposed at 4, buys at 6 (20.0) and 7 (30.0).
- treatment: t1 exposed at 1 (delivered twice), buys at 2 (50.0); t2 exposed at 2, buys at 3
  (70.0); t3 exposed at 3, then served *control* at 8 (counts in treatment, seen in two
  variants), buys at 9 (5.0); t4 exposed at 4, only a ``view`` event.
- e1: an error row for ``exp`` (no variant: not an exposure); c1 also evaluates ``other``.
- Flag ``skewed``: 40 units in control, 10 in treatment (a sample ratio mismatch).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

from openfeature_s3_export import COLUMNS

T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.timezone.utc)

EXPECTED: dict[str, dict[str, Any]] = {
    "control": {
        "exposures": 6,  # c1 x2, c2, c3, c4, and t3's later control exposure
        "units": 4,
        "multi_variant_units": 0,
        "converted_units": 2,
        "conversion_rate": 0.5,
        "metric_events": 3,
        "mean_metric_value": 20.0,
        "events_before_exposure": 1,
    },
    "treatment": {
        "exposures": 4,
        "units": 4,
        "multi_variant_units": 1,
        "converted_units": 3,
        "conversion_rate": 0.75,
        "metric_events": 3,
        "mean_metric_value": 125.0 / 3,
        "events_before_exposure": 0,
        # p = 0.75, q = 0.5: diff 0.25 +- 1.96 * sqrt(.75*.25/4 + .5*.5/4) = 0.25 +- 0.6482
        "diff": 0.25,
        "diff_low": -0.398197,
        "diff_high": 0.898197,
        # lift 1.5 - 1; Katz: exp(ln 1.5 +- 1.96 * sqrt(1/3 - 1/4 + 1/2 - 1/4)) - 1
        "lift": 0.5,
        "lift_low": -0.516218,
        "lift_high": 3.650854,
    },
}
SKEWED_CHI_SQUARE = 18.0  # 40 vs 10 against 25/25: 2 * 15**2 / 25


def _event_id(n: int) -> str:
    return f"0190aaaa-{n:04x}-7000-8000-{n:012x}"


def make_row(n: int, kind: str, minute: float, unit: str, **columns: Any) -> dict[str, Any]:
    """A complete schema v1 row (every column present) at *minute* after T0."""
    ts = T0 + dt.timedelta(minutes=minute)
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        schema_version=1,
        event_id=_event_id(n),
        kind=kind,
        timestamp=ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        vendor="in-memory",
        targeting_key=unit,
        context='{"kind":"user"}',
        context_kind="user",
        library_version="0.1.0",
        environment="test",
    )
    if kind == "evaluation":
        row.update(flag_type="boolean", value="true", default_value="false", reason="SPLIT")
        row.update(is_default_value=False, flag_metadata="{}", vendor_details="{}")
    else:
        row.update(attributes="{}")
    row.update(columns)
    return row


def fixture_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, rows delivered a second time)."""
    n = iter(range(1, 10_000))

    def ev(minute: float, unit: str, variant: str | None, flag: str = "exp") -> dict[str, Any]:
        extra: dict[str, Any] = {"flag_key": flag, "variant": variant}
        if variant is None:
            extra.update(reason="ERROR", error_code="GENERAL", is_default_value=True, value="false")
        return make_row(next(n), "evaluation", minute, unit, **extra)

    def tr(minute: float, unit: str, value: float | None, name: str = "buy") -> dict[str, Any]:
        return make_row(next(n), "track", minute, unit, event_name=name, metric_value=value)

    rows = [
        tr(0, "c2", 99.0),
        ev(1, "c1", "control"),
        ev(1, "t1", "treatment"),
        ev(2, "c2", "control"),
        ev(2, "t2", "treatment"),
        tr(2, "t1", 50.0),
        ev(3, "c3", "control"),
        ev(3, "t3", "treatment"),
        tr(3, "t2", 70.0),
        ev(4, "c4", "control"),
        ev(4, "t4", "treatment"),
        ev(5, "c1", "control"),
        ev(5, "e1", None),
        ev(5, "c1", "on", flag="other"),
        tr(6, "c4", 20.0),
        tr(7, "c4", 30.0),
        ev(8, "t3", "control"),
        tr(9, "t3", 5.0),
        tr(10, "c1", 10.0),
        tr(11, "t4", 1.0, name="view"),
    ]
    rows += [ev(70 + i, f"s{i:02d}", "control" if i < 40 else "treatment", flag="skewed") for i in range(50)]
    duplicates = [
        r for r in rows if (r["targeting_key"], r["kind"]) in (("c1", "track"), ("t1", "evaluation"))
    ]
    return rows, duplicates


def _partition(row: dict[str, Any]) -> str:
    return f"dt={row['timestamp'][:10]}/hour={row['timestamp'][11:13]}"


def _by_partition(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(_partition(row), []).append(row)
    return out


def ndjson_files(rows: list[dict[str, Any]], duplicates: list[dict[str, Any]]) -> dict[str, bytes]:
    """Relative path -> gzip NDJSON bytes, as FileSink lays them out (duplicates in other files)."""
    files: dict[str, bytes] = {}
    for name, batch in (("part-1", rows), ("part-2-redelivered", duplicates)):
        for partition, part in _by_partition(batch).items():
            text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in part)
            files[f"{partition}/{name}.json.gz"] = gzip.compress(text.encode())
    return files


def parquet_files(rows: list[dict[str, Any]], duplicates: list[dict[str, Any]]) -> dict[str, bytes]:
    """The same files as Parquet with the library's Arrow schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from openfeature_s3_export.sinks.parquet import arrow_schema

    files: dict[str, bytes] = {}
    for name, batch in (("part-1", rows), ("part-2-redelivered", duplicates)):
        for partition, part in _by_partition(batch).items():
            typed = [
                {**r, "timestamp": dt.datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))}
                for r in part
            ]
            sink = pa.BufferOutputStream()
            pq.write_table(pa.Table.from_pylist(typed, schema=arrow_schema()), sink)
            files[f"{partition}/{name}.parquet"] = sink.getvalue().to_pybytes()
    return files


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    """Write *files* under *root* and return it."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root
