"""``FileSink``: gzip NDJSON or Parquet files in event-time hive partitions on a local disk."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult

from .._counters import Counters
from .._encoding import EncodedLine
from ._aws import SinkConfigurationError
from ._base import BaseSink, ExportResult
from ._partitioned import BodyFormat, PartitionWriter, PutOutcome
from .url import boolean, parse_options


class FileSink(BaseSink):
    """Writes each batch as one file per event-time partition: gzip NDJSON or Parquet.

    Layout: ``<directory>/dt=YYYY-MM-DD/hour=HH/part-...-<host>-<pid>-<random>-<seq>.json.gz``
    by *event* time (UTC), or ``.parquet`` with ``format="parquet"`` (``[parquet]`` extra;
    the same fixed column types as :class:`~openfeature_s3_export.S3Sink`).  Files are written
    under a hidden temporary name (``.``-prefixed, which DuckDB, Spark and Athena skip) and
    renamed into place, so a reader never sees half a file.  Many processes can share one
    directory.

    ``compresslevel`` is on zlib's scale, 0 (fastest) to 9 (smallest), default 3.  With
    ``isal`` installed (a dependency) ISA-L compresses instead of zlib, at about a sixth of the
    CPU: 0 maps to ISA-L's level 0, 1-3 to 1, 4-6 to 2, 7-9 to 3.  Either way the files are
    standard gzip.  Compression runs on the sender thread without holding the GIL, but the
    host still pays its CPU, hence the fast default.

    DuckDB reads the output as it is::

        SELECT * FROM read_json('exports/**/*.json.gz', hive_partitioning = true)

    Counters (``stats()``): objects (files), events, payload_bytes (NDJSON before encoding),
    object_bytes (as written).  :meth:`check` verifies that the directory is writable.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        compresslevel: int = 3,
        fsync: bool = False,
        format: str = "ndjson",
        parquet_compression: str = "zstd",
    ) -> None:
        self.directory = Path(directory).absolute()
        self.format = format
        self._fsync = fsync
        self._folders: set[str] = set()
        self._counters = Counters()
        self._writer = PartitionWriter(
            BodyFormat(format, compresslevel, parquet_compression), self._put, self._counters
        )
        self._make_directory()

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        """Write *batch*; a partition whose file cannot be written comes back as failed."""
        return self._writer.export(batch, deadline)

    def _put(
        self, partition: str, body: bytes, lines: Sequence[EncodedLine], deadline: float | None
    ) -> PutOutcome:
        name = self._writer.new_name()
        try:
            try:
                self._write(partition, name, body)
            except FileNotFoundError:
                # The partition folder was removed under us (cleanup job): forget it, retry once.
                self._folders.discard(partition)
                self._write(partition, name, body)
                return PutOutcome(retried_events=len(lines), retried_requests=1)
        except OSError as exc:
            return PutOutcome(f"{partition}: {exc}")
        return PutOutcome()

    def _write(self, partition: str, name: str, body: bytes) -> None:
        # Few syscalls per file on purpose: each one releases the GIL, and getting it back from
        # a busy application thread can take a whole switch interval (5 ms).
        folder = self.directory / partition
        if partition not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(partition)
        tmp = folder / f".{name}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(body)
                if self._fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, folder / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _make_directory(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unusable(exc) from exc

    def _unusable(self, exc: OSError) -> SinkConfigurationError:
        return SinkConfigurationError(
            f"file sink directory {str(self.directory)!r} cannot be created or written "
            f"({exc.strerror or exc}); point the sink at a writable directory, or create this one "
            "and give the process's user write permission on it"
        )

    def check(self) -> None:
        """Verify that the directory exists (creating it) and that this process can write it.

        Creates and removes a hidden temporary file, which DuckDB, Spark and Athena skip.

        :raises SinkConfigurationError: with what is wrong and how to fix it.
        """
        self._make_directory()
        try:
            fd, probe = tempfile.mkstemp(prefix=".check-", suffix=".tmp", dir=self.directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise self._unusable(exc) from exc

    def start(self) -> None:
        """Load pyarrow's writers now with ``format="parquet"``, before the first batch."""
        self._writer.body.warm_up()

    def stats(self) -> dict[str, int]:
        """Counters: objects (files), events, payload_bytes, object_bytes."""
        return self._counters.snapshot()

    def __repr__(self) -> str:
        return f"FileSink({str(self.directory)!r}, format={self.format!r})"


def from_url(parts: SplitResult, options: dict[str, str]) -> FileSink:
    """``file:///abs/dir`` or ``file:./rel/dir`` (options: ``format``, ``compresslevel``,
    ``parquet_compression``, ``fsync``)."""
    path = parts.netloc + parts.path if parts.netloc in ("", ".", "..") else ""
    if not path:
        raise ValueError(
            f"file sink URL must be file:///absolute/dir or file:./relative/dir, got host {parts.netloc!r}"
        )
    converters: dict[str, Callable[[str], Any]] = {
        "format": str,
        "compresslevel": int,
        "parquet_compression": str,
        "fsync": boolean,
    }
    return FileSink(path, **parse_options(options, parts.geturl(), converters))
