"""The engine's settings: how much it holds, and when a batch goes."""

from __future__ import annotations

import attrs


@attrs.frozen(slots=True)
class Limits:
    """How much the engine holds, and when a batch goes."""

    max_queue_size: int
    max_batch_size: int
    max_batch_bytes: int
    flush_interval: float
    max_event_bytes: int
    export_timeout: float
    spill_dir: str | None = None
    """Where batches that cannot be delivered wait on disk (``None``: no spill)."""
    spill_max_bytes: int = 512 * 1024 * 1024
    spill_segment_bytes: int = 4 * 1024 * 1024
    max_value_bytes: int | None = None
    """Lines larger than this go through the engine's *rescue* (which may shrink them)."""
