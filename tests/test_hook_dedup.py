"""A second ExportHook for the same exporter is ignored (counted, warned about once).

Before core v2, an app factory that ran twice registered ``ExportHook`` twice and every
evaluation was exported twice under two different ``event_id``\\ s, which no downstream
de-duplication can catch.  The de-duplication rests on one SDK behaviour, pinned here too:
each evaluation gets its own ``ClientMetadata`` object, shared by all hooks of that evaluation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.hook import Hook, HookContext, HookHints
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from openfeature_s3_export import EventExporter, ExportHook, InMemorySink

FLAGS = {"f": InMemoryFlag("on", {"on": True, "off": False})}
N = 50
WARNING = "registered more than once"


@pytest.fixture
def sink() -> InMemorySink:
    return InMemorySink()


@pytest.fixture
def exporter(sink: InMemorySink) -> Iterator[EventExporter]:
    exporter = EventExporter(sink, register_atexit=False)
    api.set_provider_and_wait(InMemoryProvider(FLAGS))
    yield exporter
    exporter.shutdown(timeout=10)


def _evaluate(client: OpenFeatureClient, n: int = N) -> None:
    for i in range(n):
        assert client.get_boolean_value("f", False, EvaluationContext(f"u{i}")) is True


def _duplicate_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if WARNING in r.getMessage()]


def test_app_factory_called_twice_exports_each_evaluation_once(
    exporter: EventExporter, sink: InMemorySink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="openfeature_s3_export")

    def create_app() -> OpenFeatureClient:
        """What a web framework's factory does: builds its hooks and registers them globally."""
        api.add_hooks([ExportHook(exporter)])
        return api.get_client("app")

    create_app()
    client = create_app()  # a test suite, a reloader, a second worker set-up in one process
    assert len(api.get_hooks()) == 2
    _evaluate(client)
    assert exporter.flush(timeout=10)
    rows = sink.row_objects()
    assert len(rows) == N
    assert sorted(r.targeting_key or "" for r in rows) == sorted(f"u{i}" for i in range(N))
    stats = exporter.stats()
    assert stats["duplicate_hook_calls"] == N
    assert stats["exported"] == N and stats["dropped"] == 0
    assert len(_duplicate_warnings(caplog)) == 1
    assert "register the hook once" in _duplicate_warnings(caplog)[0].getMessage()

    _evaluate(client)  # still exported once each, still counted, never warned about again
    assert exporter.flush(timeout=10)
    assert len(sink.row_objects()) == 2 * N
    assert exporter.stats()["duplicate_hook_calls"] == 2 * N
    assert len(_duplicate_warnings(caplog)) == 1


def test_the_same_hook_object_registered_twice(exporter: EventExporter, sink: InMemorySink) -> None:
    hook = ExportHook(exporter)
    api.add_hooks([hook])
    api.add_hooks([hook])
    _evaluate(api.get_client())
    assert exporter.flush(timeout=10)
    assert len(sink.row_objects()) == N
    assert exporter.stats()["duplicate_hook_calls"] == N


def test_a_hook_on_the_api_and_one_on_the_client(exporter: EventExporter, sink: InMemorySink) -> None:
    api.add_hooks([ExportHook(exporter)])
    client = api.get_client()
    client.add_hooks([ExportHook(exporter)])
    _evaluate(client)
    assert exporter.flush(timeout=10)
    assert len(sink.row_objects()) == N
    assert exporter.stats()["duplicate_hook_calls"] == N


def test_hooks_of_two_exporters_are_not_duplicates(exporter: EventExporter, sink: InMemorySink) -> None:
    other_sink = InMemorySink()
    other = EventExporter(other_sink, register_atexit=False)
    api.add_hooks([ExportHook(exporter), ExportHook(other)])
    _evaluate(api.get_client())
    assert exporter.flush(timeout=10) and other.flush(timeout=10)
    assert len(sink.row_objects()) == len(other_sink.row_objects()) == N
    assert exporter.stats()["duplicate_hook_calls"] == other.stats()["duplicate_hook_calls"] == 0
    assert other.shutdown(timeout=10)


def test_consecutive_evaluations_of_one_flag_and_context_are_all_exported(
    exporter: EventExporter, sink: InMemorySink
) -> None:
    """Two different evaluations are never taken for one: same flag, same context object,
    same client, back to back, and through both the sync and the details API."""
    api.add_hooks([ExportHook(exporter)])
    client = api.get_client()
    context = EvaluationContext("same-user", {"plan": "pro"})
    for _ in range(N):
        client.get_boolean_value("f", False, context)
        client.get_boolean_details("f", False, context)
    assert exporter.flush(timeout=10)
    rows = sink.row_objects()
    assert len(rows) == 2 * N
    assert len({r.event_id for r in rows}) == 2 * N
    assert exporter.stats()["duplicate_hook_calls"] == 0


@pytest.mark.slow
def test_concurrent_evaluations_through_one_hook_are_never_taken_for_duplicates(
    exporter: EventExporter, sink: InMemorySink
) -> None:
    api.add_hooks([ExportHook(exporter)])
    client = api.get_client()
    context = EvaluationContext("shared", {"plan": "pro"})

    def work() -> None:
        for _ in range(1000):
            client.get_boolean_value("f", False, context)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert exporter.flush(timeout=30)
    assert len(sink.row_objects()) == 4000
    assert exporter.stats()["duplicate_hook_calls"] == 0


class MetadataSpy(Hook):
    """Records the ``client_metadata`` object every stage of every evaluation sees."""

    def __init__(self, seen: list[tuple[str, Any]]) -> None:
        self.seen = seen

    def before(self, hook_context: HookContext, hints: HookHints) -> None:
        self.seen.append(("before", hook_context.client_metadata))

    def finally_after(self, hook_context: HookContext, details: Any, hints: HookHints) -> None:
        self.seen.append(("finally_after", hook_context.client_metadata))


def test_sdk_gives_each_evaluation_its_own_client_metadata_shared_by_its_hooks() -> None:
    """Pins the OpenFeature SDK behaviour ExportHook's de-duplication relies on.

    If an SDK upgrade shares one ``ClientMetadata`` between evaluations, consecutive
    evaluations would be dropped as duplicates; if it gives each hook its own, duplicates would
    be exported again.  Either way this test fails first, loudly.
    """
    api.set_provider_and_wait(InMemoryProvider(FLAGS))
    seen: list[tuple[str, Any]] = []
    api.add_hooks([MetadataSpy(seen)])
    client = api.get_client("pinned")
    client.add_hooks([MetadataSpy(seen)])
    assert client.get_metadata() is not client.get_metadata(), "a new object per call"
    context = EvaluationContext("u1")
    client.get_boolean_value("f", False, context)
    client.get_boolean_value("f", False, context)
    assert [stage for stage, _ in seen] == ["before"] * 2 + ["finally_after"] * 2 + (
        ["before"] * 2 + ["finally_after"] * 2
    )
    first, second = [m for _, m in seen[:4]], [m for _, m in seen[4:]]
    assert first[0] is not None and first[0].domain == "pinned"
    assert all(m is first[0] for m in first), "every hook of one evaluation sees the same object"
    assert all(m is second[0] for m in second)
    assert first[0] is not second[0], "each evaluation gets its own object"
