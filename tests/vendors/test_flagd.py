"""flagd's real in-process evaluator (flag file) through TrackingProvider + ExportHook.

flagd speaks OpenFeature's reasons natively.  The flag set's ``metadata`` is merged into every
flag's metadata (flag-level keys win) on success, and lost on errors, because flagd raises.
"""

from __future__ import annotations

from typing import Any

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider import AbstractProvider
from openfeature.track import TrackingEventDetails
from vendor_harness import Exported, failed, normalised

pytestmark = pytest.mark.vendor

USER = EvaluationContext("user-1", {"plan": "pro"})
VIP = EvaluationContext("vip-user", {"plan": "pro"})

FLAG_SET = {"flagSetId": "checkout", "version": "2026-11-24", "scope": "web"}
FLAG_SET_DETAILS = {"flag_set_id": "checkout", "flag_version": "2026-11-24", "scope": "web"}


def served(value: str, variant: str | None, reason: str, **flag_metadata: Any) -> dict[str, Any]:
    """A flagd evaluation that did not fail: the reason is flagd's own, the flag set is in metadata."""
    return {
        "value": value,
        "variant": variant,
        "reason": reason,
        "vendor_reason": reason,
        "error_code": None,
        "is_default_value": variant is None,
        "context_kind": None,
        "flag_metadata": FLAG_SET | flag_metadata,
        "vendor_details": FLAG_SET_DETAILS,
    }


@pytest.mark.parametrize(
    ("flag_type", "flag_key", "default", "context", "expected", "error_message"),
    [
        pytest.param(
            "boolean", "new-checkout", False, USER, served("true", "on", "STATIC"), None, id="static"
        ),
        pytest.param(
            "string",
            "button-color",
            "grey",
            USER,
            # The rule returned null: flagd serves the flag's defaultVariant, a configured value.
            served('"red"', "red", "DEFAULT", owner="growth-team"),
            None,
            id="default-variant",
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
            "legacy-banner",
            True,
            USER,
            served("true", None, "DISABLED"),  # the code default, with no error
            None,
            id="disabled",
        ),
        pytest.param(
            "string",
            "no-such-flag",
            "fallback",
            USER,
            failed('"fallback"', "FLAG_NOT_FOUND"),
            "Flag with key no-such-flag not present in flag store.",
            id="missing",
        ),
        pytest.param(
            "string",
            "new-checkout",
            "fallback",
            USER,
            failed('"fallback"', "TYPE_MISMATCH"),
            "Expected type str but got bool",
            id="type-mismatch",
        ),
        pytest.param(
            "string",
            "broken-targeting",
            "fallback",
            USER,
            failed('"fallback"', "GENERAL"),
            "Resolved variant not-a-variant not in variants config.",
            id="error-targeting-names-unknown-variant",
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
    flagd: Exported,
    flag_type: str,
    flag_key: str,
    default: Any,
    context: EvaluationContext,
    expected: dict[str, Any],
    error_message: str | None,
) -> None:
    _, row = flagd.evaluate(flag_type, flag_key, default, context)
    assert normalised(row) == expected
    assert row["error_message"] == error_message


def test_fractional_split_is_a_stable_targeting_match_with_the_flag_level_version(flagd: Exported) -> None:
    client = flagd.client
    users = [EvaluationContext(f"user-{i}") for i in range(40)]
    first = [client.get_string_value("pricing-experiment", "none", user) for user in users]
    again = [client.get_string_value("pricing-experiment", "none", user) for user in users]
    rows = flagd.rows()

    assert first == again  # bucketing hashes flag key + targeting key
    assert set(first) == {"9.99", "8.99"}
    assert len(rows) == 80
    for row in rows:
        # flagd never says SPLIT, and exposes no bucket: a rollout reads as a rule match.
        assert (row["reason"], row["vendor_reason"]) == ("TARGETING_MATCH", "TARGETING_MATCH")
        assert row["variant"] == {'"9.99"': "control", '"8.99"': "treatment"}[row["value"]]
        # The flag's own metadata.version wins over the flag set's.
        assert normalised(row)["vendor_details"] == FLAG_SET_DETAILS | {"flag_version": "experiment-3"}


def test_track_is_exported_although_flagd_does_not_implement_it(flagd: Exported) -> None:
    assert type(flagd.inner).track is AbstractProvider.track  # OpenFeature's no-op
    row = flagd.track("purchase", USER, TrackingEventDetails(42.0, {"currency": "EUR"}))
    assert (row["targeting_key"], row["metric_value"], row["attributes"]) == (
        "user-1",
        42.0,
        '{"currency":"EUR"}',
    )
    assert (row["context"], row["context_kind"]) == ('{"plan":"pro"}', None)
