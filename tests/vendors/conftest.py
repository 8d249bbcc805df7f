"""Fixtures: each real vendor provider offline, wrapped in TrackingProvider, with ExportHook on.

Each fixture yields an :class:`~vendor_harness.Exported`; teardown shuts OpenFeature down and
releases the vendor (Split's factory is destroyed, flagd's file watcher stopped, LD's client
closed).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ldclient.integrations import Files
from vendor_harness import DATA, VENDORS, Exported, exported, running, start_launchdarkly


@pytest.fixture
def launchdarkly() -> Iterator[Exported]:
    """LaunchDarkly on TestData."""
    with running("launchdarkly") as wired:
        yield wired


@pytest.fixture
def launchdarkly_files() -> Iterator[Exported]:
    """LaunchDarkly on its file data source (experiments, prerequisites, malformed flags)."""
    source = Files.new_data_source(paths=[str(DATA / "launchdarkly-flags.json")])
    with start_launchdarkly(source) as inner, exported(VENDORS["launchdarkly"], inner) as wired:
        yield wired


@pytest.fixture
def split() -> Iterator[Exported]:
    """Split in localhost mode from ``data/split.yaml``."""
    with running("split") as wired:
        yield wired


@pytest.fixture
def flagd() -> Iterator[Exported]:
    """flagd in-process from ``data/flagd.json``."""
    with running("flagd") as wired:
        yield wired


@pytest.fixture
def in_memory() -> Iterator[Exported]:
    """OpenFeature's InMemoryProvider."""
    with running("in-memory") as wired:
        yield wired
