"""Real vendor providers, set up offline, wired to the exporter exactly as an application would.

Every vendor serves the same application flags (``new-checkout``, ``button-color``, ``max-items``,
``discount-rate``, ``checkout-config``, ``legacy-banner``) so that one unchanged app can run
under each of them; each also has flags for the cases only it can express.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ld_openfeature import LaunchDarklyProvider
from ldclient import Config
from ldclient.integrations.test_data import TestData
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import InvalidContextError
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagResolutionDetails, Reason
from openfeature.provider import FeatureProvider
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from openfeature.track import TrackingEventDetails
from split_openfeature_provider import SplitProvider
from splitio import get_factory

from openfeature_s3_export import COLUMNS, TrackingProvider
from openfeature_s3_export.testing import CapturedEvents, capture_events
from openfeature_s3_export.vendors._base import OPENFEATURE_REASONS

DATA = Path(__file__).parent / "data"
CHECKOUT_CONFIG = {"layout": "grid", "steps": 3}
EVALUATION_ONLY = (
    "flag_key",
    "flag_type",
    "value",
    "default_value",
    "variant",
    "reason",
    "vendor_reason",
    "error_code",
    "error_message",
    "is_default_value",
    "flag_metadata",
    "vendor_details",
)
"""Columns that a track row leaves null."""

# -- LaunchDarkly ---------------------------------------------------------------------------


def launchdarkly_test_data() -> TestData:
    """The application flags, plus an individually targeted organisation flag."""
    td = TestData.data_source()
    td.update(td.flag("new-checkout").boolean_flag().variation_for_all(True))
    td.update(
        td.flag("button-color")
        .variations("red", "green")
        .fallthrough_variation(0)
        .if_match("key", "vip-user")
        .then_return(1)
    )
    td.update(td.flag("max-items").variations(5, 10).fallthrough_variation(0))
    td.update(td.flag("discount-rate").variations(0.1, 0.2).fallthrough_variation(0))
    td.update(
        td.flag("checkout-config").variations(CHECKOUT_CONFIG, {"layout": "list"}).fallthrough_variation(0)
    )
    td.update(td.flag("legacy-banner").boolean_flag().on(False))  # off: serves offVariation 1 (false)
    td.update(
        td.flag("premium-support")
        .boolean_flag()
        .fallthrough_variation(False)
        .variation_for_key("organization", "acme", True)
    )
    return td


@contextmanager
def start_launchdarkly(data_source: Any = None) -> Iterator[LaunchDarklyProvider]:
    """LD's real client on TestData (or *data_source*), sending no events anywhere.

    Never ``offline=True``: that makes every evaluation return the default.  The client is
    closed by ``api.shutdown()`` (``provider.shutdown``); closing it twice raises in TestData.
    """
    config = Config(
        "offline-sdk-key",
        update_processor_class=data_source or launchdarkly_test_data(),
        send_events=False,
    )
    yield LaunchDarklyProvider(config, start_wait=5)


# -- Split ----------------------------------------------------------------------------------


@contextmanager
def start_split(flag_file: Path = DATA / "split.yaml") -> Iterator[SplitProvider]:
    """Split's real SDK in localhost mode; the factory is destroyed on exit (the provider can't)."""
    factory = get_factory(
        "localhost",
        config={
            "splitFile": str(flag_file),
            "IPAddressesEnabled": False,  # else the SDK connect()s to 10.255.255.255 to learn its IP
            "impressionsMode": "optimized",
        },
    )
    try:
        factory.block_until_ready(5)
        yield SplitProvider({"SplitClient": factory.client()})
    finally:
        destroyed = threading.Event()
        factory.destroy(destroyed)
        destroyed.wait(5)


# -- flagd ----------------------------------------------------------------------------------


@contextmanager
def start_flagd(flag_file: Path = DATA / "flagd.json", **options: Any) -> Iterator[FlagdProvider]:
    """flagd's in-process evaluator reading a flag file (no flagd daemon, no gRPC)."""
    provider = FlagdProvider(
        resolver_type=ResolverType.FILE, offline_flag_source_path=str(flag_file), **options
    )
    try:
        yield provider
    finally:
        provider.shutdown()  # stops the file watcher thread; a second shutdown is harmless


# -- OpenFeature's in-memory provider -------------------------------------------------------


def _vip_gets_green(flag: InMemoryFlag[str], context: EvaluationContext) -> FlagResolutionDetails[str]:
    variant, reason = (
        ("green", Reason.TARGETING_MATCH) if context.targeting_key == "vip-user" else ("red", Reason.DEFAULT)
    )
    return FlagResolutionDetails(
        flag.variants[variant], variant=variant, reason=reason, flag_metadata=flag.flag_metadata
    )


def _killed(flag: InMemoryFlag[bool], context: EvaluationContext) -> FlagResolutionDetails[bool]:
    return FlagResolutionDetails(flag.variants["off"], variant="off", reason=Reason.DISABLED)


def _needs_country(flag: InMemoryFlag[str], context: EvaluationContext) -> FlagResolutionDetails[str]:
    if "country" not in context.attributes:
        raise InvalidContextError("regional-pricing needs a country")
    country = str(context.attributes["country"])
    return FlagResolutionDetails(
        flag.variants.get(country, "EUR"), variant=country, reason=Reason.TARGETING_MATCH
    )


