"""The C extension (``_speedups``) against the Python it mirrors.

``_capture.py_evaluation_record`` and ``RowBuilder.encode_python`` define the behaviour; the C
versions must give the same capture records and the same bytes, and hand every case they do
not take to the Python code.  The rest of the suite runs through the C paths whenever the
extension is built (as in CI); these tests compare the two side by side in one process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openfeature import api
from openfeature.client import ClientMetadata
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import ErrorCode, FlagEvaluationDetails, FlagType, Reason
from openfeature.hook import Hook, HookContext
from openfeature.provider.metadata import Metadata

from openfeature_s3_export import ContextPolicy, EncodedLine, EncodingError, ExportHook, ExportResult
from openfeature_s3_export._accelerated import speedups
from openfeature_s3_export._capture import (
    CONTEXT_ATTRIBUTES,
    ERROR_MESSAGE,
    EVALUATION_PROVIDER_NAME,
    FLAG_KEY,
    REASON,
    TIME_NS,
    VARIANT,
    evaluation_record,
    py_evaluation_record,
)
from openfeature_s3_export._engine import Engine, Limits
from openfeature_s3_export._env import PURE_PYTHON
from openfeature_s3_export._rows import RowBuilder
from openfeature_s3_export._snapshot import RichAttributes
from openfeature_s3_export._source import Source
from openfeature_s3_export.testing import CapturedEvents, capture_events

needs_speedups = pytest.mark.skipif(speedups is None, reason="the C extension is not built here")


def test_the_extension_is_built_in_ci() -> None:
    """CI measures and tests the C paths: a build that silently fell back must not pass."""
    if os.environ.get("CI") != "true":
        pytest.skip("only CI requires the extension (a machine without a compiler runs Python)")
    assert speedups is not None, "openfeature_s3_export._speedups did not build: see the pip log"


def test_the_environment_variable_turns_the_extension_off() -> None:
    code = (
        "from openfeature_s3_export._accelerated import speedups;"
        "from openfeature_s3_export._capture import evaluation_record, py_evaluation_record;"
        "from openfeature_s3_export._rows import RowBuilder;"
        "from openfeature_s3_export._source import Source;"
        "b = RowBuilder(Source());"
        "print(speedups is None, evaluation_record is py_evaluation_record,"
        " b.encode == b.encode_python)"
    )
    env = {**os.environ, PURE_PYTHON: "on"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]


# -- capture ---------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


class _Odd:
    """An object the capture keeps as a reference."""

    def __repr__(self) -> str:
        return "<odd>"


class _Text(str):
    """A str subclass: immutable for the capture, not plain for the attribute check."""


odd_values = values | st.sampled_from([_Odd(), _Text("sub"), frozenset({1}), (1, 2)])


@st.composite
def evaluations(draw: st.DrawFn) -> tuple[HookContext, FlagEvaluationDetails[Any]]:
    attributes = draw(st.none() | st.dictionaries(st.sampled_from(["kind", "a", "b", "c"]), odd_values))
    hook_context = HookContext(
        flag_key=draw(st.sampled_from(["f", "g"])),
        flag_type=draw(st.sampled_from(list(FlagType))),
        default_value=draw(odd_values),
        evaluation_context=EvaluationContext(draw(st.none() | st.text(max_size=5)), attributes or {}),
        client_metadata=draw(st.none() | st.builds(ClientMetadata, domain=st.none() | st.text(max_size=3))),
        provider_metadata=draw(st.none() | st.builds(Metadata, name=st.text(max_size=5))),
    )
    details = FlagEvaluationDetails(
        flag_key=hook_context.flag_key,
        value=draw(odd_values),
        variant=draw(st.none() | st.text(max_size=3)),
        reason=draw(st.none() | st.sampled_from(list(Reason))),
        error_code=draw(st.none() | st.sampled_from(list(ErrorCode))),
        error_message=draw(st.none() | st.text(max_size=5)),
        flag_metadata=draw(st.dictionaries(st.sampled_from(["v", "w"]), scalars, max_size=2)),
    )
    return hook_context, details


def _shape(record: tuple[Any, ...]) -> list[tuple[type, str]]:
    """Every field's type and repr except the capture time (repr: NaN equals NaN)."""
    return [(type(v), repr(v)) for i, v in enumerate(record) if i != TIME_NS]


