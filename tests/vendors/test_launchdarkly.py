"""LaunchDarkly's real SDK (TestData and file data source) through TrackingProvider + ExportHook.

LD reports its own reason kinds as strings (FALLTHROUGH, RULE_MATCH, PREREQUISITE_FAILED), the
variation *index* as the variant, and the evaluation reason's details as flag metadata.
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
ACME = EvaluationContext("acme", {"kind": "organization", "tier": "gold"})


@pytest.mark.parametrize(
    ("flag_type", "flag_key", "default", "context", "expected"),
    [
        pytest.param(
            "boolean",
            "new-checkout",
            False,
            USER,
            {
                "value": "true",
                "variant": "0",
                "reason": "DEFAULT",  # the flag's own default rule: FALLTHROUGH
                "vendor_reason": "FALLTHROUGH",
                "error_code": None,
                "is_default_value": False,
                "context_kind": None,
                "flag_metadata": {"variationIndex": 0},
                "vendor_details": {"variation_index": 0},
            },
            id="fallthrough",
        ),
        pytest.param(
            "string",
            "button-color",
            "grey",
            VIP,
            {
                "value": '"green"',
                "variant": "1",
                "reason": "TARGETING_MATCH",
                "vendor_reason": "RULE_MATCH",
                "error_code": None,
                "is_default_value": False,
                "context_kind": None,
                "flag_metadata": {"variationIndex": 1, "ruleIndex": 0, "ruleId": "rule0"},
                "vendor_details": {"variation_index": 1, "rule_id": "rule0", "rule_index": 0},
            },
            id="rule-match",
        ),
        pytest.param(
            "boolean",
            "premium-support",
            False,
            ACME,
            {
                "value": "true",
                "variant": "0",
                "reason": "TARGETING_MATCH",
                "vendor_reason": "TARGETING_MATCH",  # LD's TARGET_MATCH, mapped by the provider
                "error_code": None,
                "is_default_value": False,
                "context_kind": "organization",
                "flag_metadata": {"variationIndex": 0},
                "vendor_details": {"variation_index": 0},
            },
            id="individual-target-non-user-kind",
        ),
        pytest.param(
            "boolean",
            "legacy-banner",
            True,
            USER,
            {
                "value": "false",
                "variant": "1",  # the off variation is a value configured in LD, not the code default
                "reason": "DISABLED",
                "vendor_reason": "DISABLED",
                "error_code": None,
                "is_default_value": False,
                "context_kind": None,
                "flag_metadata": {"variationIndex": 1},
                "vendor_details": {"variation_index": 1},
            },
            id="off",
        ),
        pytest.param(
            "string",
            "no-such-flag",
            "fallback",
            USER,
            failed('"fallback"', "FLAG_NOT_FOUND"),
            id="missing",
        ),
        pytest.param(
            "string",
            "new-checkout",
            "fallback",
            USER,
            failed('"fallback"', "TYPE_MISMATCH"),
            id="type-mismatch",
        ),
        pytest.param(
            "boolean",
            "new-checkout",
            False,
            EvaluationContext(attributes={"plan": "pro"}),
            failed("false", "TARGETING_KEY_MISSING"),
            id="error-no-targeting-key",
        ),
        pytest.param(
            "object",
            "checkout-config",
            {},
            USER,
            {
                "value": '{"layout":"grid","steps":3}',
                "variant": "0",
                "reason": "DEFAULT",
                "vendor_reason": "FALLTHROUGH",
                "error_code": None,
                "is_default_value": False,
                "context_kind": None,
                "flag_metadata": {"variationIndex": 0},
                "vendor_details": {"variation_index": 0},
            },
            id="object",
        ),
    ],
)
def test_evaluations_are_exported_normalised(
    launchdarkly: Exported,
    flag_type: str,
    flag_key: str,
    default: Any,
    context: EvaluationContext,
    expected: dict[str, Any],
) -> None:
    _, row = launchdarkly.evaluate(flag_type, flag_key, default, context)
    assert normalised(row) == expected
    # LD gives no message for any of its errors.
    assert row["error_message"] is None


@pytest.mark.parametrize(
    ("flag_key", "expected"),
    [
        pytest.param(
            "new-receipt",
            {
                "value": '"classic"',
                "variant": "0",
                "reason": "DISABLED",  # LD serves the off variation, exactly as for a flag turned off
                "vendor_reason": "PREREQUISITE_FAILED",
                "error_code": None,
                "is_default_value": False,
                "context_kind": None,
                "flag_metadata": {"variationIndex": 0, "prerequisiteKey": "payments-v2"},
                "vendor_details": {"variation_index": 0, "prerequisite_key": "payments-v2"},
            },
            id="prerequisite-failed",
        ),
        pytest.param(
            "sunset-banner",
            {
                "value": '"fallback"',
                "variant": None,  # off with no offVariation: LD hands back the code default
                "reason": "DISABLED",
                "vendor_reason": "DISABLED",
                "error_code": None,
                "is_default_value": True,
                "context_kind": None,
                "flag_metadata": {},
                "vendor_details": {},
            },
            id="off-without-off-variation",
        ),
        pytest.param(
            "broken-rollout",
            failed('"fallback"', "PARSE_ERROR"),
            id="error-malformed-flag",
        ),
    ],
)
def test_file_data_source_outcomes_are_exported_normalised(
    launchdarkly_files: Exported, flag_key: str, expected: dict[str, Any]
) -> None:
    _, row = launchdarkly_files.evaluate("string", flag_key, "fallback", USER)
    assert normalised(row) == expected


def test_experiment_traffic_is_reported_as_split(launchdarkly_files: Exported) -> None:
    client = launchdarkly_files.client
    served = {
        client.get_string_value("pricing-experiment", "none", EvaluationContext(f"u{i}")) for i in range(20)
    }
    rows = launchdarkly_files.rows()
    assert served == {"control", "treatment"}
    assert len(rows) == 20
    for row in rows:
        assert (row["reason"], row["vendor_reason"]) == ("SPLIT", "FALLTHROUGH")
        index = int(row["variant"])
        assert row["value"] == ('"control"', '"treatment"')[index]
        assert normalised(row)["vendor_details"] == {"variation_index": index, "in_experiment": True}


def test_track_is_exported_and_forwarded_to_launchdarkly(
    launchdarkly: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With send_events=False LD drops custom events after building them, so watch the real
    # LDClient.track call the provider makes (it still runs).
    ld_client = launchdarkly.inner.client
    real_track = ld_client.track
    received: list[tuple[Any, ...]] = []

    def counting_track(event_name: str, context: Any, data: Any = None, metric_value: Any = None) -> None:
        received.append((event_name, context, data, metric_value))
        real_track(event_name, context, data, metric_value)

    monkeypatch.setattr(ld_client, "track", counting_track)
    row = launchdarkly.track("purchase", USER, TrackingEventDetails(42.0, {"currency": "EUR"}))

    assert (row["targeting_key"], row["metric_value"], row["attributes"]) == (
        "user-1",
        42.0,
        '{"currency":"EUR"}',
    )
    assert (row["context"], row["context_kind"]) == ('{"plan":"pro"}', None)
    ((name, ld_context, data, metric_value),) = received
    assert (name, data, metric_value) == ("purchase", {"currency": "EUR"}, 42.0)
    assert (ld_context.kind, ld_context.key, ld_context.get("plan")) == ("user", "user-1", "pro")