def in_memory_flags() -> dict[str, InMemoryFlag[Any]]:
    """The application flags, plus a kill switch and a flag that rejects incomplete contexts."""
    return {
        "new-checkout": InMemoryFlag("on", {"on": True, "off": False}),
        "button-color": InMemoryFlag(
            "red",
            {"red": "red", "green": "green"},
            flag_metadata={"owner": "growth-team"},
            context_evaluator=_vip_gets_green,
        ),
        "max-items": InMemoryFlag("five", {"five": 5, "ten": 10}),
        "discount-rate": InMemoryFlag("low", {"low": 0.1, "high": 0.2}),
        "checkout-config": InMemoryFlag("grid", {"grid": CHECKOUT_CONFIG, "list": {"layout": "list"}}),
        # The SDK ignores `state`: a DISABLED in-memory flag is still served (STATIC).
        "legacy-banner": InMemoryFlag("on", {"on": True, "off": False}, state=InMemoryFlag.State.DISABLED),
        "kill-switch": InMemoryFlag("on", {"on": True, "off": False}, context_evaluator=_killed),
        "regional-pricing": InMemoryFlag("fr", {"fr": "EUR", "us": "USD"}, context_evaluator=_needs_country),
    }


@contextmanager
def start_in_memory() -> Iterator[InMemoryProvider]:
    """OpenFeature's own in-memory provider."""
    yield InMemoryProvider(in_memory_flags())


# -- wiring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vendor:
    """How to start one vendor offline, and what its rows must say about it."""

    name: str
    provider_name: str
    start: Callable[[], AbstractContextManager[FeatureProvider]]


VENDORS: Mapping[str, Vendor] = {
    "launchdarkly": Vendor("launchdarkly", "launchdarkly-openfeature-server", start_launchdarkly),
    "split": Vendor("split", "Split", start_split),
    "flagd": Vendor("flagd", "FlagdProvider", start_flagd),
    "in-memory": Vendor("in-memory", "In-Memory Provider", start_in_memory),
}


@dataclass(frozen=True)
class Exported:
    """An OpenFeature client whose vendor provider is wrapped for export, and what it exported."""

    vendor: Vendor
    inner: FeatureProvider
    wrapper: TrackingProvider
    captured: CapturedEvents

    @property
    def client(self) -> OpenFeatureClient:
        return api.get_client()

    def rows(self) -> list[dict[str, Any]]:
        """Flush, then every row exported so far, decoded from the bytes the sink received."""
        return self.captured.rows()

    def evaluate(
        self, flag_type: str, flag_key: str, default: Any, context: EvaluationContext
    ) -> tuple[FlagEvaluationDetails[Any], dict[str, Any]]:
        """Evaluate one flag and return what the caller got and the one row exported for it.

        Checks what every evaluation row must hold whatever the outcome: all columns, the
        vendor's identity, a standard OpenFeature reason, and exactly the value the caller got.
        """
        details = getattr(self.client, f"get_{flag_type}_details")(flag_key, default, context)
        (row,) = self.rows()
        assert tuple(row) == COLUMNS
        assert (row["kind"], row["flag_key"], row["flag_type"]) == ("evaluation", flag_key, flag_type)
        assert (row["provider"], row["vendor"]) == (self.vendor.provider_name, self.vendor.name)
        assert row["targeting_key"] == context.targeting_key
        assert row["reason"] in OPENFEATURE_REASONS
        assert json.loads(row["value"]) == details.value
        assert json.loads(row["default_value"]) == default
        return details, row

    def track(
        self, event_name: str, context: EvaluationContext, details: TrackingEventDetails | None = None
    ) -> dict[str, Any]:
        """``client.track(...)`` and return the one row exported for it (evaluation columns null)."""
        self.client.track(event_name, context, details)
        (row,) = self.rows()
        assert tuple(row) == COLUMNS
        assert (row["kind"], row["event_name"]) == ("track", event_name)
        assert (row["provider"], row["vendor"]) == (self.vendor.provider_name, self.vendor.name)
        assert {column: row[column] for column in EVALUATION_ONLY} == dict.fromkeys(EVALUATION_ONLY)
        return row


@contextmanager
def exported(vendor: Vendor, inner: FeatureProvider) -> Iterator[Exported]:
    """``set_provider_and_wait(TrackingProvider(inner, exporter))`` + the export hook, as in the README."""
    with capture_events() as captured:  # registers ExportHook(captured.exporter) with api.add_hooks
        wrapper = TrackingProvider(inner, captured.exporter)
        api.set_provider_and_wait(wrapper)
        try:
            yield Exported(vendor, inner, wrapper, captured)
        finally:
            api.shutdown()  # shuts the wrapper, and so the vendor, down


@contextmanager
def running(name: str) -> Iterator[Exported]:
    """Start vendor *name* offline and wire it for export."""
    vendor = VENDORS[name]
    with vendor.start() as inner, exported(vendor, inner) as wired:
        yield wired


def normalised(row: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a vendor normaliser decides, with the JSON-text ones decoded."""
    assert isinstance(row["flag_metadata"], str) and isinstance(row["vendor_details"], str)
    return {
        "value": row["value"],
        "variant": row["variant"],
        "reason": row["reason"],
        "vendor_reason": row["vendor_reason"],
        "error_code": row["error_code"],
        "is_default_value": row["is_default_value"],
        "context_kind": row["context_kind"],
        "flag_metadata": json.loads(row["flag_metadata"]),
        "vendor_details": json.loads(row["vendor_details"]),
    }


def failed(value: str, error_code: str) -> dict[str, Any]:
    """An evaluation that served the code default because of an error."""
    return {
        "value": value,
        "variant": None,
        "reason": "ERROR",
        "vendor_reason": "ERROR",
        "error_code": error_code,
        "is_default_value": True,
        "context_kind": None,
        "flag_metadata": {},
        "vendor_details": {},
    }
