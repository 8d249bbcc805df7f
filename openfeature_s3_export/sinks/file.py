"""``FileSink``: gzip NDJSON files in event-time hive partitions on a local (or mounted) disk."""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import SplitResult

from .._encoding import EncodedLine
from ._base import ExportResult
from ._partitioned import ObjectNamer, group_by_partition
from .url import boolean, parse_options


class FileSink:
    """Writes each batch as gzip-compressed newline-delimited JSON, one file per partition.

    Layout: ``<directory>/dt=YYYY-MM-DD/hour=HH/part-...-<host>-<pid>-<random>-<seq>.json.gz``
    by *event* time (UTC).  Files are written under a hidden temporary name (``.``-prefixed,
    which DuckDB, Spark and Athena skip) and renamed into place, so a reader never sees half a
    file.  Many processes can share one directory.

    ``compresslevel`` defaults to 3: on event rows it compresses as well as level 1 at the
    same speed, and about twice as fast as the usual 6 for 25 % larger files; compression runs
    on the worker thread and competes with the application for the GIL.

    DuckDB reads the output as it is::

        SELECT * FROM read_json('exports/**/*.json.gz', hive_partitioning = true)

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, compresslevel: int = 3, fsync: bool = False
    ) -> None:
        self.directory = Path(directory).absolute()
        self._compresslevel = compresslevel
        self._fsync = fsync
        self._names = ObjectNamer()
        self._folders: set[str] = set()
        self.directory.mkdir(parents=True, exist_ok=True)

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        """Write *batch*; a partition whose file cannot be written comes back as failed."""
        delivered = 0
        failed: list[EncodedLine] = []
        errors: list[str] = []
        for partition, events in group_by_partition(batch).items():
            try:
                self._write(partition, events)
                delivered += len(events)
            except OSError as exc:
                failed.extend(events)
                errors.append(f"{partition}: {exc}")
        return ExportResult(delivered=delivered, failed=failed, error="; ".join(errors) or None)

    def _write(self, partition: str, events: Sequence[EncodedLine]) -> None:
        # Few syscalls per file on purpose: each one releases the GIL, and getting it back from
        # a busy application thread can take a whole switch interval (5 ms).
        folder = self.directory / partition
        if partition not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(partition)
        name = self._names.next_name(".json.gz")
        tmp = folder / f".{name}.tmp"
        payload = gzip.compress(b"".join(e.data for e in events), compresslevel=self._compresslevel, mtime=0)
        try:
            with open(tmp, "wb") as fh:
                fh.write(payload)
                if self._fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, folder / name)
        except FileNotFoundError:
            # The partition folder was removed under us (cleanup job): forget it and retry once.
            self._folders.discard(partition)
            tmp.unlink(missing_ok=True)
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(partition)
            with open(tmp, "wb") as fh:
                fh.write(payload)
            os.replace(tmp, folder / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def check(self) -> None:
        """Verify that the directory can be created and written (writes and removes a hidden file).

        :raises OSError: with the path and the reason (permission denied, read-only disk...).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        probe = self.directory / f".check-{os.getpid()}.tmp"
        try:
            probe.write_bytes(b"")
        finally:
            probe.unlink(missing_ok=True)

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
    kwargs = parse_options(options, parts.geturl(), {"compresslevel": int, "fsync": boolean})
    return FileSink(path, **kwargs)
