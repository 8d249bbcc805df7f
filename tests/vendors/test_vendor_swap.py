"""Swapping the flag vendor changes no application code and no table.

One unchanged application function runs under LaunchDarkly, Split, flagd and the in-memory
provider; the rows it exports must have the same columns, the same JSON type in every column,
and the same vendor-independent data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.track import TrackingEventDetails
from vendor_harness import VENDORS, running

from openfeature_s3_export import COLUMNS, TrackingProvider
from openfeature_s3_export.testing import CapturedEvents, capture_events
from openfeature_s3_export.vendors._base import OPENFEATURE_REASONS

pytestmark = pytest.mark.vendor

USERS = ("vip-user", "user-7")

VENDOR_INDEPENDENT = (
    "schema_version",
    "kind",
    "flag_key",
    "flag_type",
    "value",
    "default_value",
    "is_default_value",
    "error_code",
    "domain",
    "targeting_key",
    "context_kind",
    "context",
    "event_name",
    "metric_value",
    "attributes",
)
"""What the application did and got: identical whichever vendor served it."""

JSON_TEXT = ("value", "default_value", "context", "flag_metadata", "vendor_details", "attributes")


def checkout_page(client: OpenFeatureClient, user: str) -> dict[str, Any]:
    """The application: reads its flags, records a purchase, and knows nothing of vendors."""
    context = EvaluationContext(user, {"country": "fr", "plan": "pro"})
    page = {
        "new_checkout": client.get_boolean_value("new-checkout", False, context),
        "button_color": client.get_string_value("button-color", "grey", context),
        "max_items": client.get_integer_value("max-items", 1, context),
        "discount": client.get_float_value("discount-rate", 0.0, context),
        "layout": client.get_object_value("checkout-config", {"layout": "list"}, context),
        "gift_wrap": client.get_boolean_value("gift-wrap", False, context),  # configured nowhere
    }
    client.track("purchase", context, TrackingEventDetails(42.0, {"currency": "EUR"}))
    return page


def json_type(value: Any) -> str:
    """The JSON type a reader sees; integers and fractions apart, as Athena and Spark keep them."""
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}[
        type(value)
    ]


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """The application's pages and exported rows under each vendor, in turn."""
    results = {}
    for name in VENDORS:
        with running(name) as wired:
            pages = [checkout_page(wired.client, user) for user in USERS]
            results[name] = (pages, wired.rows())
    return results


def test_the_application_gets_the_same_values_under_every_vendor(runs: Mapping[str, Any]) -> None:
    expected = {
        "new_checkout": True,
        "max_items": 5,
        "discount": 0.1,
        "layout": {"layout": "grid", "steps": 3},
        "gift_wrap": False,
    }
    for pages, _ in runs.values():
        assert pages == [expected | {"button_color": "green"}, expected | {"button_color": "red"}]


def test_every_row_has_every_column_in_schema_order(runs: Mapping[str, Any]) -> None:
    for vendor, (_, rows) in runs.items():
        assert len(rows) == 14, vendor  # 6 evaluations and 1 track per page view
        assert all(tuple(row) == COLUMNS for row in rows), vendor
        assert {(row["vendor"], row["provider"]) for row in rows} == {(vendor, VENDORS[vendor].provider_name)}


def test_vendor_independent_columns_are_identical(runs: Mapping[str, Any]) -> None:
    tables = {
        vendor: [{column: row[column] for column in VENDOR_INDEPENDENT} for row in rows]
        for vendor, (_, rows) in runs.items()
    }
    reference = tables.pop("in-memory")
    assert [row["kind"] for row in reference] == (["evaluation"] * 6 + ["track"]) * 2
    for vendor, table in tables.items():
        assert table == reference, vendor


def test_every_column_has_the_same_json_type_under_every_vendor(runs: Mapping[str, Any]) -> None:
    signatures = {
        vendor: [
            {column: json_type(row[column]) for column in COLUMNS}
            | {
                f"{column} (decoded)": json_type(json.loads(row[column]))
                for column in JSON_TEXT
                if row[column]
            }
            for row in rows
        ]
        for vendor, (_, rows) in runs.items()
    }
    reference_rows, reference = runs["in-memory"][1], signatures.pop("in-memory")
    differences = {
        (vendor, row["flag_key"], column)
        for vendor, signature in signatures.items()
        for row, theirs, ours in zip(reference_rows, signature, reference, strict=True)
        for column in theirs.keys() | ours.keys()
        if theirs.get(column) != ours.get(column)
    }
    # The one genuine difference: LD and Split give no error message with FLAG_NOT_FOUND.
    assert differences == {
        ("launchdarkly", "gift-wrap", "error_message"),
        ("split", "gift-wrap", "error_message"),
    }
    for vendor, (_, rows) in runs.items():
        assert {row["reason"] for row in rows} <= OPENFEATURE_REASONS | {None}, vendor


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=16)  # lone surrogates can't be UTF-8
_ATTRIBUTE_KEYS = _TEXT.filter(lambda key: key not in ("privateAttributes", "targetingKey"))  # reserved
_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_ATTRIBUTE_KEYS, children, max_size=3),
    max_leaves=8,
)
_CONTEXTS = st.builds(
    EvaluationContext,
    targeting_key=st.none() | _TEXT,
    attributes=st.dictionaries(_ATTRIBUTE_KEYS, _JSON_VALUES, max_size=4)
    # LaunchDarkly reads "kind" as the context kind ("multi": one nested context per kind).
    | st.fixed_dictionaries(
        {"kind": st.sampled_from(["user", "organization", "multi", ""])}, optional={"org": _JSON_VALUES}
    ),
)


@pytest.fixture
def all_vendors_at_once() -> Iterator[tuple[CapturedEvents, dict[str, OpenFeatureClient]]]:
    """The four vendors bound to four domains of one OpenFeature API, all exporting to one sink."""
    with ExitStack() as stack:
        captured = stack.enter_context(capture_events())
        clients = {}
        for name, vendor in VENDORS.items():
            inner = stack.enter_context(vendor.start())
            api.set_provider_and_wait(TrackingProvider(inner, captured.exporter), domain=name)
            clients[name] = api.get_client(name)
        stack.callback(api.shutdown)
        yield captured, clients


def test_any_context_exports_the_same_columns_under_every_vendor(
    all_vendors_at_once: tuple[CapturedEvents, dict[str, OpenFeatureClient]],
) -> None:
    # Contexts are user data: whatever the app passes, and whatever each vendor makes of it
    # (LD rejects some), every vendor's row keeps the schema and the context as given.
    captured, clients = all_vendors_at_once

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(context=_CONTEXTS)
    def evaluate_everywhere(context: EvaluationContext) -> None:
        captured.sink.clear()
        served = {
            name: client.get_string_value("button-color", "grey", context) for name, client in clients.items()
        }
        rows = {row["domain"]: row for row in captured.rows()}
        assert set(rows) == set(VENDORS)
        kind = context.attributes.get("kind")
        for name, row in rows.items():
            assert tuple(row) == COLUMNS
            assert json.loads(row["value"]) == served[name]
            assert row["reason"] in OPENFEATURE_REASONS
            assert isinstance(row["is_default_value"], bool)
            assert (row["targeting_key"], row["context_kind"]) == (
                context.targeting_key or None,  # the SDK's context merge turns "" into None
                kind if isinstance(kind, str) else None,
            )
            assert json.loads(row["context"]) == context.attributes
            assert isinstance(json.loads(row["flag_metadata"]), dict)
            assert isinstance(json.loads(row["vendor_details"]), dict)

    evaluate_everywhere()
