"""``FileSink``: gzip NDJSON files in event-time hive partitions on a local (or mounted) disk."""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import SplitResult

from ..events import EncodedEvent
from ..partitioning import ObjectNamer, group_by_partition
from ._base import ExportResult


class FileSink:
    """Writes each batch as gzip-compressed newline-delimited JSON, one file per partition.

    Layout: ``<directory>/dt=YYYY-MM-DD/hour=HH/part-...-<host>-<pid>-<random>-<seq>.json.gz``
    by *event* time (UTC).  Files are written under a hidden temporary name (``.``-prefixed,
    which DuckDB, Spark and Athena skip) and renamed into place, so a reader never sees half a
    file.  Many processes can share one directory.

    DuckDB reads the output as it is::

        SELECT * FROM read_json('exports/**/*.json.gz', hive_partitioning = true)

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, compresslevel: int = 6, fsync: bool = False
    ) -> None:
        self.directory = Path(directory).absolute()
        self._compresslevel = compresslevel
        self._fsync = fsync
        self._names = ObjectNamer()
        self.directory.mkdir(parents=True, exist_ok=True)

    def export(self, batch: Sequence[EncodedEvent], *, deadline: float | None = None) -> ExportResult:
        """Write *batch*; a partition whose file cannot be written comes back as failed."""
        delivered = 0
        failed: list[EncodedEvent] = []
        errors: list[str] = []
        for partition, events in group_by_partition(batch).items():
            try:
                self._write(partition, events)
                delivered += len(events)
            except OSError as exc:
                failed.extend(events)
                errors.append(f"{partition}: {exc}")
        return ExportResult(delivered=delivered, failed=failed, error="; ".join(errors) or None)

    def _write(self, partition: str, events: Sequence[EncodedEvent]) -> None:
        folder = self.directory / partition
        folder.mkdir(parents=True, exist_ok=True)
        name = self._names.next_name(".json.gz")
        tmp = folder / f".{name}.tmp"
        try:
            with (
                open(tmp, "wb") as raw,
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=self._compresslevel, mtime=0) as gz,
            ):
                gz.write(b"".join(e.data for e in events))
                gz.flush()
                if self._fsync:
                    raw.flush()
                    os.fsync(raw.fileno())
            os.replace(tmp, folder / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def shutdown(self) -> None:
        """Nothing to release: every export closes its files."""

    def __repr__(self) -> str:
        return f"FileSink({str(self.directory)!r})"


def from_url(parts: SplitResult, options: dict[str, str]) -> FileSink:
    """``file:///abs/dir`` or ``file:./rel/dir`` (options: ``compresslevel``, ``fsync``)."""
    path = parts.netloc + parts.path if parts.netloc in ("", ".", "..") else ""
    if not path:
        raise ValueError(
            f"file sink URL must be file:///absolute/dir or file:./relative/dir, got host {parts.netloc!r}"
        )
    unknown = set(options) - {"compresslevel", "fsync"}
    if unknown:
        raise ValueError(f"unknown file sink option(s): {', '.join(sorted(unknown))}")
    return FileSink(
        path,
        compresslevel=int(options.get("compresslevel", 6)),
        fsync=options.get("fsync", "false").lower() in ("1", "true", "yes"),
    )
