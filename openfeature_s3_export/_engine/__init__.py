"""The engine: queue, worker, batcher, sender and spill, knowing nothing about OpenFeature.

``EventExporter`` (the facade in :mod:`openfeature_s3_export.exporter`) wires it to the row
builder and the sink.
"""

from ._batcher import Batcher
from ._lifecycle import DROP_FORK_WITHOUT_HOOKS
from ._limits import Limits
from ._odd import DROP_TOO_LARGE, DROP_UNSERIALIZABLE
from ._sender import DROP_EXPORT_FAILED, Sender
from ._spill import (
    DROP_SPILL_CAP,
    DROP_SPILL_CORRUPT,
    DROP_SPILL_DISK_FULL,
    DROP_SPILL_ERROR,
    Spill,
)
from ._worker import DROP_QUEUE_FULL, DROP_SHUTDOWN, Engine

__all__ = [
    "DROP_EXPORT_FAILED",
    "DROP_FORK_WITHOUT_HOOKS",
    "DROP_QUEUE_FULL",
    "DROP_SHUTDOWN",
    "DROP_SPILL_CAP",
    "DROP_SPILL_CORRUPT",
    "DROP_SPILL_DISK_FULL",
    "DROP_SPILL_ERROR",
    "DROP_TOO_LARGE",
    "DROP_UNSERIALIZABLE",
    "Batcher",
    "Engine",
    "Limits",
    "Sender",
    "Spill",
]
