"""Async evaluations (``get_*_async``) through real vendors are exported like synchronous ones."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails
from vendor_harness import Exported

pytestmark = pytest.mark.vendor

VIP = EvaluationContext("vip-user", {"plan": "pro"})
CALLS: list[tuple[str, str, Any]] = [
    ("boolean", "new-checkout", False),
    ("string", "button-color", "grey"),
    ("integer", "max-items", 1),
    ("float", "discount-rate", 0.0),
    ("object", "checkout-config", {}),
    ("boolean", "gift-wrap", False),  # configured nowhere: FLAG_NOT_FOUND
]
VOLATILE = ("event_id", "timestamp")


async def evaluate_all_async(client: OpenFeatureClient) -> list[FlagEvaluationDetails[Any]]:
    return await asyncio.gather(
        *(
            getattr(client, f"get_{flag_type}_details_async")(key, default, VIP)
            for flag_type, key, default in CALLS
        )
    )


def by_flag(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["flag_key"]: {k: v for k, v in row.items() if k not in VOLATILE} for row in rows}


@pytest.mark.parametrize("vendor", ["launchdarkly", "flagd", "in_memory"])
def test_async_evaluations_export_the_same_rows_as_sync_ones(
    vendor: str, request: pytest.FixtureRequest
) -> None:
    wired: Exported = request.getfixturevalue(vendor)
    sync = [getattr(wired.client, f"get_{t}_details")(key, default, VIP) for t, key, default in CALLS]
    sync_rows = wired.rows()
    wired.captured.sink.clear()

    async_details = asyncio.run(evaluate_all_async(wired.client))
    async_rows = wired.rows()

    assert [d.value for d in async_details] == [d.value for d in sync]
    assert len(async_rows) == len(CALLS)
    assert by_flag(async_rows) == by_flag(sync_rows)
    assert by_flag(async_rows)["new-checkout"]["value"] == "true"


def test_split_cannot_evaluate_async_and_the_rows_say_so(split: Exported) -> None:
    # split-openfeature-provider 1.1.0: the sync SplitProvider inherits `async def ...: pass`
    # resolvers, so every async evaluation gets None and the SDK reports GENERAL.  The wrapper
    # delegates faithfully: it must not hide (nor cause) that.
    assert asyncio.run(split.wrapper.resolve_boolean_details_async("new-checkout", False, VIP)) is None
    details = asyncio.run(evaluate_all_async(split.client))
    rows = split.rows()

    assert [d.value for d in details] == [default for _, _, default in CALLS]
    assert [(r["flag_key"], r["error_code"], r["reason"], r["is_default_value"]) for r in rows] == [
        (key, "GENERAL", "ERROR", True) for _, key, _ in CALLS
    ]
    assert {r["error_message"] for r in rows} == {"'NoneType' object has no attribute 'error_code'"}


def test_async_type_mismatch_row_holds_the_value_the_caller_got(in_memory: Exported) -> None:
    # openfeature-sdk 0.10's async path does not reset the value to the default when its own type
    # check fails (the sync path does): the caller gets the flag's bool.  The row must say so.
    details = asyncio.run(in_memory.client.get_string_details_async("new-checkout", "fallback", VIP))
    (row,) = in_memory.rows()
    assert details.value is True
    assert (json.loads(row["value"]), row["error_code"], row["reason"]) == (True, "TYPE_MISMATCH", "ERROR")
