"""The shipped JSON Schema describes, exactly, the rows the pipeline writes.

Rows come from the real pipeline (hook, TrackingProvider, worker, encoder) and are read back both
from the in-memory sink and from the gzip files a FileSink wrote, then validated one by one.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import gzip
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagType, Reason
from openfeature.hook import HookContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from openfeature.provider.metadata import Metadata
from openfeature.track import TrackingEventDetails

from openfeature_s3_export import (
    COLUMNS,
    SCHEMA_VERSION,
    EventExporter,
    ExportHook,
    FileSink,
    TrackingProvider,
    load_json_schema,
)
from openfeature_s3_export._capture import evaluation_record, track_record
from openfeature_s3_export._gate import Gate
from openfeature_s3_export._rows import RowBuilder
from openfeature_s3_export._source import Source
from openfeature_s3_export.privacy import ContextPolicy, Hashing
from openfeature_s3_export.sinks.parquet import arrow_schema
from openfeature_s3_export.testing import capture_events
from openfeature_s3_export.vendors._base import OPENFEATURE_REASONS
from openfeature_s3_export.volume import Sampling

ADDED_IN_V1 = ("sample_rate", "hash_key_id")
"""Nullable columns appended after v1's first release (docs/schema.md, schema_version policy)."""
JSON_TEXT_COLUMNS = ("value", "default_value", "context", "flag_metadata", "vendor_details", "attributes")
OBJECT_TEXT_COLUMNS = ("context", "flag_metadata", "vendor_details", "attributes")


class Colour(enum.Enum):
    RED = "red"


class Opaque:
    """An application object with no JSON form: exported as its str()."""

    def __str__(self) -> str:
        return "opaque-object"


FLAGS: dict[str, InMemoryFlag[Any]] = {
    "bool-flag": InMemoryFlag("on", {"on": True, "off": False}),
    "string-flag": InMemoryFlag("green", {"green": "#43a047", "rtl": "\u05e9\u05dc\u05d5\u05dd \u200f"}),
    "int-flag": InMemoryFlag("big", {"big": 2**53 + 1}),
    "float-flag": InMemoryFlag("half", {"half": 0.5}),
    "object-flag": InMemoryFlag("v1", {"v1": {"currency": "EUR", "discount": None, "tiers": [1, 2.5]}}),
    "list-flag": InMemoryFlag("l", {"l": ["a", None, {"b": [True]}]}),
    "null-flag": InMemoryFlag("nothing", {"nothing": None}),
    "unicode-\u2603-flag": InMemoryFlag("\u2603", {"\u2603": "caf\u00e9 \U0001f600 \x00 end"}),
}

ODD_CONTEXT: dict[str, Any] = {
    "kind": "user",
    "signed_up": dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    "naive": dt.datetime(2024, 1, 1, 12, 0),
    "birthday": dt.date(1990, 5, 17),
    "balance": decimal.Decimal("12345678901234567890.000000001"),
    "token": b"\x00\xffbinary",
    "roles": {"admin", "editor"},
    "frozen": frozenset({3, 1, 2}),
    "colour": Colour.RED,
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "object": Opaque(),
    "nested": {"deep": [{"when": dt.time(8, 30)}, (1, 2)], "nan": float("nan")},
    "unicode": "\u202eevil\u202c \U0001f3f3\ufe0f\u200d\U0001f308 \u2028",
    "huge": 10**30,
}


