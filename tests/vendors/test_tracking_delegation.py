"""TrackingProvider is transparent: events, lifecycle, metadata, hooks and resolvers are the vendor's.

Provider events matter most: OpenFeature keys provider status by provider object, so events the
wrapped vendor emits must be re-bound to the wrapper or the client never sees READY/STALE/ERROR.
Where a real vendor can be made to emit them offline (LaunchDarkly's file data source, flagd's
flag file) it does; OpenFeature's in-memory provider emits the rest on demand.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ldclient.integrations import Files
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent, ProviderEventDetails
from openfeature.exception import ErrorCode, ProviderNotReadyError
from openfeature.flag_evaluation import FlagResolutionDetails
from openfeature.hook import Hook, HookContext, HookHints
from openfeature.provider import ProviderStatus
from openfeature.provider.in_memory_provider import InMemoryProvider
from openfeature.track import TrackingEventDetails
from vendor_harness import DATA, VENDORS, Exported, exported, in_memory_flags, start_flagd, start_launchdarkly

from openfeature_s3_export import TrackingProvider
from openfeature_s3_export.testing import capture_events

pytestmark = pytest.mark.vendor

USER = EvaluationContext("user-1", {"plan": "pro"})


class Received:
    """Provider events delivered to handlers (OpenFeature runs handlers on a thread pool)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._events: list[tuple[str, ProviderEvent, EventDetails]] = []

    def handler(self, where: str, event: ProviderEvent) -> Callable[[EventDetails], None]:
        def handle(details: EventDetails) -> None:
            with self._changed:
                self._events.append((where, event, details))
                self._changed.notify_all()

        return handle

    def listen(self, client: Any) -> None:
        """Handlers for every event, on *client* and on the API."""
        for event in ProviderEvent:
            client.add_handler(event, self.handler("client", event))
            api.add_handler(event, self.handler("api", event))

    def wait_for(self, event: ProviderEvent, timeout: float = 5.0) -> list[EventDetails]:
        """Block until *event* reached both the client and the API handlers; consume those."""
        with self._changed:
            assert self._changed.wait_for(
                lambda: {w for w, e, _ in self._events if e is event} == {"client", "api"}, timeout
            ), f"{event} not delivered; got {[(w, e) for w, e, _ in self._events]}"
            seen = [details for _, e, details in self._events if e is event]
            self._events = [entry for entry in self._events if entry[1] is not event]
            return seen


def rewrite(path: Path, text: str) -> None:
    """Replace a watched file and move its mtime forward (the vendors' pollers compare mtimes).

    Always past both the previous mtime and now: a stamp fixed at import time would fall
    behind a freshly copied file when earlier tests ran for a while.
    """
    previous = path.stat().st_mtime
    path.write_text(text)
    stamp = max(previous, time.time()) + 10
    os.utime(path, (stamp, stamp))


