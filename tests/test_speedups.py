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
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openfeature.client import ClientMetadata
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import ErrorCode, FlagEvaluationDetails, FlagType, Reason
from openfeature.hook import HookContext
from openfeature.provider.metadata import Metadata

from openfeature_s3_export import ContextPolicy, EncodingError
from openfeature_s3_export._accelerated import speedups
from openfeature_s3_export._capture import TIME_NS, evaluation_record, py_evaluation_record
from openfeature_s3_export._env import PURE_PYTHON
from openfeature_s3_export._rows import RowBuilder
from openfeature_s3_export._snapshot import RichAttributes
from openfeature_s3_export._source import Source

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