@needs_speedups
@settings(max_examples=300, deadline=None)
@given(evaluations())
def test_the_c_capture_is_the_python_capture(evaluation: tuple[HookContext, Any]) -> None:
    hook_context, details = evaluation
    python = py_evaluation_record(hook_context, details)
    c = evaluation_record(hook_context, details)
    assert _shape(c) == _shape(python)
    assert type(c[TIME_NS]) is int and 0 <= c[TIME_NS] - python[TIME_NS] < 60 * 10**9


class _Details(FlagEvaluationDetails[Any]):
    """What getattr gives is not always what ``__dict__`` holds: the C capture must see the same."""

    @property  # a data descriptor: getattr never reads the instance's variant
    def variant(self) -> str:
        return "from-the-property"

    @variant.setter
    def variant(self, value: str | None) -> None:
        self.__dict__["variant"] = "in-the-dict"


class _SlottedMetadata:
    """No __dict__ at all."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _LazyContext(EvaluationContext):
    """Attributes that exist only through __getattr__."""

    def __getattr__(self, name: str) -> Any:
        if name == "attributes":
            return {"lazy": True}
        raise AttributeError(name)


def _records(hook_context: HookContext, details: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    return py_evaluation_record(hook_context, details), evaluation_record(hook_context, details)


@needs_speedups
def test_the_c_capture_reads_attributes_as_getattr_does() -> None:
    """The C capture reads an instance's __dict__ only where getattr would: a property, a class
    default, a class without __dict__ and a __getattr__ each give what getattr gives."""
    context = EvaluationContext("u", {"plan": "pro"})
    hook_context = HookContext("f", FlagType.STRING, "d", context, ClientMetadata("dom"), Metadata("P"))
    for _ in range(3):  # the first read checks the type, the next ones use what it found
        python, c = _records(hook_context, _Details("f", "v", variant="x"))
        assert c[VARIANT] == python[VARIANT] == "from-the-property"
        assert _shape(c) == _shape(python)

    class Defaults(FlagEvaluationDetails[Any]):
        pass

    details = Defaults("f", "v")
    del details.__dict__["reason"]  # getattr now finds the class's default: None
    python, c = _records(hook_context, details)
    assert c[REASON] is python[REASON] is None

    class Intercepted(FlagEvaluationDetails[Any]):
        def __getattribute__(self, name: str) -> Any:
            return "intercepted" if name == "error_message" else super().__getattribute__(name)

    for _ in range(2):
        python, c = _records(hook_context, Intercepted("f", "v", error_message="in-the-dict"))
        assert c[ERROR_MESSAGE] == python[ERROR_MESSAGE] == "intercepted"

    lazy = _LazyContext("u")
    del lazy.__dict__["attributes"]
    slotted = HookContext("f", FlagType.STRING, "d", lazy, None, _SlottedMetadata("S"))  # type: ignore[arg-type]
    python, c = _records(slotted, FlagEvaluationDetails("f", "v"))
    assert _shape(c) == _shape(python)
    assert c[CONTEXT_ATTRIBUTES] == {"lazy": True} and c[EVALUATION_PROVIDER_NAME] == "S"


@needs_speedups
def test_the_c_capture_copies_the_attributes_where_python_does() -> None:
    """A field read after the attributes may run code that changes them (a property): both
    captures keep the attributes as they were when the attributes were read."""
    attributes: dict[str, Any] = {"plan": "pro"}

    class Meddling(FlagEvaluationDetails[Any]):
        @property
        def error_message(self) -> str:
            attributes["tags"] = ["added"]  # not a JSON scalar: no longer a plain dict
            attributes["plan"] = "free"
            return "m"

        @error_message.setter
        def error_message(self, value: str | None) -> None:
            pass

    context = HookContext("f", FlagType.STRING, "d", EvaluationContext("u", attributes))
    for capture in (py_evaluation_record, evaluation_record):
        attributes.clear()
        attributes["plan"] = "pro"
        assert capture(context, Meddling("f", "v"))[CONTEXT_ATTRIBUTES] == {"plan": "pro"}


@needs_speedups
def test_the_c_capture_notices_a_class_changed_after_its_first_use() -> None:
    class Details(FlagEvaluationDetails[Any]):
        pass

    context = HookContext("f", FlagType.STRING, "d", EvaluationContext("u"), None, None)
    assert evaluation_record(context, Details("f", "v", variant="a"))[VARIANT] == "a"
    # A data descriptor from now on: getattr stops reading the instance's variant.
    Details.variant = property(  # type: ignore[assignment,method-assign]
        lambda self: "changed", lambda self, value: self.__dict__.__setitem__("variant", value)
    )
    for _ in range(2):  # before and after a getattr gives the changed class a new version
        assert Details("f", "v").variant == "changed"
        assert evaluation_record(context, Details("f", "v", variant="a"))[VARIANT] == "changed"


@needs_speedups
def test_the_c_capture_copies_what_the_application_may_change() -> None:
    attributes: dict[str, Any] = {"plan": "pro", "tags": ["a"]}
    value = {"colour": "red"}
    hook_context = HookContext("f", FlagType.OBJECT, {}, EvaluationContext("u", attributes))
    details = FlagEvaluationDetails(flag_key="f", value=value)
    record = evaluation_record(hook_context, details)
    attributes["tags"].append("b")
    attributes["plan"] = "free"
    value["colour"] = "blue"
    assert record[2] == {"plan": "pro", "tags": ["a"]} and type(record[2]) is RichAttributes
    assert record[7] == {"colour": "red"}
    plain = evaluation_record(hook_context, FlagEvaluationDetails(flag_key="f", value=True))
    assert type(plain[2]) is RichAttributes  # the list makes it rich; a scalar-only copy:
    scalar = HookContext("f", FlagType.BOOLEAN, False, EvaluationContext("u", {"n": 1.5, "ok": True}))
    copied = evaluation_record(scalar, details)[2]
    assert type(copied) is dict and copied == {"n": 1.5, "ok": True}
    assert copied is not scalar.evaluation_context.attributes


@needs_speedups
def test_a_failing_attribute_raises_from_both_captures() -> None:
    class Broken:
        flag_key = "f"

        @property
        def value(self) -> Any:
            raise RuntimeError("broken details")

    hook_context = HookContext("f", FlagType.BOOLEAN, False, EvaluationContext("u"))
    for capture in (evaluation_record, py_evaluation_record):
        with pytest.raises(RuntimeError, match="broken details"):
            capture(hook_context, Broken())


# -- lines -----------------------------------------------------------------------------------

_ENCODE_PYTHON = RowBuilder.encode_python  # before the fixture below counts its calls
_EVENT_ID = re.compile(rb'"event_id":"[0-9a-f-]{36}"')


def _comparable(data: bytes) -> bytes:
    """A line with its event id blanked: both builders draw from one process-wide counter."""
    return _EVENT_ID.sub(b'"event_id":""', data)


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """The records the C joiner handed to the Python encoder (patched before a builder is made)."""
    handed: list[tuple[Any, ...]] = []
    python = RowBuilder.encode_python

    def counting(self: RowBuilder, record: tuple[Any, ...]) -> Any:
        handed.append(record)
        return python(self, record)

    monkeypatch.setattr(RowBuilder, "encode_python", counting)
    yield handed


def _evaluation(
    value: Any = True,
    attributes: dict[str, Any] | None = None,
    targeting_key: Any = "user-1",
    metadata: dict[str, Any] | None = None,
) -> tuple[Any, ...]:
    hook_context = HookContext(
        "checkout",
        FlagType.BOOLEAN,
        False,
        EvaluationContext(targeting_key, {"plan": "pro"} if attributes is None else attributes),
        provider_metadata=Metadata(name="In-Memory Provider"),
    )
    details = FlagEvaluationDetails(
        flag_key="checkout", value=value, variant="on", reason=Reason.STATIC, flag_metadata=metadata or {}
    )
    return py_evaluation_record(hook_context, details)


def _assert_same_lines(records: list[tuple[Any, ...]], policy: ContextPolicy | None = None) -> RowBuilder:
    source = Source(service_name="svc", host="h")
    c, python = RowBuilder(source, policy), RowBuilder(source, policy)
    for record in records:
        try:
            expected = _ENCODE_PYTHON(python, record)
        except EncodingError:
            with pytest.raises(EncodingError):
                c.encode(record)
            continue
        line = c.encode(record)
        assert type(line) is type(expected)
        assert _comparable(line.data) == _comparable(expected.data)
        assert line[1:] == expected[1:]
    return c


@needs_speedups
def test_a_known_outcome_is_joined_in_c_and_the_rest_goes_to_python(fallbacks: list[Any]) -> None:
    tricky = {"q": 'say "hi"', "path": "C:\\tmp", "ü": "日本", "nl": "a\nb\u2028", "kind": "user"}
    records = [
        _evaluation(),
        _evaluation(),  # the same outcome: joined in C
        _evaluation(targeting_key=None),
        _evaluation(attributes={}),
        _evaluation(attributes=tricky),  # a new context kind: a new outcome, then C
        _evaluation(attributes=tricky, targeting_key='"quoted"\\'),
        _evaluation(metadata={"version": 3}),
        _evaluation(metadata={"version": 3}),
    ]
    _assert_same_lines(records)
    first_seen = {0, 4, 6}
    assert fallbacks == [records[i] for i in sorted(first_seen)]


@needs_speedups
def test_every_case_the_c_joiner_does_not_take_gives_the_python_line(fallbacks: list[Any]) -> None:
    slow = [
        _evaluation(value=1.5),  # floats are keyed by their bits: Python
        _evaluation(value=1.5),
        _evaluation(value={"a": 1}),
        _evaluation(targeting_key=42),  # not a str: Python turns it into text
        _evaluation(attributes={"when": float("nan")}),  # rich context
        _evaluation(attributes={"big": 2**70}),  # orjson refuses: Python's encoder
        _evaluation(targeting_key="\ud800"),  # not valid Unicode: EncodingError, as Python
    ]
    records = [_evaluation(), *slow]
    _assert_same_lines(records)
    assert len(fallbacks) == len(records)


@needs_speedups
def test_a_context_policy_keeps_contexts_from_the_c_joiner(fallbacks: list[Any]) -> None:
    listed = {"email": "ada@example.com", "privateAttributes": ["email"]}  # a list: rich anyway
    named = {"email": "ada@example.com", "privateAttributes": "email"}  # a plain dict
    records = [_evaluation(), *[_evaluation(attributes=private) for private in (listed, named, named)]]
    _assert_same_lines(records)  # the default policy: only contexts listing private attributes
    assert len(fallbacks) == 4  # the first outcome, then every context naming private attributes
    fallbacks.clear()
    _assert_same_lines([_evaluation(), _evaluation()], ContextPolicy(deny={"plan"}))
    assert len(fallbacks) == 2  # a deny list may change every context


@needs_speedups
def test_lines_across_milliseconds_take_each_their_own_stamp() -> None:
    base = _evaluation()
    records = [(*base[:1], base[1] + step * 999_999, *base[2:]) for step in range(5)]
    builder = _assert_same_lines(records)
    stamps = [builder.encode(r).data.split(b'"timestamp":"')[1][:27] for r in records]
    assert len(set(stamps)) == 5


@needs_speedups
@settings(max_examples=200, deadline=None)
@given(st.lists(evaluations(), min_size=1, max_size=12))
def test_the_c_joiner_writes_the_python_bytes(evaluations: list[tuple[HookContext, Any]]) -> None:
    _assert_same_lines([py_evaluation_record(h, d) for h, d in evaluations])


@needs_speedups
@settings(max_examples=200, deadline=None)
@given(st.lists(evaluations(), min_size=1, max_size=12))
def test_the_c_joiner_reads_the_c_record_as_python_reads_it(
    evaluations: list[tuple[HookContext, Any]],
) -> None:
    _assert_same_lines([evaluation_record(h, d) for h, d in evaluations])


@needs_speedups
def test_a_c_record_is_joined_in_c(fallbacks: list[Any]) -> None:
    hook_context = HookContext("f", FlagType.BOOLEAN, False, EvaluationContext("u", {"plan": "pro", "n": 2}))
    details = FlagEvaluationDetails("f", True, "on", reason=Reason.STATIC)
    first, second = evaluation_record(hook_context, details), evaluation_record(hook_context, details)
    builder = _assert_same_lines([first, second])
    assert fallbacks == [first]  # a new outcome: Python; the same outcome again: C
    assert builder.encode(second).data.count(b'"{\\"plan\\":\\"pro\\",\\"n\\":2}"') == 1


@needs_speedups
def test_the_c_record_reads_like_the_tuple() -> None:
    attributes: dict[str, Any] = {"plan": "pro", "n": 2, "ok": True, "x": None, "f": 1.5}
    hook_context = HookContext(
        "f", FlagType.BOOLEAN, False, EvaluationContext("u", attributes), None, Metadata("P")
    )
    details = FlagEvaluationDetails("f", True, "on", reason=Reason.STATIC)
    record = evaluation_record(hook_context, details)
    as_tuple = tuple(record)
    assert type(record) is speedups.Record and len(record) == len(as_tuple) == 15
    assert record == as_tuple and as_tuple == record
    assert record != (*as_tuple[:-1], "other")
    assert [record[i] for i in range(-15, 15)] == list(as_tuple) * 2
    assert record[2:5] == as_tuple[2:5] and record[::-1] == as_tuple[::-1]
    assert record[CONTEXT_ATTRIBUTES] == attributes and record[CONTEXT_ATTRIBUTES] is not attributes
    assert type(record[TIME_NS]) is int and repr(record) == f"Record{as_tuple!r}"
    attributes["plan"] = "free"  # the application changes its context after the evaluation
    assert record[CONTEXT_ATTRIBUTES]["plan"] == "pro"
    with pytest.raises(IndexError):
        record[15]
    with pytest.raises(TypeError):
        hash(record)
    nested = HookContext("f", FlagType.BOOLEAN, False, EvaluationContext("u", {"tags": ["a"]}))
    assert evaluation_record(nested, details)[CONTEXT_ATTRIBUTES] == {"tags": ["a"]}  # the snapshot
    empty = HookContext("f", FlagType.BOOLEAN, False, EvaluationContext("u", {}))
    assert evaluation_record(empty, details)[CONTEXT_ATTRIBUTES] is None


# -- the hook stage and the hand-off ------------------------------------------------------------


def _python_stage(hook: ExportHook) -> ExportHook:
    """*hook* running the Python ``finally_after`` (the definition) instead of the C one."""
    hook.finally_after = types.MethodType(ExportHook.finally_after, hook)  # type: ignore[method-assign]
    return hook


def _stage_outcome(hook: ExportHook, captured: CapturedEvents) -> tuple[list[Any], dict[str, int]]:
    """Drive *hook* through every branch of ``finally_after``: kept, duplicate, failed."""
    client = ClientMetadata(None)
    context = EvaluationContext("u1", {"plan": "pro", "n": 2})
    first = HookContext("f", FlagType.BOOLEAN, False, context, client, Metadata("P"))
    details = FlagEvaluationDetails("f", True, "on", reason=Reason.STATIC)
    hook.finally_after(hook_context=first, details=details, hints={})
    # A second ExportHook of the same exporter sees the same evaluation: ignored, counted.
    hook.finally_after(hook_context=first, details=details, hints={})
    second = HookContext("f", FlagType.BOOLEAN, False, context, ClientMetadata(domain="d"), Metadata("P"))
    hook.finally_after(second, details, {})  # positional, as a direct caller may
    unset = HookContext("f", FlagType.BOOLEAN, False, context, None, None)  # type: ignore[arg-type]
    hook.finally_after(hook_context=unset, details=details, hints={})
    hook.finally_after(hook_context=unset, details=details, hints={})  # None is never a duplicate

    class Broken:
        @property
        def value(self) -> Any:
            raise RuntimeError("broken details")

    broken = HookContext("f", FlagType.BOOLEAN, False, context, ClientMetadata("x"), Metadata("P"))
    hook.finally_after(hook_context=broken, details=Broken(), hints={})  # type: ignore[arg-type]
    rows = [
        {k: v for k, v in row.items() if k not in ("event_id", "timestamp")} for row in captured.evaluations()
    ]
    stats = captured.exporter.stats()
    keys = ("enqueued", "exported", "duplicate_hook_calls", "dropped.capture_error")
    return rows, {key: stats[key] for key in keys}


@needs_speedups
def test_the_c_stage_is_the_python_stage() -> None:
    outcomes = []
    for python in (True, False):
        with capture_events(register_hook=False) as captured:
            hook = ExportHook(captured.exporter)
            assert isinstance(hook.finally_after, speedups.FinallyAfter)
            outcomes.append(_stage_outcome(_python_stage(hook) if python else hook, captured))
    python_outcome, c_outcome = outcomes
    assert c_outcome == python_outcome
    rows, counts = c_outcome
    assert [row["domain"] for row in rows] == [None, "d", None, None]
    assert counts == {"enqueued": 4, "exported": 4, "duplicate_hook_calls": 1, "dropped.capture_error": 1}


@needs_speedups
def test_the_c_stage_lets_what_is_not_an_exception_through() -> None:
    """``except Exception``, as in Python: a KeyboardInterrupt is the application's to handle."""

    class Interrupted:
        @property
        def value(self) -> Any:
            raise KeyboardInterrupt

    with capture_events(register_hook=False) as captured:
        for hook in (ExportHook(captured.exporter), _python_stage(ExportHook(captured.exporter))):
            context = HookContext("f", FlagType.BOOLEAN, False, EvaluationContext("u"), ClientMetadata(None))
            with pytest.raises(KeyboardInterrupt):
                hook.finally_after(hook_context=context, details=Interrupted(), hints={})  # type: ignore[arg-type]


