"""The worker's cached fast path writes exactly the row the plain path builds."""

from __future__ import annotations

import json
import uuid
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagType, Reason
from openfeature.hook import HookContext
from openfeature.provider.metadata import Metadata

from openfeature_s3_export import COLUMNS, Row
from openfeature_s3_export._capture import evaluation_record
from openfeature_s3_export._encoding import encode_row
from openfeature_s3_export._ids import ID_COUNTER, rfc3339_us, uuid7
from openfeature_s3_export._rows import RowBuilder
from openfeature_s3_export._source import Source


def _record(
    flag_key: str = "f",
    flag_type: FlagType = FlagType.BOOLEAN,
    default: Any = False,
    value: Any = True,
    variant: str | None = "on",
    reason: Any = Reason.STATIC,
    error_code: ErrorCode | None = None,
    metadata: Any = None,
    targeting_key: str | None = "u1",
    attributes: Any = None,
    provider: str = "In-Memory Provider",
) -> tuple[Any, ...]:
    hook_context = HookContext(
        flag_key=flag_key,
        flag_type=flag_type,
        default_value=default,
        evaluation_context=EvaluationContext(targeting_key, attributes or {}),
        provider_metadata=Metadata(name=provider),
    )
    details = FlagEvaluationDetails(
        flag_key=flag_key,
        value=value,
        variant=variant,
        reason=reason,
        error_code=error_code,
        flag_metadata=metadata or {},
    )
    return evaluation_record(hook_context, details)


LD = "launchdarkly-openfeature-server"
CASES = [
    _record(),
    _record(value=False, variant="off"),
    _record(targeting_key="u2", attributes={"country": "fr", "kind": "org"}),
    _record(attributes={"nested": {"a": [1, 2]}, "when": "x"}),
    _record(flag_type=FlagType.INTEGER, default=0, value=1, variant="one"),
    _record(flag_type=FlagType.FLOAT, default=0.0, value=1.0, variant="one"),
    _record(flag_type=FlagType.OBJECT, default={}, value={"a": 1}, variant="obj"),
    _record(value=False, variant=None, reason=Reason.ERROR, error_code=ErrorCode.FLAG_NOT_FOUND),
    _record(reason="FALLTHROUGH", provider=LD, metadata={"variationIndex": 0}),
    _record(reason="FALLTHROUGH", provider=LD, metadata={"inExperiment": True}),
    _record(provider="Split", reason=Reason.TARGETING_MATCH, metadata={"config": '{"x":1}'}),
    _record(provider="FlagdProvider", metadata={"flagSetId": "shop", "version": "3"}),
    _record(targeting_key=None),
    _record(flag_type=FlagType.STRING, default="é", value="ünïcode ☕", variant="☕"),
]


@pytest.mark.parametrize("record", CASES)
def test_fast_path_matches_plain_row(record: tuple[Any, ...]) -> None:
    builder = RowBuilder(Source(service_name="svc", environment="test", host="h"))
    for _ in range(2):  # second round hits the fragment cache
        encoded = builder.encode(record)
        fast = json.loads(encoded.data)
        plain = builder.build(record)[0].to_dict()
        assert list(fast) == list(COLUMNS)
        assert {k: v for k, v in fast.items() if k != "event_id"} == {
            k: v for k, v in plain.items() if k != "event_id"
        }
        assert encoded.data.endswith(b"\n") and encoded.data.count(b"\n") == 1
        assert Row(**fast).flag_key == plain["flag_key"]


@pytest.mark.parametrize("record", CASES)
def test_fast_path_is_byte_for_byte_the_full_row(record: tuple[Any, ...]) -> None:
    """The line joined from cached parts is exactly encode_row() of the row build() makes."""
    builder = RowBuilder(Source(service_name="svc", environment="test", host="h"))
    for _ in range(2):  # the second round is served from the cache
        fast = builder.encode(record)
        row, timestamp_us = builder.build(record)
        decoded = json.loads(fast.data)
        same_stamps = attrs.evolve(row, event_id=decoded["event_id"], timestamp=decoded["timestamp"])
        assert encode_row(same_stamps, timestamp_us) == fast


def test_cache_never_mixes_up_true_and_one() -> None:
    builder = RowBuilder(Source(host="h"))
    as_bool = json.loads(builder.encode(_record(value=True)).data)
    as_int = json.loads(
        builder.encode(_record(flag_type=FlagType.INTEGER, default=0, value=1, variant="on")).data
    )
    assert (as_bool["value"], as_int["value"]) == ("true", "1")


def test_uuid7_is_valid_time_ordered_and_unique() -> None:
    # The 12-bit counter is process-wide and wraps: within one millisecond, ids sort only while
    # it does not wrap (docs/schema.md promises order to the millisecond, uniqueness within it).
    # Start it at 0, so that the order checked below does not depend on how many events the
    # tests before this one happened to encode (a random number with hypothesis tests).
    while next(ID_COUNTER) & 0xFFF != 0xFFF:
        pass
    ids = [uuid7(1_795_000_000_000_000_000 + i * 1000) for i in range(2000)]
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert ids == sorted(ids)
    assert len(set(ids)) == 2000
    same_instant = {uuid7(1_795_000_000_000_000_000) for _ in range(1000)}
    assert len(same_instant) == 1000


def test_rfc3339_microseconds_utc() -> None:
    assert rfc3339_us(1_795_000_000_123_456) == "2026-11-18T11:06:40.123456Z"
    assert rfc3339_us(0) == "1970-01-01T00:00:00.000000Z"


def test_negative_zero_is_not_served_from_the_positive_zero_cache() -> None:
    """Same flag, same variant, value 0.0 then -0.0 (equal, same hash): both signs survive."""
    from openfeature import api
    from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

    from openfeature_s3_export.testing import capture_events

    with capture_events() as captured:
        for zero in (0.0, -0.0, 0.0, -0.0):
            api.set_provider_and_wait(InMemoryProvider({"z": InMemoryFlag("a", {"a": zero})}))
            api.get_client().get_float_value("z", 1.0)
        values = [r["value"] for r in captured.rows()]
    assert values == ["0.0", "-0.0", "0.0", "-0.0"]


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(),
        st.one_of(
            st.text(),
            st.integers(),
            st.booleans(),
            st.none(),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        max_size=8,
    )
)
def test_plain_context_json_matches_the_standard_library(context: dict[str, object]) -> None:
    """The C fast path for plain contexts writes what json.dumps writes (byte for byte without
    floats, whose shortest form may differ in exponent notation only)."""
    from openfeature_s3_export._encoding import attributes_json
    from openfeature_s3_export._snapshot import snapshot_attributes

    copied = snapshot_attributes(context)
    assert type(copied) is dict or not context, "JSON scalars make a plain copy"
    fast = attributes_json(copied)
    reference = json.dumps(context, ensure_ascii=False, separators=(",", ":"))
    assert json.loads(fast) == json.loads(reference)
    if not any(type(v) is float for v in context.values()):
        assert fast == reference
