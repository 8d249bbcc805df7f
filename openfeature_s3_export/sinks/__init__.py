"""Sinks: one destination each, behind the tiny :class:`Sink` protocol.

One public module per destination (``file``, ``s3``, ``firehose``, ``kinesis``, ``memory``)
over shared private plumbing: ``_base`` (the protocol, :class:`BaseSink`), ``_partitioned``
(event-time partitions and names, the partition writer of the file and S3 sinks),
``_compress`` (gzip through ISA-L or zlib), ``_aws`` (client settings, error classes, retry
timing) and ``_aws_records`` (the one retry loop of the AWS sinks).  The AWS sinks import
boto3 only when they first talk to AWS, so importing them is cheap.
"""

from ._aws import AwsOptions, RetryPolicy, SinkConfigurationError
from ._aws_records import DROP_RECORD_TOO_LARGE
from ._base import BaseSink, ExportResult, Sink
from .file import FileSink
from .firehose import FirehoseSink
from .kinesis import KinesisSink
from .memory import InMemorySink
from .s3 import S3Sink
from .url import sink_from_url

__all__ = [
    "DROP_RECORD_TOO_LARGE",
    "AwsOptions",
    "BaseSink",
    "ExportResult",
    "FileSink",
    "FirehoseSink",
    "InMemorySink",
    "KinesisSink",
    "RetryPolicy",
    "S3Sink",
    "Sink",
    "SinkConfigurationError",
    "sink_from_url",
]
