"""Property tests: whatever an application puts in a context, a value or track attributes, the
encoder either writes one valid JSON line or raises EncodingError, and the pipeline then exports
that event with its odd values degraded (counted) while the rest of its batch lands intact.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagType, Reason
from openfeature.hook import HookContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from openfeature.provider.metadata import Metadata
from openfeature.track import TrackingEventDetails

from openfeature_s3_export import (
    COLUMNS,
    ContextPolicy,
    EncodingError,
    EventExporter,
    ExportHook,
    InMemorySink,
    Row,
    TrackingProvider,
    load_json_schema,
)
from openfeature_s3_export._capture import evaluation_record, track_record
from openfeature_s3_export._encoding import MAX_DEPTH, dumps, encode_row, to_json_value
from openfeature_s3_export._rows import RowBuilder
from openfeature_s3_export._source import Source

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VALIDATOR = jsonschema.Draft202012Validator(load_json_schema())

# -- application values ---------------------------------------------------------------------

ODD_PIECES = [
    "\ud800",  # lone high surrogate
    "\udfff",  # lone low surrogate
    "\x00",
    "\n",
    "\r",
    "\u2028",  # line separator: must not split an NDJSON line
    "\u200f",  # right-to-left mark
    "\u202e",  # right-to-left override
    "\ufeff",
    "\U0001f600",
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # ZWJ emoji sequence
    '"',
    "\\",
]
odd_text = st.lists(st.one_of(st.characters(), st.sampled_from(ODD_PIECES)), max_size=12).map("".join)
clean_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def _power_of_ten(exponent: int) -> int:
    """10**|exponent|, negative for a negative exponent (built lazily: hypothesis reprs strategies)."""
    return 10 ** abs(exponent) * (1 if exponent >= 0 else -1)


# Beyond 64 bits, and around CPython's 4300-digit limit on int <-> text conversion.
huge_ints = st.one_of(
    st.sampled_from([2**63, -(2**64) - 1]), st.sampled_from([19, 300, 4299, 4300, -5000]).map(_power_of_ten)
)


class Colour(enum.Enum):
    RED = "red"
    NESTED = ("tuple", 1)


class Size(enum.IntEnum):
    LARGE = 3


class Named:
    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Named) and other.name == self.name


class Hostile:
    """``str()`` raises: cannot be encoded."""

    def __str__(self) -> str:
        raise RuntimeError("no text form")

    def __hash__(self) -> int:
        return 1


class NotText:
    """``str()`` returns a non-string: ``str()`` raises TypeError."""

    def __str__(self) -> Any:
        return 42


custom_objects = st.one_of(
    st.builds(Named, odd_text),
    st.just(Hostile()),
    st.just(NotText()),
    st.sampled_from(list(Colour) + list(Size)),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    st.floats(),  # NaN and infinities included
    odd_text,
    st.datetimes(timezones=st.none() | st.timezones() | st.just(dt.timezone(dt.timedelta(hours=-5)))),
    st.sampled_from([dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-1))), dt.datetime.min]),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.decimals(),  # NaN, sNaN and infinities included
    st.binary(max_size=8),
    st.uuids(),
    custom_objects,
)
hashables = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), odd_text, st.uuids()
)
keys = st.one_of(
    odd_text, st.integers(), st.booleans(), st.none(), st.just(Hostile()), st.builds(Named, odd_text)
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(keys, children, max_size=4),
        st.frozensets(hashables, max_size=4),
        st.sets(hashables, max_size=4),
    )


def _cyclic(value: Any) -> Any:
    cycle: dict[str, Any] = {"value": value}
    cycle["self"] = [cycle]
    return cycle


def _deep(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


nested = st.recursive(scalars, _containers, max_leaves=12)
values = st.one_of(nested, nested.map(_cyclic), st.integers(MAX_DEPTH - 2, MAX_DEPTH + 2).map(_deep))


def _is_json_data(value: Any) -> bool:
    """Only the types json.loads can return, with string keys and finite floats."""
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_is_json_data(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json_data(v) for k, v in value.items())
    return False


def _typed(value: Any) -> Any:
    """JSON data with its types made explicit, so that 1, 1.0 and True compare different."""
    if isinstance(value, dict):
        return ("object", sorted((k, _typed(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", [_typed(v) for v in value])
    return (type(value).__name__, value)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- encoding.py ----------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(values)
def test_to_json_value_returns_json_data_or_raises_encoding_error(value: Any) -> None:
    try:
        converted = to_json_value(value)
    except EncodingError:
        return
    assert _is_json_data(converted)
    assert to_json_value(converted) == converted  # already JSON data: unchanged


@PROPERTY_SETTINGS
@given(values)
def test_dumps_is_one_line_of_json_that_round_trips(value: Any) -> None:
    try:
        text = dumps(value)
    except EncodingError:
        return
    assert "\n" not in text and "\r" not in text
    assert _typed(json.loads(text)) == _typed(to_json_value(value))


def _row_text(value: Any) -> str:
    """JSON text for a JSON-text column, from dumps or a deliberately odd string."""
    try:
        return dumps(value)
    except EncodingError:
        return "{}"


events = st.builds(
    Row,
    event_id=odd_text,
    kind=st.sampled_from(["evaluation", "track"]),
    timestamp=odd_text,
    provider=st.none() | odd_text,
    vendor=odd_text,
    targeting_key=st.none() | odd_text,
    context_kind=st.none() | odd_text,
    context=values.map(_row_text),
    library_version=odd_text,
    flag_key=st.none() | odd_text,
    value=st.none() | values.map(_row_text),
    is_default_value=st.none() | st.booleans(),
    metric_value=st.none() | st.floats(),
    attributes=st.none() | values.map(_row_text),
)


@PROPERTY_SETTINGS
@given(events, st.integers(0, 2**62))
def test_encode_event_writes_one_valid_line_or_raises(event: Row, timestamp_us: int) -> None:
    try:
        encoded = encode_row(event, timestamp_us)
    except EncodingError:
        row = event.to_dict()
        texts = [v for v in row.values() if isinstance(v, str)]
        metric = row["metric_value"]
        assert not all(map(_utf8, texts)) or (metric is not None and not math.isfinite(metric))
        return
    data = encoded.data
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    decoded = json.loads(data.decode("utf-8"))  # strict UTF-8: no lone surrogates
    assert list(decoded) == list(COLUMNS)
    assert _typed(decoded) == _typed(event.to_dict())
    assert encoded.timestamp_us == timestamp_us and encoded.routing_key == event.targeting_key


# -- rows.py: the cached fast path writes what a fresh builder writes -----------------------

# Values equal as dict keys (0 == False == 0.0) that encode differently: a cache keyed on
# equality alone would hand one of them another's JSON.  Few choices, so that records collide.
lookalikes = st.sampled_from([0, False, 0.0, 1, True, 1.0, "1", None])


@st.composite
def evaluation_records(draw: st.DrawFn) -> tuple[Any, ...]:
    provider = draw(
        st.sampled_from(["In-Memory Provider", "launchdarkly-openfeature-server", "FlagdProvider"])
    )
    hook_context = HookContext(
        flag_key="f",
        flag_type=FlagType.OBJECT,
        default_value=draw(lookalikes),
        evaluation_context=EvaluationContext(
            "u1", draw(st.dictionaries(st.sampled_from(["kind", "x"]), lookalikes))
        ),
        provider_metadata=Metadata(name=provider),
    )
    details = FlagEvaluationDetails(
        flag_key="f",
        value=draw(lookalikes),
        variant=draw(st.sampled_from([None, "on"])),
        reason=draw(st.sampled_from([Reason.STATIC, "FALLTHROUGH"])),
        flag_metadata=draw(
            st.dictionaries(
                st.sampled_from(["version", "variationIndex", "inExperiment"]), lookalikes, max_size=1
            )
        ),
    )
    return evaluation_record(hook_context, details)


@PROPERTY_SETTINGS
@given(st.lists(evaluation_records(), min_size=2, max_size=20))
def test_cached_rows_equal_fresh_rows(records: list[tuple[Any, ...]]) -> None:
    source = Source(service_name="svc", environment="test", host="h")
    shared = RowBuilder(source)
    for record in records:
        cached = json.loads(shared.encode(record).data)
        fresh = json.loads(RowBuilder(source).encode(record).data)
        plain = RowBuilder(source).build(record)[0].to_dict()
        for row in (cached, fresh, plain):
            del row["event_id"]
            for column in ("value", "default_value", "context", "flag_metadata", "vendor_details"):
                row[column] = _typed(json.loads(row[column]))
        assert cached == fresh == plain


def test_metadata_cache_keeps_1_true_and_1_0_apart() -> None:
    builder = RowBuilder(Source(host="h"))
    rows = []
    for version in (1, True, 1.0, 1):
        hook_context = HookContext(
            flag_key="f",
            flag_type=FlagType.BOOLEAN,
            default_value=False,
            evaluation_context=EvaluationContext("u"),
            provider_metadata=Metadata(name="FlagdProvider"),
        )
        details = FlagEvaluationDetails(
            flag_key="f", value=True, variant="on", flag_metadata={"version": version}
        )
        rows.append(json.loads(builder.encode(evaluation_record(hook_context, details)).data))
    assert [r["flag_metadata"] for r in rows] == [
        '{"version":1}',
        '{"version":true}',
        '{"version":1.0}',
        '{"version":1}',
    ]
    assert [r["vendor_details"] for r in rows] == [
        '{"flag_version":1}',
        '{"flag_version":true}',
        '{"flag_version":1.0}',
        '{"flag_version":1}',
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            '"9999-12-31T23:59:59.999999-05:00"',
        ),
        (dt.datetime.min.replace(tzinfo=dt.timezone(dt.timedelta(hours=5))), '"0001-01-01T00:00:00+05:00"'),
        (dt.datetime(2024, 6, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))), '"2024-06-01T10:00:00Z"'),
    ],
)
def test_datetimes_out_of_utc_range_keep_their_offset(value: dt.datetime, expected: str) -> None:
    assert dumps(value) == expected


@pytest.mark.parametrize(
    "value",
    [{Hostile(): 1}, {"a": Hostile()}, {"a": NotText()}, 10**5000, _cyclic(1)],
    ids=["key-str-raises", "str-raises", "str-not-text", "5000-digit-int", "cycle"],
)
def test_unencodable_values_raise_encoding_error_only(value: Any) -> None:
    with pytest.raises(EncodingError):
        dumps(value)


@pytest.mark.parametrize("metric", [float("nan"), float("inf")])
def test_encode_event_refuses_non_finite_metric(metric: float) -> None:
    event = Row(
        event_id="e",
        kind="track",
        timestamp="t",
        provider=None,
        vendor="unknown",
        targeting_key=None,
        context_kind=None,
        context="{}",
        library_version="v",
        metric_value=metric,
    )
    with pytest.raises(EncodingError):
        encode_row(event, 0)


@pytest.mark.parametrize(
    "metric",
    [10**400, float("nan"), "x", Hostile(), decimal.Decimal("sNaN")],
    ids=["400-digit-int", "nan", "text", "str-raises", "snan"],
)
def test_row_builder_refuses_bad_track_values_with_encoding_error(metric: Any) -> None:
    with pytest.raises(EncodingError):
        RowBuilder(Source(host="h")).encode(track_record("e", None, None, "u", None, metric, None))


# -- the pipeline, end to end ---------------------------------------------------------------

metrics = st.one_of(
    st.none(), st.floats(), st.integers(), huge_ints, st.decimals(), st.sampled_from(["12.5", "x"])
)
contexts = st.dictionaries(clean_text | odd_text, values, max_size=3)
operations = st.tuples(
    st.sampled_from(["evaluate", "client-track", "exporter-track"]),
    odd_text,  # targeting key suffix
    contexts,
    odd_text,  # event name
    metrics,
    contexts,  # track attributes
)


def _encodable(*values: Any) -> bool:
    """What the pipeline must export: every user value encodes to valid UTF-8 JSON."""
    try:
        return all(_utf8(dumps(value)) for value in values)
    except EncodingError:
        return False


MARKERS = ("<cycle>", "<too deep>", "<unencodable ", "...<truncated>")


def _valid_text(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _finite_number(value: Any) -> bool:
    """The documented rule for a track value: ``float(value)`` is a finite number (or None)."""
    if value is None:
        return True
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


@PROPERTY_SETTINGS
@given(st.lists(operations, min_size=1, max_size=6))
def test_pipeline_exports_every_event_and_counts_each_degraded_one(operations: list[Any]) -> None:
    sink = InMemorySink()
    exporter = EventExporter(
        sink, context_policy=ContextPolicy(honour_private_attributes=False), register_atexit=False
    )
    api.add_hooks([ExportHook(exporter)])
    flags = {"on": InMemoryFlag("y", {"y": True}), "object": InMemoryFlag("v", {"v": {"n": 1}})}
    api.set_provider_and_wait(TrackingProvider(InMemoryProvider(flags), exporter))
    client = api.get_client()
    expected: dict[str, bool] = {}  # targeting key -> must land
    contexts: dict[str, Any] = {}
    try:
        for n, (operation, suffix, context, name, metric, attributes) in enumerate(operations):
            # A good event before every odd one: they share a batch and must all land.
            client.get_boolean_value("on", False, EvaluationContext(f"good-{n}", {"kind": "user"}))
            expected[f"good-{n}"] = True
            key = f"op-{n}-{suffix}"
            contexts[key] = context
            ctx = EvaluationContext(key, context)
            if operation == "evaluate":
                client.get_object_value("object", {}, ctx)
                expected[key] = _encodable(key, context)
                continue
            if operation == "client-track":
                client.track(name, ctx, TrackingEventDetails(value=metric, attributes=attributes))
            else:
                exporter.track(name, ctx, metric, attributes)
            expected[key] = _encodable(key, context, name, attributes) and _finite_number(metric)
        client.get_boolean_value("on", False, EvaluationContext("good-last"))
        expected["good-last"] = True
        assert exporter.flush(timeout=30)
        stats = dict(exporter.stats())
    finally:
        api.clear_hooks()
        exporter.shutdown(timeout=10)

    landed: dict[str, dict[str, Any]] = {}
    for encoded in sink.lines:
        data = encoded.data
        assert data.endswith(b"\n") and data.count(b"\n") == 1
        row = json.loads(data.decode("utf-8"))  # strict: valid UTF-8 only
        VALIDATOR.validate(row)
        landed[row["targeting_key"]] = row
    # A targeting key with a lone surrogate lands with U+FFFD in its place.
    landed = {_valid_text(key): row for key, row in landed.items()}
    expected = {_valid_text(key): ok for key, ok in expected.items()}
    contexts = {_valid_text(key): context for key, context in contexts.items()}
    assert set(landed) == set(expected), "every event lands, odd values or not"
    odd = sum(not ok for ok in expected.values())
    degraded = sum(v for k, v in stats.items() if k.startswith("degraded."))
    assert stats["enqueued"] == stats["exported"] == len(landed) == len(expected)
    assert stats["dropped"] == 0
    assert odd or not degraded, "only odd events are degraded"
    marked = sum(any(m in json.dumps(row) for m in MARKERS) for row in landed.values())
    assert degraded >= marked, "every marker in the data is counted"
    for key, row in landed.items():
        if key in contexts and expected[key]:  # what landed is what the application passed
            assert _typed(json.loads(row["context"])) == _typed(to_json_value(contexts[key]))
