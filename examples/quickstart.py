"""The smallest complete integration: a real vendor SDK (flagd, offline), the hook, tracking.

Run it after ``pip install ".[flagd]"``::

    python examples/quickstart.py

It writes gzip NDJSON under ``./exports/dt=YYYY-MM-DD/hour=HH/``.  Swap the provider for
LaunchDarkly's, Split's or any other OpenFeature provider: nothing else changes.
"""

from __future__ import annotations

import json
import tempfile

from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext
from openfeature.track import TrackingEventDetails

from openfeature_s3_export import EventExporter, ExportHook, TrackingProvider, sink_from_url

FLAGS = {
    "flags": {
        "new-checkout": {
            "state": "ENABLED",
            "variants": {"control": False, "treatment": True},
            "defaultVariant": "control",
            "targeting": {"fractional": [{"var": "targetingKey"}, ["control", 50], ["treatment", 50]]},
        }
    }
}


def main() -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(FLAGS, fh)

    # 1. One exporter per process: where events go, and how they are batched.
    exporter = EventExporter(sink_from_url("file:./exports"), service_name="quickstart")
    # 2. Wrap the vendor's provider so client.track() is recorded too.
    vendor = FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=fh.name)
    api.set_provider_and_wait(TrackingProvider(vendor, exporter))
    # 3. One hook records every evaluation.
    api.add_hooks([ExportHook(exporter)])

    client = api.get_client()
    for n in range(100):
        ctx = EvaluationContext(f"user-{n}", {"country": "fr"})
        if client.get_boolean_value("new-checkout", False, ctx):
            client.track("purchase", ctx, TrackingEventDetails(value=42.0))

    exporter.shutdown(timeout=10)  # also runs at exit; explicit here to print the counters
    print(dict(exporter.stats()))


if __name__ == "__main__":
    main()
