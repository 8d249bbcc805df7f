"""ExportHook never changes an evaluation, captures every outcome, and counts what it can't."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode, GeneralError
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from openfeature_s3_export.testing import CapturedEvents, capture_events

FLAGS = {
    "bool": InMemoryFlag("on", {"on": True, "off": False}),
    "text": InMemoryFlag("green", {"green": "#0f0", "red": "#f00"}),
}


@pytest.fixture
def captured() -> Iterator[CapturedEvents]:
    api.set_provider_and_wait(InMemoryProvider(FLAGS))
    with capture_events() as captured:
        yield captured


class Unprintable:
    """A context value whose __str__ raises: hostile user data."""

    def __str__(self) -> str:
        raise RuntimeError("no string for you")


class BrokenProvider(AbstractProvider):
    """Fault injection: a provider that raises from every resolver."""

    def get_metadata(self) -> Metadata:
        return Metadata(name="broken")

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: Any = None
    ) -> Any:
        raise GeneralError("backend exploded")

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: Any = None
    ) -> Any:
        raise ValueError("not even an OpenFeature error")

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: Any = None
    ) -> Any:
        return FlagResolutionDetails(value="not an int", reason=Reason.STATIC)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: Any = None
    ) -> Any:
        raise NotImplementedError

    def resolve_object_details(
        self, flag_key: str, default_value: Any, evaluation_context: Any = None
    ) -> Any:
        raise NotImplementedError


def test_capture_failure_never_changes_the_result(
    captured: CapturedEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection: make the hand-off blow up, as a bug in our code would (stubbed: no real
    # input makes it raise).  Both versions of finally_after (Python and C) read it per call.
    def explode(*args: Any) -> Any:
        raise RuntimeError("bug in capture")

    client = api.get_client()
    expected = client.get_boolean_details("bool", False, EvaluationContext("u"))
    monkeypatch.setattr(captured.exporter.intake, "submit", explode)
    details = client.get_boolean_details("bool", False, EvaluationContext("u"))
    assert (details.value, details.variant, details.reason, details.error_code) == (
        expected.value,
        expected.variant,
        expected.reason,
        None,
    )
    monkeypatch.undo()
    assert len(captured.evaluations()) == 1  # only the evaluation before the fault
    assert captured.exporter.stats()["dropped.capture_error"] == 1


@pytest.mark.parametrize(
    ("bad_value", "reason", "marker"),
    [
        (Unprintable(), "unencodable", '"x":"<unencodable Unprintable>"'),
        ("\udc80 lone surrogate", "surrogate", '"x":"\ufffd lone surrogate"'),
        (float("nan"), "not_a_number", None),
    ],
    ids=["str-raises", "lone-surrogate", "nan-in-track-value"],
)
def test_odd_input_degrades_and_the_event_stays(
    captured: CapturedEvents, bad_value: Any, reason: str, marker: str | None
) -> None:
    client = api.get_client()
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    assert client.get_boolean_value("bool", False, EvaluationContext("before")) is True
    if isinstance(bad_value, float):
        captured.exporter.track("purchase", EvaluationContext("bad"), bad_value)
    else:
        assert client.get_boolean_value("bool", False, EvaluationContext("bad", {"x": bad_value})) is True
    assert client.get_string_value("text", "x", EvaluationContext("cycle", {"loop": cyclic})) == "#0f0"
    assert client.get_boolean_value("bool", False, EvaluationContext("after")) is True
    rows = {r["targeting_key"]: r for r in captured.rows()}
    assert list(rows) == ["before", "bad", "cycle", "after"]
    stats = captured.exporter.stats()
    assert stats["dropped"] == 0
    assert stats[f"degraded.{reason}"] == 1 and stats["degraded.cycle"] == 1
    assert rows["cycle"]["context"].endswith('{"self":"<cycle>"}}}}}')  # cut where it loops back
    if marker is None:
        assert rows["bad"]["metric_value"] is None
    else:
        assert marker in rows["bad"]["context"]


def test_odd_but_valid_values_are_encoded(captured: CapturedEvents) -> None:
    when = dt.datetime(2026, 11, 24, 7, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    context = {
        "when": when,
        "day": dt.date(2026, 11, 24),
        "price": decimal.Decimal("19.990"),
        "raw": b"\x00\xff",
        "tags": {"b", "a"},
        "emoji": "café ☕ 🧪",
        "big": 2**70,
    }
    assert api.get_client().get_boolean_value("bool", False, EvaluationContext("u", context)) is True
    row = captured.evaluations()[0]
    assert row["context"] == (
        '{"when":"2026-11-24T05:30:00Z","day":"2026-11-24","price":"19.990","raw":"AP8=",'
        '"tags":["a","b"],"emoji":"café ☕ 🧪","big":1180591620717411303424}'
    )


def test_every_outcome_is_captured(captured: CapturedEvents) -> None:
    client = api.get_client()
    client.get_boolean_value("bool", False)  # success
    client.get_string_value("missing", "dflt")  # FLAG_NOT_FOUND
    client.get_string_value("bool", "dflt")  # TYPE_MISMATCH by the SDK
    rows = captured.evaluations()
    assert [(r["flag_key"], r["reason"], r["error_code"], r["value"]) for r in rows] == [
        ("bool", "STATIC", None, "true"),
        ("missing", "ERROR", "FLAG_NOT_FOUND", '"dflt"'),
        ("bool", "ERROR", "TYPE_MISMATCH", '"dflt"'),
    ]
    assert [r["is_default_value"] for r in rows] == [False, True, True]


def test_provider_errors_and_not_ready_are_captured() -> None:
    api.set_provider_and_wait(BrokenProvider())
    with capture_events() as captured:
        client = api.get_client()
        assert client.get_boolean_value("a", True) is True
        assert client.get_string_value("b", "d") == "d"
        assert client.get_integer_value("c", 7) == 7
        rows = captured.evaluations()
    assert [(r["flag_key"], r["error_code"]) for r in rows] == [
        ("a", ErrorCode.GENERAL.value),
        ("b", ErrorCode.GENERAL.value),
        ("c", ErrorCode.TYPE_MISMATCH.value),
    ]
    assert all(r["provider"] == "broken" and r["vendor"] == "unknown" for r in rows)


def test_not_ready_provider_is_captured_even_though_before_never_runs() -> None:
    release = threading.Event()

    class SlowToStart(InMemoryProvider):
        def initialize(self, evaluation_context: EvaluationContext) -> None:
            release.wait(10)

    api.set_provider(SlowToStart(FLAGS))  # initialises in the background: status NOT_READY
    try:
        with capture_events() as captured:
            assert api.get_client().get_boolean_value("bool", False) is False
            rows = captured.evaluations()
    finally:
        release.set()
    assert len(rows) == 1
    assert (rows[0]["reason"], rows[0]["error_code"]) == ("ERROR", "PROVIDER_NOT_READY")
    assert rows[0]["is_default_value"] is True


def test_async_evaluations_are_captured(captured: CapturedEvents) -> None:
    async def evaluate() -> list[Any]:
        client = api.get_client()
        return await asyncio.gather(
            *(client.get_boolean_value_async("bool", False, EvaluationContext(f"u{i}")) for i in range(20))
        )

    assert asyncio.run(evaluate()) == [True] * 20
    rows = captured.evaluations()
    assert sorted(r["targeting_key"] for r in rows) == sorted(f"u{i}" for i in range(20))


def test_domain_client_and_kind_are_recorded() -> None:
    api.set_provider_and_wait(InMemoryProvider(FLAGS), domain="checkout")
    with capture_events() as captured:
        api.get_client("checkout").get_boolean_value("bool", False, EvaluationContext("u", {"kind": "org"}))
        row = captured.evaluations()[0]
    assert row["domain"] == "checkout"
    assert row["context_kind"] == "org"