def run_scenario(client: OpenFeatureClient, exporter: EventExporter) -> int:
    """Evaluations and track events covering every flag type, errors and odd values.

    Returns how many events it produced.
    """
    produced = 0
    plain = EvaluationContext("user-1", {"kind": "user", "country": "fr"})
    odd = EvaluationContext("\u00fcser-\U0001f600", ODD_CONTEXT)
    for ctx in (plain, odd, EvaluationContext()):
        client.get_boolean_value("bool-flag", False, ctx)
        client.get_string_value("string-flag", "#000", ctx)
        client.get_integer_value("int-flag", 0, ctx)
        client.get_float_value("float-flag", 0.0, ctx)
        client.get_object_value("object-flag", {}, ctx)
        client.get_object_value("list-flag", [], ctx)
        client.get_object_value("null-flag", {"fallback": True}, ctx)  # null value: TYPE_MISMATCH row
        client.get_string_value("unicode-\u2603-flag", "", ctx)
        client.get_boolean_value("missing-flag", False, ctx)  # FLAG_NOT_FOUND
        client.get_integer_value("string-flag", 7, ctx)  # TYPE_MISMATCH
        produced += 10
        client.track("purchase", ctx, TrackingEventDetails(value=42.5, attributes={"items": 3, "sku": "a"}))
        client.track("page-view", ctx)  # no metric value, no attributes
        client.track(
            "odd-\u2603",
            ctx,
            TrackingEventDetails(
                value=1, attributes={"when": dt.datetime(2025, 1, 1), "tags": {"x"}, "obj": Opaque()}
            ),
        )
        produced += 3
    exporter.track("signup", plain, 0.0, {"plan": "free"})  # no client: no provider
    exporter.track("signup", plain, None, None, provider_name="custom", domain="checkout")
    return produced + 2


def _provider(exporter: EventExporter) -> TrackingProvider:
    return TrackingProvider(InMemoryProvider(FLAGS), exporter)


def _vendor_rows() -> list[dict[str, Any]]:
    """Rows normalised by the LaunchDarkly, Split and flagd rules (records built as their SDKs would)."""

    def record(provider: str, reason: Any, metadata: dict[str, Any], **details: Any) -> tuple[Any, ...]:
        hook_context = HookContext(
            flag_key="f",
            flag_type=FlagType.STRING,
            default_value="d",
            evaluation_context=EvaluationContext("u1", {"kind": "organization"}),
            provider_metadata=Metadata(name=provider),
        )
        return evaluation_record(
            hook_context,
            FlagEvaluationDetails(
                flag_key="f",
                value=details.pop("value", "v"),
                reason=reason,
                flag_metadata=metadata,
                **details,
            ),
        )

    records = [
        record("launchdarkly-openfeature-server", "FALLTHROUGH", {"variationIndex": 1, "inExperiment": True}),
        record(
            "launchdarkly-openfeature-server",
            "RULE_MATCH",
            {"variationIndex": 0, "ruleId": "r", "ruleIndex": 0},
        ),
        record(
            "launchdarkly-openfeature-server", "PREREQUISITE_FAILED", {"prerequisiteKey": "p"}, variant="0"
        ),
        record("Split", Reason.TARGETING_MATCH, {"config": '{"size": 3}'}, variant="on"),
        record(
            "Split",
            Reason.DEFAULT,
            {"config": None},
            variant="control",
            value="d",
            error_code=ErrorCode.FLAG_NOT_FOUND,
        ),
        record(
            "FlagdProvider",
            Reason.STATIC,
            {"flagSetId": "shop", "version": "v1", "scope": "web"},
            variant="a",
        ),
        record("Some Future Provider", "VENDOR_SPECIFIC", {}, variant="x"),
    ]
    builder = RowBuilder(Source(service_name="svc", environment="test", host="h"))
    return [json.loads(builder.encode(r).data) for r in records]


def _policy_rows() -> list[dict[str, Any]]:
    """Rows written with hashing and sampling on: ``hash_key_id`` and ``sample_rate`` filled."""
    gate = Gate(
        context_policy=ContextPolicy(hashed={"email"}),
        hashing=Hashing("s" * 32, key_id="2026-11"),
        sampling=Sampling(rate=1.0, per_flag={"f": 0.9}),
    )
    builder = RowBuilder(Source(host="h"), gate=gate)
    context = EvaluationContext("u1", {"email": "ada@example.com", "kind": "user"})
    hook_context = HookContext(
        flag_key="f", flag_type=FlagType.STRING, default_value="d", evaluation_context=context
    )
    records = [
        evaluation_record(hook_context, FlagEvaluationDetails(flag_key="f", value="v", variant="a")),
        track_record("buy", None, None, "u1", {"email": "ada@example.com"}, 1.0, {"sku": "x"}),
    ]
    # u1 is in the sample at 0.9 (its BLAKE2b position is 0.82): both rows are written.
    lines = [builder.encode_gated(r) for r in records]
    return [json.loads(line.data) for line in lines if line is not None]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return load_json_schema()


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    # Without these checkers "format" would be an annotation only and the tests below weaker.
    assert {"date-time", "uuid"} <= set(checker.checkers), "install rfc3339-validator for date-time"
    return jsonschema.Draft202012Validator(schema, format_checker=checker)