@needs_speedups
def test_the_c_stage_takes_the_arguments_python_would() -> None:
    with capture_events(register_hook=False) as captured:
        stage = ExportHook(captured.exporter).finally_after
        context = HookContext("f", FlagType.BOOLEAN, False, EvaluationContext("u"), ClientMetadata(None))
        details = FlagEvaluationDetails("f", True)
        stage(context, details=details, **{"hints": {}})  # keywords built at run time: not interned
        for args, kwargs in [
            ((context, details), {}),
            ((context, details, {}, None), {}),
            ((context,), {"details": details}),
            ((context, details, {}), {"hints": {}}),
            ((), {"hook_context": context, "details": details, "hints": {}, "extra": 1}),
        ]:
            with pytest.raises(TypeError):
                stage(*args, **kwargs)
        assert captured.exporter.stats()["enqueued"] == 1


@needs_speedups
def test_the_c_stage_reads_an_intake_without_slots_through_getattr() -> None:
    """The C stage reads the exporter's Intake slots where they are kept; any other intake
    (here one with a __dict__) goes through getattr and setattr, with the same result."""

    class Intake:
        def __init__(self) -> None:
            self.last_evaluation: object = None
            self.submitted: list[Any] = []
            self.submit = self.submitted.append
            self.duplicates = 0

        def duplicate_hook(self) -> None:
            self.duplicates += 1

        def capture_failed(self) -> None:
            raise AssertionError("no capture fails here")

    intake = Intake()
    stage = speedups.FinallyAfter(intake)
    client = ClientMetadata(None)
    context = HookContext("f", FlagType.BOOLEAN, False, EvaluationContext("u"), client)
    details = FlagEvaluationDetails("f", True)
    stage(hook_context=context, details=details, hints={})
    stage(hook_context=context, details=details, hints={})
    assert intake.last_evaluation is client and intake.duplicates == 1
    assert [record[FLAG_KEY] for record in intake.submitted] == ["f"]


