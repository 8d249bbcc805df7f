"""Privacy and volume options with real vendor SDKs offline.

- LaunchDarkly: private attributes (``privateAttributes``, LD's convention, which its
  OpenFeature provider honours) never reach a row, in evaluations or track events; the
  ``inExperiment`` flag LD sets for experiment traffic reaches the hook in the flag metadata
  (here from ``TestData``, with an experiment rollout), and ``experiments_only`` keeps exactly
  those evaluations.
- flagd: flags marked in their metadata are the experiments ``experiments_only`` keeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from ldclient.integrations.test_data import FlagBuilder, TestData
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider import FeatureProvider
from openfeature.track import TrackingEventDetails
from vendor_harness import DATA, launchdarkly_test_data, start_flagd, start_launchdarkly

from openfeature_s3_export import ContextPolicy, FlagFilter, Hashing, TrackingProvider
from openfeature_s3_export.testing import CapturedEvents, capture_events

pytestmark = pytest.mark.vendor


class ExperimentFlag(FlagBuilder):  # type: ignore[misc]
    """A TestData flag whose default rule is an LD experiment rollout (TestData's builder has no
    method for one): LD then marks the evaluations it buckets with ``inExperiment``."""

    def _build(self, version: int) -> dict[str, Any]:
        flag: dict[str, Any] = super()._build(version)
        weights = [{"variation": 0, "weight": 50_000}, {"variation": 1, "weight": 50_000}]
        flag["fallthrough"] = {"rollout": {"kind": "experiment", "seed": 61, "variations": weights}}
        return flag


@contextmanager
def wired(inner: FeatureProvider, **options: Any) -> Iterator[tuple[OpenFeatureClient, CapturedEvents]]:
    """The vendor behind TrackingProvider with ExportHook on, exporting with *options*."""
    with capture_events(**options) as captured:
        api.set_provider_and_wait(TrackingProvider(inner, captured.exporter))
        try:
            yield api.get_client(), captured
        finally:
            api.shutdown()


def _launchdarkly_data() -> TestData:
    td = launchdarkly_test_data()
    td.update(ExperimentFlag("pricing-experiment").variations("control", "treatment"))
    return td


PRIVATE_CONTEXT = {
    "kind": "user",
    "name": "Sandy",
    "email": "sandy@example.com",
    "address": {"street": "1 Private Lane", "city": "Springfield"},
    "privateAttributes": ["email", "/address/street"],
}


def test_launchdarkly_private_attributes_never_reach_a_row() -> None:
    context = EvaluationContext("user-1", PRIVATE_CONTEXT)
    with start_launchdarkly(_launchdarkly_data()) as inner, wired(inner) as (client, captured):
        assert client.get_string_value("button-color", "grey", context) == "red"
        client.track("purchase", context, TrackingEventDetails(value=3.0))
        rows = captured.rows()
    assert [r["kind"] for r in rows] == ["evaluation", "track"]
    for row in rows:
        assert json.loads(row["context"]) == {
            "kind": "user",
            "name": "Sandy",
            "address": {"city": "Springfield"},
        }
        line = json.dumps(row)
        assert "sandy@example.com" not in line and "Private Lane" not in line
        assert "privateAttributes" not in line


def test_launchdarkly_private_attributes_with_hashing_and_a_deny_list() -> None:
    """The private list still wins when the app adds its own policy: it is applied on top."""
    context = EvaluationContext("user-1", PRIVATE_CONTEXT)
    options = {
        "hashing": Hashing("ld-test-secret-0123456789abcdef", key_id="ld"),
        "context_policy": ContextPolicy(deny={"address.city"}, hashed={"name"}),
    }
    with start_launchdarkly(_launchdarkly_data()) as inner, wired(inner, **options) as (client, captured):
        client.get_string_value("button-color", "grey", context)
        (row,) = captured.rows()
    assert row["hash_key_id"] == "ld" and row["targeting_key"] != "user-1"
    exported = json.loads(row["context"])
    assert set(exported) == {"kind", "name", "address"} and exported["address"] == {}
    assert exported["name"] != "Sandy" and len(exported["name"]) == 64
    assert "sandy@example.com" not in json.dumps(row)


def test_launchdarkly_in_experiment_reaches_the_hook_and_experiments_only_keeps_it() -> None:
    users = [EvaluationContext(f"u{i}") for i in range(20)]
    options = {"flag_filter": FlagFilter(experiments_only=True)}
    with start_launchdarkly(_launchdarkly_data()) as inner, wired(inner, **options) as (client, captured):
        served = {client.get_string_value("pricing-experiment", "none", u) for u in users}
        for user in users:  # not experiments: rollouts, rules, plain flags
            client.get_boolean_value("new-checkout", False, user)
            client.get_string_value("button-color", "grey", user)
        rows = captured.rows()
        stats = dict(captured.exporter.stats())
    assert served == {"control", "treatment"}
    assert {r["flag_key"] for r in rows} == {"pricing-experiment"} and len(rows) == 20
    for row in rows:
        assert json.loads(row["flag_metadata"])["inExperiment"] is True
        assert row["reason"] == "SPLIT"
    assert stats["filtered"] == 40


def test_flagd_flags_marked_in_metadata_are_the_experiments(tmp_path: Path) -> None:
    flags = json.loads((DATA / "flagd.json").read_text())
    flags["flags"]["pricing-experiment"]["metadata"]["experiment"] = True
    flags["flags"]["button-color"]["metadata"]["experiment"] = False
    flag_file = tmp_path / "flags.json"
    flag_file.write_text(json.dumps(flags))
    options = {"flag_filter": FlagFilter(experiments_only=True)}
    with start_flagd(flag_file) as inner, wired(inner, **options) as (client, captured):
        for i in range(5):
            user = EvaluationContext(f"u{i}")
            client.get_string_value("pricing-experiment", "none", user)
            client.get_string_value("button-color", "grey", user)
            client.get_boolean_value("new-checkout", False, user)
        rows = captured.rows()
        stats = dict(captured.exporter.stats())
    assert [r["flag_key"] for r in rows] == ["pricing-experiment"] * 5
    assert json.loads(rows[0]["vendor_details"])["flag_set_id"] == "checkout"
    assert stats["filtered"] == 10