@pytest.fixture(scope="module")
def pipeline_rows() -> Iterator[list[dict[str, Any]]]:
    with capture_events(service_name="shop", environment="test") as captured:
        api.set_provider_and_wait(_provider(captured.exporter))
        produced = run_scenario(api.get_client("checkout"), captured.exporter)
        rows = captured.rows()
        stats = captured.exporter.stats()
    api.shutdown()
    assert (len(rows), stats["exported"]) == (produced, produced), dict(stats)
    yield rows


@pytest.fixture(scope="module")
def file_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("file-sink")
    exporter = EventExporter(
        FileSink(directory), service_name="shop", environment="test", max_batch_size=7, register_atexit=False
    )
    hook = ExportHook(exporter)
    api.add_hooks([hook])
    try:
        api.set_provider_and_wait(_provider(exporter))
        produced = run_scenario(api.get_client("checkout"), exporter)
        assert exporter.shutdown(timeout=30)
    finally:
        api.shutdown()
        api.clear_hooks()
    rows = []
    for path in sorted(directory.rglob("*.json.gz")):
        assert path.parent.parent.name.startswith("dt=") and path.parent.name.startswith("hour=")
        with gzip.open(path, "rb") as fh:
            for line in fh:
                assert line.endswith(b"\n") and line.count(b"\n") == 1
                rows.append(json.loads(line))
    assert len(rows) == produced
    return rows