def test_a_subclass_that_overrides_the_stage_keeps_its_own() -> None:
    seen: list[str] = []

    class Auditing(ExportHook):
        def finally_after(self, hook_context: Any, details: Any, hints: Any) -> None:
            seen.append(hook_context.flag_key)
            super().finally_after(hook_context, details, hints)

    with capture_events(register_hook=False) as captured:
        hook = Auditing(captured.exporter)
        context = HookContext("f", FlagType.BOOLEAN, False, EvaluationContext("u"), ClientMetadata(None))
        hook.finally_after(hook_context=context, details=FlagEvaluationDetails("f", True), hints={})
        assert seen == ["f"]
        assert len(captured.evaluations()) == 1


@needs_speedups
def test_the_other_c_stages_do_what_the_sdk_hook_does() -> None:
    with capture_events(register_hook=False) as captured:
        hook = ExportHook(captured.exporter)
        context = HookContext("f", FlagType.BOOLEAN, False, EvaluationContext("u"), ClientMetadata(None))
        details = FlagEvaluationDetails("f", True)
        assert isinstance(hook.before, speedups.Returns)
        assert hook.before(hook_context=context, hints={}) is Hook().before(context, {})
        assert hook.after(hook_context=context, details=details, hints={}) is None
        assert hook.error(hook_context=context, exception=RuntimeError(), hints={}) is None
        assert all(hook.supports_flag_value_type(flag_type) is True for flag_type in FlagType)
        assert captured.exporter.stats()["enqueued"] == 0  # only finally_after captures


