"""OpenFeature's InMemoryProvider through TrackingProvider + ExportHook.

Reasons are whatever the flag (or its ``context_evaluator``) says; the provider ignores a
flag's ``state``, so a DISABLED in-memory flag is still served.
"""

from __future__ import annotations

from typing import Any

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.track import TrackingEventDetails
from vendor_harness import Exported, failed, normalised

pytestmark = pytest.mark.vendor

USER = EvaluationContext("user-1", {"plan": "pro"})
VIP = EvaluationContext("vip-user", {"plan": "pro"})


def served(value: str, variant: str, reason: str, **flag_metadata: Any) -> dict[str, Any]:
    """An in-memory evaluation that did not fail."""
    return {
        "value": value,
        "variant": variant,
        "reason": reason,
        "vendor_reason": reason,
        "error_code": None,
        "is_default_value": False,
        "context_kind": None,
        "flag_metadata": flag_metadata,
        "vendor_details": {},
    }


@pytest.mark.parametrize(
    ("flag_type", "flag_key", "default", "context", "expected", "error_message"),
    [
        pytest.param(
            "boolean", "new-checkout", False, USER, served("true", "on", "STATIC"), None, id="static"
        ),
        pytest.param(
            "boolean",
            "new-checkout",
            False,
            EvaluationContext("acme", {"kind": "organization"}),
            served("true", "on", "STATIC") | {"context_kind": "organization"},
            None,
            id="kind-attribute",
        ),
        pytest.param(
            "string",
            "button-color",
            "grey",
            USER,
            served('"red"', "red", "DEFAULT", owner="growth-team"),
            None,
            id="default-rule",
        ),
        pytest.param(
            "string",
            "button-color",
            "grey",
            VIP,
            served('"green"', "green", "TARGETING_MATCH", owner="growth-team"),
            None,
            id="targeting-match",
        ),
        pytest.param(
            "boolean",
            "kill-switch",
            True,
            USER,
            served("false", "off", "DISABLED"),  # a served off variant is a configured value
            None,
            id="disabled-by-evaluator",
        ),
        pytest.param(
            "boolean",
            "legacy-banner",
            False,
            USER,
            served("true", "on", "STATIC"),  # state=DISABLED is ignored by the SDK
            None,
            id="disabled-state-ignored",
        ),
        pytest.param(
            "string",
            "no-such-flag",
            "fallback",
            USER,
            failed('"fallback"', "FLAG_NOT_FOUND"),
            "Flag 'no-such-flag' not found",
            id="missing",
        ),
        pytest.param(
            "string",
            "new-checkout",
            "fallback",
            USER,
            failed('"fallback"', "TYPE_MISMATCH"),
            "Expected type <class 'str'> but got <class 'bool'>",
            id="type-mismatch",
        ),
        pytest.param(
            "string",
            "regional-pricing",
            "EUR",
            USER,
            failed('"EUR"', "INVALID_CONTEXT"),
            "regional-pricing needs a country",
            id="error-invalid-context",
        ),
        pytest.param(
            "object",
            "checkout-config",
            {},
            USER,
            served('{"layout":"grid","steps":3}', "grid", "STATIC"),
            None,
            id="object",
        ),
    ],
)
def test_evaluations_are_exported_normalised(
    in_memory: Exported,
    flag_type: str,
    flag_key: str,
    default: Any,
    context: EvaluationContext,
    expected: dict[str, Any],
    error_message: str | None,
) -> None:
    _, row = in_memory.evaluate(flag_type, flag_key, default, context)
    assert normalised(row) == expected
    assert row["error_message"] == error_message


def test_track_is_exported_and_forwarded_to_the_in_memory_provider(in_memory: Exported) -> None:
    row = in_memory.track("purchase", USER, TrackingEventDetails(42.0, {"currency": "EUR"}))
    assert (row["targeting_key"], row["metric_value"], row["attributes"]) == (
        "user-1",
        42.0,
        '{"currency":"EUR"}',
    )
    assert (row["context"], row["context_kind"]) == ('{"plan":"pro"}', None)
    # The SDK's only record of a tracked event (the last one per name).
    forwarded = in_memory.inner._tracking_events["purchase"]  # type: ignore[attr-defined]
    assert (forwarded.value, forwarded.details, dict(forwarded.eval_context_attributes)) == (
        42.0,
        {"currency": "EUR"},
        {"plan": "pro"},
    )
