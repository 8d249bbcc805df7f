"""Keep your own raw experiment data: every OpenFeature flag evaluation and ``track`` event,
from any vendor, in one documented schema, shipped through a batched, non-blocking pipeline to
local files, Amazon S3, Kinesis Data Firehose or Kinesis Data Streams.

.. code-block:: python

    from openfeature import api
    from openfeature_s3_export import EventExporter, ExportHook, TrackingProvider, sink_from_url

    exporter = EventExporter(sink_from_url("file:./exports"))
    api.set_provider_and_wait(TrackingProvider(my_vendor_provider, exporter))
    api.add_hooks([ExportHook(exporter)])
"""

from ._encoding import EncodedLine, EncodingError
from ._version import __version__
from .exporter import EventExporter
from .hook import ExportHook
from .privacy import ContextPolicy, Hashing
from .schema import COLUMNS, SCHEMA_VERSION, Row, load_json_schema
from .sinks import (
    ExportResult,
    FileSink,
    FirehoseSink,
    InMemorySink,
    KinesisSink,
    RetryPolicy,
    S3Sink,
    Sink,
    SinkConfigurationError,
    sink_from_url,
)
from .spill import ReplayReport, SegmentInfo, replay_spill, spill_status
from .tracking import TrackingProvider
from .vendors import register_vendor
from .volume import Deduplication, FlagFilter, Sampling

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "ContextPolicy",
    "Deduplication",
    "EncodedLine",
    "EncodingError",
    "EventExporter",
    "ExportHook",
    "ExportResult",
    "FileSink",
    "FirehoseSink",
    "FlagFilter",
    "Hashing",
    "InMemorySink",
    "KinesisSink",
    "ReplayReport",
    "RetryPolicy",
    "Row",
    "S3Sink",
    "Sampling",
    "SegmentInfo",
    "Sink",
    "SinkConfigurationError",
    "TrackingProvider",
    "__version__",
    "load_json_schema",
    "register_vendor",
    "replay_spill",
    "sink_from_url",
    "spill_status",
]