def test_events_emitted_by_the_wrapped_provider_are_the_wrappers(in_memory: Exported) -> None:
    received = Received()
    received.listen(in_memory.client)
    received.wait_for(ProviderEvent.PROVIDER_READY)  # handlers added while READY run at once
    inner, client = in_memory.inner, in_memory.client

    inner.emit_provider_stale(ProviderEventDetails(message="cache is old"))  # type: ignore[attr-defined]
    assert client.get_provider_status() is ProviderStatus.STALE
    (stale, _) = received.wait_for(ProviderEvent.PROVIDER_STALE)
    assert (stale.provider_name, stale.message) == ("In-Memory Provider", "cache is old")

    inner.emit_provider_error(  # type: ignore[attr-defined]
        ProviderEventDetails(message="backend down", error_code=ErrorCode.GENERAL)
    )
    assert client.get_provider_status() is ProviderStatus.ERROR
    (error, _) = received.wait_for(ProviderEvent.PROVIDER_ERROR)
    assert (error.message, error.error_code) == ("backend down", ErrorCode.GENERAL)

    inner.emit_provider_configuration_changed(  # type: ignore[attr-defined]
        ProviderEventDetails(flags_changed=["button-color"])
    )
    (changed, _) = received.wait_for(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    assert changed.flags_changed == ["button-color"]

    inner.emit_provider_ready(ProviderEventDetails())  # type: ignore[attr-defined]
    assert client.get_provider_status() is ProviderStatus.READY
    received.wait_for(ProviderEvent.PROVIDER_READY)


@pytest.fixture
def launchdarkly_watching(tmp_path: Path) -> Iterator[tuple[Exported, Path]]:
    """LaunchDarkly on a flag file it polls every 50 ms."""
    flag_file = tmp_path / "flags.json"
    shutil.copy(DATA / "launchdarkly-flags.json", flag_file)
    source = Files.new_data_source(
        paths=[str(flag_file)], auto_update=True, poll_interval=0.05, force_polling=True
    )
    with start_launchdarkly(source) as inner, exported(VENDORS["launchdarkly"], inner) as wired:
        yield wired, flag_file


def test_launchdarkly_data_source_trouble_reaches_the_client(
    launchdarkly_watching: tuple[Exported, Path],
) -> None:
    wired, flag_file = launchdarkly_watching
    good = flag_file.read_text()
    received = Received()
    received.listen(wired.client)
    received.wait_for(ProviderEvent.PROVIDER_READY)

    rewrite(flag_file, "{ not json")  # LD's data source goes INTERRUPTED
    (stale, _) = received.wait_for(ProviderEvent.PROVIDER_STALE)
    assert stale.provider_name == "launchdarkly-openfeature-server"
    assert wired.client.get_provider_status() is ProviderStatus.STALE
    # LD keeps serving its last good data, and the evaluation is exported as usual.
    assert wired.client.get_string_value("new-receipt", "fallback", USER) == "classic"

    rewrite(flag_file, good.replace('"version": 4, "on": false', '"version": 5, "on": true'))
    received.wait_for(ProviderEvent.PROVIDER_READY)
    assert wired.client.get_provider_status() is ProviderStatus.READY
    (changed, _) = received.wait_for(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    assert changed.flags_changed == ["sunset-banner"]
    assert wired.client.get_string_value("sunset-banner", "fallback", USER) == "a"
    assert [(r["flag_key"], r["reason"], r["value"]) for r in wired.rows()] == [
        ("new-receipt", "DISABLED", '"classic"'),
        ("sunset-banner", "DEFAULT", '"a"'),
    ]


@pytest.fixture
def flagd_watching(tmp_path: Path) -> Iterator[tuple[Exported, Path]]:
    """flagd on a flag file it polls every 50 ms."""
    flag_file = tmp_path / "flags.json"
    shutil.copy(DATA / "flagd.json", flag_file)
    with start_flagd(flag_file, deadline_ms=50) as inner, exported(VENDORS["flagd"], inner) as wired:
        yield wired, flag_file


def test_flagd_flag_file_error_and_recovery_reach_the_client(flagd_watching: tuple[Exported, Path]) -> None:
    wired, flag_file = flagd_watching
    good = flag_file.read_text()
    received = Received()
    received.listen(wired.client)
    received.wait_for(ProviderEvent.PROVIDER_READY)

    rewrite(flag_file, "{ not json")
    (error, *_) = received.wait_for(ProviderEvent.PROVIDER_ERROR)  # repeated on every poll
    assert (error.provider_name, error.error_code) == ("FlagdProvider", ErrorCode.PARSE_ERROR)
    assert wired.client.get_provider_status() is ProviderStatus.ERROR
    # ERROR does not block evaluation: flagd serves the flags it has, and the row is exported.
    assert wired.client.get_string_value("button-color", "grey", USER) == "red"

    rewrite(flag_file, good.replace('"defaultVariant": "red"', '"defaultVariant": "green"'))
    received.wait_for(ProviderEvent.PROVIDER_READY)
    assert wired.client.get_provider_status() is ProviderStatus.READY
    assert wired.client.get_string_value("button-color", "grey", USER) == "green"
    assert [(r["flag_key"], r["value"]) for r in wired.rows()] == [
        ("button-color", '"red"'),
        ("button-color", '"green"'),
    ]


def test_a_vendor_that_cannot_start_leaves_the_wrapper_in_error(tmp_path: Path) -> None:
    with start_flagd(tmp_path / "absent.json") as inner, capture_events() as captured:
        wrapper = TrackingProvider(inner, captured.exporter)
        with pytest.raises(ProviderNotReadyError):
            api.set_provider_and_wait(wrapper)
        client = api.get_client()
        assert client.get_provider_status() is ProviderStatus.ERROR
        assert client.get_boolean_value("new-checkout", False, USER) is False
        (row,) = captured.rows()
        api.shutdown()
    assert (row["provider"], row["error_code"], row["is_default_value"]) == (
        "FlagdProvider",
        "FLAG_NOT_FOUND",
        True,
    )


class RecordingHook(Hook):
    """A provider hook that notes which stages ran."""

    def __init__(self) -> None:
        self.stages: list[str] = []

    def before(self, hook_context: HookContext, hints: HookHints) -> None:
        self.stages.append("before")

    def after(self, hook_context: HookContext, details: Any, hints: HookHints) -> None:
        self.stages.append("after")

    def finally_after(self, hook_context: HookContext, details: Any, hints: HookHints) -> None:
        self.stages.append("finally_after")


class RecordingProvider(InMemoryProvider):
    """The in-memory provider, noting lifecycle calls and which resolver path served each flag."""

    def __init__(self) -> None:
        super().__init__(in_memory_flags())
        self.calls: list[tuple[Any, ...]] = []
        self.hook = RecordingHook()

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self.calls.append(("initialize", evaluation_context))

    def shutdown(self) -> None:
        self.calls.append(("shutdown",))

    def get_provider_hooks(self) -> list[Hook]:
        return [self.hook]

    # InMemoryProvider's sync resolvers all call _resolve, its async ones _resolve_async.
    def _resolve(
        self, flag_key: str, default_value: Any, evaluation_context: Any
    ) -> FlagResolutionDetails[Any]:
        self.calls.append(("sync", flag_key))
        return InMemoryProvider._resolve(self, flag_key, default_value, evaluation_context)

    async def _resolve_async(
        self, flag_key: str, default_value: Any, evaluation_context: Any
    ) -> FlagResolutionDetails[Any]:
        self.calls.append(("async", flag_key))
        return InMemoryProvider._resolve(self, flag_key, default_value, evaluation_context)


def test_initialize_and_shutdown_are_forwarded() -> None:
    inner = RecordingProvider()
    api.set_evaluation_context(EvaluationContext(attributes={"region": "eu"}))
    with capture_events() as captured:
        api.set_provider_and_wait(TrackingProvider(inner, captured.exporter))
        assert inner.calls == [("initialize", EvaluationContext(attributes={"region": "eu"}))]
        api.shutdown()
    assert inner.calls[1:] == [("shutdown",)]


def test_metadata_and_vendor_extras_come_from_the_wrapped_provider(launchdarkly: Exported) -> None:
    assert launchdarkly.wrapper.get_metadata() == launchdarkly.inner.get_metadata()
    assert api.get_provider_metadata().name == "launchdarkly-openfeature-server"
    assert launchdarkly.client.provider is launchdarkly.wrapper
    assert launchdarkly.wrapper.client is launchdarkly.inner.client  # type: ignore[attr-defined]


def test_provider_hooks_are_delegated_and_run() -> None:
    inner = RecordingProvider()
    with capture_events() as captured:
        api.set_provider_and_wait(TrackingProvider(inner, captured.exporter))
        assert api.get_client().get_boolean_value("new-checkout", False, USER) is True
        (row,) = captured.rows()
    assert inner.hook.stages == ["before", "after", "finally_after"]
    assert row["flag_key"] == "new-checkout"


def test_flagd_keeps_its_own_provider_hook(flagd: Exported) -> None:
    (hook,) = flagd.wrapper.get_provider_hooks()
    assert hook is flagd.inner.get_provider_hooks()[0]
    assert type(hook).__name__ == "SyncMetadataHook"


@pytest.mark.parametrize(
    ("flag_type", "flag_key", "default"),
    [
        ("boolean", "new-checkout", False),
        ("string", "button-color", "grey"),
        ("integer", "max-items", 1),
        ("float", "discount-rate", 0.0),
        ("object", "checkout-config", {}),
    ],
)
def test_sync_and_async_resolvers_are_delegated(flag_type: str, flag_key: str, default: Any) -> None:
    inner = RecordingProvider()
    with capture_events() as captured:
        wrapper = TrackingProvider(inner, captured.exporter)
        resolve = getattr(wrapper, f"resolve_{flag_type}_details")
        resolve_async = getattr(wrapper, f"resolve_{flag_type}_details_async")
        sync = resolve(flag_key, default, USER)
        from_async = asyncio.run(resolve_async(flag_key, default, USER))
    assert inner.calls == [("sync", flag_key), ("async", flag_key)]
    assert from_async == sync == InMemoryProvider._resolve(inner, flag_key, default, USER)
    assert sync.variant is not None


class TrackFails(InMemoryProvider):
    """A vendor whose track raises (unleash's provider does, with a TypeError)."""

    def __init__(self) -> None:
        super().__init__(in_memory_flags())
        self.attempts = 0

    def track(self, *args: Any, **kwargs: Any) -> None:
        self.attempts += 1
        raise TypeError("track() takes 2 positional arguments but 4 were given")


class PredatesTracking(InMemoryProvider):
    """A provider written before OpenFeature had ``track``."""

    track = None  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__(in_memory_flags())
        self.attempts = 0


@pytest.mark.parametrize(
    ("vendor_class", "attempts"),
    [pytest.param(TrackFails, 1, id="raises"), pytest.param(PredatesTracking, 0, id="absent")],
)
def test_track_is_recorded_whatever_the_vendor_does_with_it(
    vendor_class: type[TrackFails | PredatesTracking], attempts: int
) -> None:
    inner = vendor_class()
    with capture_events() as captured:
        api.set_provider_and_wait(TrackingProvider(inner, captured.exporter))
        api.get_client().track("purchase", USER, TrackingEventDetails(3.0))  # must not raise
        (row,) = captured.rows()
        stats = captured.exporter.stats()
        api.shutdown()
    assert (row["kind"], row["event_name"], row["metric_value"], row["targeting_key"]) == (
        "track",
        "purchase",
        3.0,
        "user-1",
    )
    assert inner.attempts == attempts
    # The vendor's failure is counted (and logged by the worker, never on the caller's thread).
    assert stats.get("vendor_track_errors", 0) == attempts


def test_track_rows_hold_the_context_the_client_merged(split: Exported) -> None:
    api.set_evaluation_context(EvaluationContext(attributes={"app": "shop", "plan": "free"}))
    client = split.client
    client.context = EvaluationContext(attributes={"region": "eu"})
    client.track("purchase", USER)
    (row,) = split.rows()
    assert row["context"] == '{"app":"shop","plan":"pro","region":"eu"}'
    assert (row["targeting_key"], row["metric_value"], row["attributes"]) == ("user-1", None, "{}")