def test_a_subclass_keeps_the_stages_it_overrides() -> None:
    seen: list[str] = []

    class Auditing(ExportHook):
        def before(self, hook_context: Any, hints: Any) -> None:
            seen.append("before")

        def supports_flag_value_type(self, flag_type: FlagType) -> bool:
            return flag_type is FlagType.BOOLEAN

    with capture_events(register_hook=False) as captured:
        api.add_hooks([Auditing(captured.exporter)])
        client = api.get_client()
        client.get_boolean_value("bool", False, EvaluationContext("u"))
        client.get_string_value("str", "x", EvaluationContext("u"))
        rows = captured.evaluations()
    assert seen == ["before"]
    assert [row["flag_key"] for row in rows] == ["bool"]  # the string flag is not supported


def _engine_for_hand_off(max_queue_size: int) -> Engine:
    limits = Limits(
        max_queue_size=max_queue_size,
        max_batch_size=3,  # the worker is woken at three queued items
        max_batch_bytes=10**6,
        flush_interval=3600,
        max_event_bytes=1000,
        export_timeout=30,
    )
    return Engine(
        lambda line: line, lambda batch, deadline: ExportResult(delivered=len(batch)), limits, what="t"
    )


@needs_speedups
@pytest.mark.parametrize("version", ["c", "python"])
def test_the_c_hand_off_is_the_python_hand_off(version: str) -> None:
    """Engine.submit's branches, each version: the first item starts the threads, the wake-up
    threshold wakes the worker once, a full queue and a closed engine count what they refuse."""
    engine = _engine_for_hand_off(max_queue_size=4)
    assert isinstance(engine.submit, speedups.Submit)
    submit = engine.submit if version == "c" else engine.submit_python
    line = EncodedLine(b"{}\n", 0, None)
    woken: list[int] = []
    engine._wake_worker = lambda: woken.append(len(engine._queue))  # type: ignore[method-assign]
    if version == "c":  # the C version holds the method it was given: give it this one
        engine.submit = submit = speedups.Submit(
            state=vars(engine), refused=engine._refused, wake=engine._wake_worker, python=engine.submit_python
        )
    engine._start_threads = lambda run=True: None  # type: ignore[method-assign]
    engine._sender.thread.start = engine._worker.start = lambda: None  # type: ignore[method-assign]
    submit(line)  # the first item: threads "started", then queued
    assert engine._max_queue == 4 and len(engine._queue) == 1
    submit(line)
    assert woken == []
    submit(line)
    assert woken == [3], "woken once the queue reaches the threshold"
    engine._wake_at = 1 << 62  # as _wake_worker does: the worker is awake
    submit(line)
    assert woken == [3]
    submit(line)  # the fifth: the queue is full
    assert len(engine._queue) == 4
    engine._closed, engine._max_queue = True, 0  # as shutdown does
    submit(line)
    engine._fold_hot_counters()
    counts = engine._counters.snapshot()
    assert (counts.get("dropped.queue_full"), counts.get("dropped.shutdown")) == (1, 1)


@needs_speedups
def test_the_c_hand_off_hands_anything_unexpected_to_python() -> None:
    engine = _engine_for_hand_off(max_queue_size=10)
    calls: list[Any] = []
    submit = speedups.Submit(
        state=vars(engine), refused=engine._refused, wake=engine._wake_worker, python=calls.append
    )
    engine._max_queue = 10
    engine._queue = []  # type: ignore[assignment]  # not the deque it was built with
    submit("a")
    engine._queue = deque()
    engine._max_queue = "10"  # type: ignore[assignment]
    submit("b")
    assert calls == ["a", "b"] and not engine._queue