@pytest.fixture(scope="module")
def all_rows(pipeline_rows: list[dict[str, Any]], file_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return pipeline_rows + file_rows + _vendor_rows() + _policy_rows()


# -- the schema document --------------------------------------------------------------------


def test_properties_and_required_are_the_columns_in_order(schema: dict[str, Any]) -> None:
    assert tuple(schema["properties"]) == COLUMNS
    # Every column is always written, null or not; the columns added within v1 after its
    # first release are not required, so that rows written before them still validate.
    assert tuple(schema["required"]) == COLUMNS[: -len(ADDED_IN_V1)]
    assert COLUMNS[-len(ADDED_IN_V1) :] == ADDED_IN_V1
    assert schema["additionalProperties"] is False
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_every_column_is_described_and_typed(schema: dict[str, Any]) -> None:
    for name, prop in schema["properties"].items():
        assert len(prop.get("description", "")) > 20, name
        assert "type" in prop, name
    for name in JSON_TEXT_COLUMNS:
        assert schema["properties"][name]["contentMediaType"] == "application/json"
    assert schema["properties"]["kind"]["enum"] == ["evaluation", "track"]
    reasons = schema["properties"]["reason"]["enum"]
    assert set(reasons) - {None} == OPENFEATURE_REASONS and None in reasons


def _json_types(prop: dict[str, Any]) -> set[str]:
    types = prop["type"]
    return {types} if isinstance(types, str) else set(types)


def test_schema_agrees_with_parquet_types_and_nullability(schema: dict[str, Any]) -> None:
    pyarrow = pytest.importorskip("pyarrow")
    arrow = arrow_schema()
    assert tuple(arrow.names) == COLUMNS
    expected = {
        "string": pyarrow.string(),
        "integer": pyarrow.int32(),
        "boolean": pyarrow.bool_(),
        "number": pyarrow.float64(),
    }
    for field in arrow:
        types = _json_types(schema["properties"][field.name])
        assert field.nullable == ("null" in types), field.name
        (json_type,) = types - {"null"}
        if field.name == "timestamp":  # RFC 3339 text in JSON, a real UTC timestamp in Parquet
            assert field.type == pyarrow.timestamp("us", tz="UTC")
        else:
            assert field.type == expected[json_type], field.name


def test_load_json_schema_returns_a_fresh_copy() -> None:
    first = load_json_schema()
    first["properties"].clear()
    assert tuple(load_json_schema()["properties"]) == COLUMNS


# -- real rows ------------------------------------------------------------------------------


def test_pipeline_rows_validate(validator: jsonschema.Draft202012Validator, pipeline_rows: list[Any]) -> None:
    for row in pipeline_rows:
        validator.validate(row)


def test_file_sink_rows_validate(validator: jsonschema.Draft202012Validator, file_rows: list[Any]) -> None:
    for row in file_rows:
        validator.validate(row)


def test_vendor_normalised_rows_validate(validator: jsonschema.Draft202012Validator) -> None:
    rows = _vendor_rows()
    for row in rows:
        validator.validate(row)
    assert {r["vendor"] for r in rows} == {"launchdarkly", "split", "flagd", "unknown"}
    assert [r["reason"] for r in rows] == [
        "SPLIT",
        "TARGETING_MATCH",
        "DISABLED",
        "TARGETING_MATCH",
        "ERROR",
        "STATIC",
        "UNKNOWN",
    ]


def test_file_rows_are_the_pipeline_rows(pipeline_rows: list[Any], file_rows: list[Any]) -> None:
    def comparable(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            tuple(json.dumps(r[c], sort_keys=True) for c in COLUMNS if c not in ("event_id", "timestamp"))
            for r in rows
        )

    assert comparable(pipeline_rows) == comparable(file_rows)


def test_scenario_covers_every_case(all_rows: list[dict[str, Any]]) -> None:
    evaluations = [r for r in all_rows if r["kind"] == "evaluation"]
    tracks = [r for r in all_rows if r["kind"] == "track"]
    assert {r["flag_type"] for r in evaluations} == {"boolean", "string", "integer", "float", "object"}
    assert {r["error_code"] for r in evaluations} >= {None, "FLAG_NOT_FOUND", "TYPE_MISMATCH"}
    assert {r["metric_value"] for r in tracks} >= {None, 42.5, 1.0, 0.0}
    assert any(r["targeting_key"] is None for r in all_rows)
    values = {json.dumps(json.loads(r["value"])) for r in evaluations}
    assert {"true", "9007199254740993", "0.5", '["a", null, {"b": [true]}]'} <= values
    # Every column is non-null somewhere, so the one-type-per-column check covers all of them.
    assert [c for c in COLUMNS if all(r[c] is None for r in all_rows)] == []


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def test_one_json_type_per_column(schema: dict[str, Any], all_rows: list[dict[str, Any]]) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for row in all_rows:
        for column, value in row.items():
            if value is not None:
                seen[column].add(_json_type(value))
    for column in COLUMNS:
        assert len(seen[column]) == 1, (column, seen[column])
        assert seen[column] <= _json_types(schema["properties"][column]), column


def test_json_text_columns_parse(all_rows: list[dict[str, Any]]) -> None:
    for row in all_rows:
        for column in JSON_TEXT_COLUMNS:
            if row[column] is not None:
                parsed = json.loads(row[column])
                if column in OBJECT_TEXT_COLUMNS:
                    assert isinstance(parsed, dict), (column, row[column])


def test_odd_context_values_have_stable_json_forms(pipeline_rows: list[dict[str, Any]]) -> None:
    row = next(r for r in pipeline_rows if r["targeting_key"] == "\u00fcser-\U0001f600")
    context = json.loads(row["context"])
    assert context["signed_up"] == "2024-03-01T04:59:59.123456Z"  # converted to UTC
    assert context["naive"] == "2024-01-01T12:00:00Z"  # naive datetimes are taken as UTC
    assert context["birthday"] == "1990-05-17"
    assert context["balance"] == "12345678901234567890.000000001"  # no float rounding
    assert context["token"] == "AP9iaW5hcnk="
    assert context["roles"] == ["admin", "editor"] and context["frozen"] == [1, 2, 3]
    assert (context["colour"], context["object"]) == ("red", "opaque-object")
    assert context["nested"] == {"deep": [{"when": "08:30:00"}, [1, 2]], "nan": "NaN"}
    assert context["unicode"] == ODD_CONTEXT["unicode"]
    assert context["huge"] == 10**30
    assert row["context_kind"] == "user"


# -- the schema rejects what the library never writes ---------------------------------------


def _mutations() -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    def setter(column: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda row: row.__setitem__(column, value)

    return [
        ("extra column", setter("latency_us", 3)),
        ("missing column", lambda row: row.pop("host")),
        ("unknown kind", setter("kind", "exposure")),
        ("schema v2", setter("schema_version", 2)),
        ("uuid4 event id", setter("event_id", str(uuid.UUID(int=0x1234, version=4)))),
        ("non-UTC timestamp", setter("timestamp", "2026-01-01T00:00:00.000000+01:00")),
        ("impossible date", setter("timestamp", "2026-02-30T00:00:00.000000Z")),
        ("value not JSON text", setter("value", True)),
        ("context as object", setter("context", {"kind": "user"})),
        ("null context", setter("context", None)),
        ("metric on evaluation", setter("metric_value", 1.0)),
        ("string is_default_value", setter("is_default_value", "false")),
        ("unknown reason", setter("reason", "FALLTHROUGH")),
        ("upper-case flag type", setter("flag_type", "BOOLEAN")),
        ("error without ERROR", setter("error_code", "GENERAL")),
        ("empty vendor", setter("vendor", "")),
    ]


@pytest.mark.parametrize(("label", "mutate"), _mutations(), ids=[m[0] for m in _mutations()])
def test_schema_rejects_rows_the_library_never_writes(
    validator: jsonschema.Draft202012Validator,
    pipeline_rows: list[dict[str, Any]],
    label: str,
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    row = dict(next(r for r in pipeline_rows if r["kind"] == "evaluation" and r["error_code"] is None))
    validator.validate(row)
    mutate(row)
    assert not validator.is_valid(row), label


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("flag_key", "f"),
        ("variant", "on"),
        ("is_default_value", False),
        ("event_name", None),
        ("attributes", None),
    ],
)
def test_track_rows_leave_evaluation_columns_null(
    validator: jsonschema.Draft202012Validator, pipeline_rows: list[dict[str, Any]], column: str, value: Any
) -> None:
    row = dict(next(r for r in pipeline_rows if r["kind"] == "track"))
    validator.validate(row)
    row[column] = value
    assert not validator.is_valid(row)


def test_a_file_sink_line_validates_with_the_shipped_schema(tmp_path: Path) -> None:
    """The NDJSON file a user would validate line by line with the shipped schema."""
    exporter = EventExporter(FileSink(tmp_path), register_atexit=False)
    exporter.track("e", EvaluationContext("u"), 1.5, {"a": "\u00e9"})
    assert exporter.shutdown(timeout=10)
    (path,) = tmp_path.rglob("*.json.gz")
    validator = jsonschema.Draft202012Validator(load_json_schema())
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    assert [validator.is_valid(json.loads(line)) for line in lines] == [True]


# -- docs/schema.md says the same ---------------------------------------------------------

SCHEMA_DOC = Path(__file__).parent.parent / "docs" / "schema.md"
PARQUET_NAMES = {"string": "string", "int32": "int32", "bool": "boolean", "double": "double"}


def _doc_table() -> list[list[str]]:
    rows = []
    for line in SCHEMA_DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 7:
            rows.append(cells)
    return rows


def test_schema_doc_lists_every_column_with_its_types(schema: dict[str, Any]) -> None:
    table = _doc_table()
    assert [cells[0].strip("`") for cells in table] == list(COLUMNS)
    arrow = arrow_schema()
    null_when: dict[str, set[str]] = {"evaluation": set(), "track": set()}
    for rule in schema["allOf"]:
        kind = rule["if"]["properties"].get("kind", {}).get("const")
        if kind is not None:
            null_when[kind] = {c for c, p in rule["then"]["properties"].items() if p == {"type": "null"}}
    for name, json_cell, parquet_cell, nullable, kinds, meaning, example in table:
        column = name.strip("`")
        types = _json_types(schema["properties"][column])
        assert json_cell.split()[0] in types, column
        assert (nullable == "yes") == ("null" in types), column
        field = arrow.field(column)
        if column == "timestamp":
            assert parquet_cell == "timestamp(µs, UTC)"
        else:
            assert parquet_cell == PARQUET_NAMES[str(field.type)], column
        expected_kinds = {"eval": {"track"}, "track": {"evaluation"}, "both": set()}[kinds]
        assert {k for k, cols in null_when.items() if column in cols} == expected_kinds, column
        assert meaning and example, column
