"""Split / Harness FME's real SDK in localhost mode through TrackingProvider + ExportHook.

Every successful Split evaluation says TARGETING_MATCH: the Split label (whitelisted, default
rule, killed...) never reaches OpenFeature, so the default rule, a whitelist hit and an "off"
treatment all look alike.  The treatment is the variant; its dynamic config comes as a JSON string.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider import AbstractProvider
from openfeature.track import TrackingEventDetails
from vendor_harness import Exported, failed, normalised

pytestmark = pytest.mark.vendor

USER = EvaluationContext("user-1", {"plan": "pro"})
VIP = EvaluationContext("vip-user", {"plan": "pro"})


def served(value: str, treatment: str, config: str | None = None) -> dict[str, Any]:
    """A successful Split evaluation: always TARGETING_MATCH, the treatment as the variant."""
    return {
        "value": value,
        "variant": treatment,
        "reason": "TARGETING_MATCH",
        "vendor_reason": "TARGETING_MATCH",
        "error_code": None,
        "is_default_value": False,
        "context_kind": None,
        "flag_metadata": {} if config is None else {"config": config},  # config None is dropped
        "vendor_details": {"treatment": treatment}
        | ({} if config is None else {"config": json.loads(config)}),
    }


@pytest.mark.parametrize(
    ("flag_type", "flag_key", "default", "context", "expected", "error_message"),
    [
        pytest.param("boolean", "new-checkout", False, USER, served("true", "on"), None, id="all-keys-rule"),
        pytest.param(
            "string",
            "button-color",
            "grey",
            USER,
            served('"red"', "red", config='{"hex": "#f00"}'),
            None,
            id="default-rule",
        ),
        pytest.param(
            "string",
            "button-color",
            "grey",
            VIP,
            served('"green"', "green", config='{"hex": "#0f0"}'),
            None,
            id="whitelist-match",
        ),
        # What a killed flag serves; Split does not say the flag is off, so neither can the row.
        pytest.param(
            "boolean", "legacy-banner", True, USER, served("false", "off"), None, id="off-treatment"
        ),
        pytest.param(
            "string",
            "no-such-flag",
            "fallback",
            USER,
            failed('"fallback"', "FLAG_NOT_FOUND")
            # Split's provider says DEFAULT + FLAG_NOT_FOUND and names the treatment "control".
            | {
                "vendor_reason": "DEFAULT",
                "vendor_details": {"vendor_variant": "control", "treatment": "control"},
            },
            None,
            id="missing",
        ),
        pytest.param(
            "object",
            "checkout-config",
            [],  # the provider only JSON-parses a treatment when the default is a dict
            USER,
            failed("[]", "TYPE_MISMATCH"),
            "Expected type (<class 'dict'>, <class 'list'>) but got <class 'str'>",
            id="type-mismatch",
        ),
        pytest.param(
            "boolean",
            "button-color",
            False,
            USER,
            failed("false", "PARSE_ERROR"),
            "Could not convert treatment",
            id="error-treatment-not-boolean",
        ),
        pytest.param(
            "boolean",
            "new-checkout",
            False,
            EvaluationContext(attributes={"plan": "pro"}),
            failed("false", "TARGETING_KEY_MISSING"),
            "Missing targeting key",
            id="error-no-targeting-key",
        ),
        pytest.param(
            "object",
            "checkout-config",
            {},
            USER,
            # The treatment *name* is the JSON; the config is not used as the value.
            served('{"layout":"grid","steps":3}', '{"layout": "grid", "steps": 3}'),
            None,
            id="object",
        ),
        pytest.param("integer", "max-items", 1, USER, served("5", "5"), None, id="integer-from-treatment"),
    ],
)
def test_evaluations_are_exported_normalised(
    split: Exported,
    flag_type: str,
    flag_key: str,
    default: Any,
    context: EvaluationContext,
    expected: dict[str, Any],
    error_message: str | None,
) -> None:
    _, row = split.evaluate(flag_type, flag_key, default, context)
    assert normalised(row) == expected
    assert row["error_message"] == error_message


def test_track_is_exported_although_split_does_not_implement_it(split: Exported) -> None:
    assert type(split.inner).track is AbstractProvider.track  # OpenFeature's no-op
    row = split.track("purchase", USER, TrackingEventDetails(42.0, {"currency": "EUR"}))
    assert (row["targeting_key"], row["metric_value"], row["attributes"]) == (
        "user-1",
        42.0,
        '{"currency":"EUR"}',
    )
    assert (row["context"], row["context_kind"]) == ('{"plan":"pro"}', None)
