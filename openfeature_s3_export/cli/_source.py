"""Where the exported files are: a local directory or an ``s3://BUCKET/PREFIX``.

S3 is read through boto3 (the standard AWS configuration, ``AWS_ENDPOINT_URL`` included), not
DuckDB's ``httpfs`` extension, which is downloaded at run time and fails offline.  Objects are
recognised by their content (gzip NDJSON, plain NDJSON, Parquet), so a Firehose prefix whose
objects have no extension reads like a ``FileSink`` directory.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._common import CliError, CliUsageError, progress

SUFFIXES = {".json.gz": "ndjson", ".parquet": "parquet"}
_DT = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/")


@attrs.frozen
class ExportFile:
    """One exported file or object: its name (path or key), and how to read its bytes."""

    name: str
    size: int
    read: Callable[[], bytes] = attrs.field(eq=False, repr=False)

    def day(self) -> dt.date | None:
        """The dt= partition in its name, if any (to skip files outside --since/--until)."""
        match = _DT.search("/" + self.name)
        return dt.date.fromisoformat(match.group(1)) if match else None


def is_s3(location: str) -> bool:
    """Whether *location* is an ``s3://`` URL."""
    return location.lower().startswith("s3://")


def _check_location(location: str) -> None:
    scheme = urlsplit(location).scheme
    if scheme and len(scheme) > 1 and scheme.lower() not in ("s3", "file"):
        raise CliUsageError(
            f"unsupported location {location!r}", "give a local directory or s3://BUCKET/PREFIX"
        )


def local_dir(location: str) -> Path:
    """The directory of a local location (``file:`` URLs accepted), checked to exist."""
    _check_location(location)
    path = Path(location.removeprefix("file://").removeprefix("file:")).expanduser()
    if not path.exists():
        raise CliUsageError(f"no such directory: {path}", "pass the directory your FileSink writes to")
    if not path.is_dir():
        raise CliUsageError(f"{path} is not a directory", "pass the export directory, not a file")
    return path


def _s3_client() -> Any:
    import boto3

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.client("s3", region_name=region)


def _s3_files(location: str) -> list[ExportFile]:
    parts = urlsplit(location)
    bucket, prefix = parts.netloc, parts.path.lstrip("/")
    if not bucket:
        raise CliUsageError(f"bad S3 URL {location!r}", "write it as s3://BUCKET/PREFIX")
    if prefix and not prefix.endswith("/"):
        prefix += "/"  # "flags/v1" must not match "flags/v1-errors/"
    client = _s3_client()
    found: list[ExportFile] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/") or key.rsplit("/", 1)[-1].startswith("."):
                    continue

                def read(key: str = key) -> bytes:
                    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                    return body

                found.append(ExportFile(key[len(prefix) :], int(item.get("Size", 0)), read))
    except Exception as exc:
        from botocore.exceptions import ClientError, NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            raise CliError("no AWS credentials found", "configure them as for any boto3 program") from exc
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            raise CliError(f"S3 bucket {bucket!r} does not exist", "check the name and AWS_REGION") from exc
        raise CliError(f"cannot list {location}: {exc}", "check the credentials and permissions") from exc
    return found


def _local_files(root: Path) -> list[ExportFile]:
    found = []
    for path in root.rglob("*"):
        if path.name.startswith(".") or not path.is_file():
            continue
        if any(path.name.endswith(suffix) for suffix in SUFFIXES):
            found.append(ExportFile(path.relative_to(root).as_posix(), path.stat().st_size, path.read_bytes))
    return found


def list_files(location: str) -> list[ExportFile]:
    """Every exported file under *location*, sorted by name (names sort by time in our layout)."""
    files = _s3_files(location) if is_s3(location) else _local_files(local_dir(location))
    return sorted(files, key=lambda f: f.name)


def sniff(data: bytes) -> str:
    """``parquet``, ``ndjson.gz`` or ``ndjson``, from the first bytes."""
    if data[:4] == b"PAR1":
        return "parquet"
    if data[:2] == b"\x1f\x8b":
        return "ndjson.gz"
    return "ndjson"


def _in_range(file: ExportFile, since: dt.datetime | None, until: dt.datetime | None) -> bool:
    day = file.day()
    if day is None:
        return True
    return not ((since and day < since.date()) or (until and day > until.date()))


@contextmanager
def materialize(
    location: str, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> Iterator[tuple[str, str]]:
    """Yield (local directory, format) holding the export at *location*.

    A local directory is used in place; an S3 prefix is downloaded (with progress) into a
    temporary directory that is removed afterwards.
    """
    if not is_s3(location):
        root = local_dir(location)
        yield str(root), _format_of(location, _local_files(root))
        return
    files = [f for f in list_files(location) if _in_range(f, since, until)]
    if not files:
        raise CliError(f"no objects under {location}", "check the prefix (and --since/--until)")
    with tempfile.TemporaryDirectory(prefix="of-s3-export-") as tmp:
        kinds: set[str] = set()
        with progress(files, f"downloading {len(files)} objects") as bar:
            for n, file in enumerate(bar):
                data = file.read()
                kind = sniff(data)
                kinds.add("parquet" if kind == "parquet" else "ndjson")
                suffix = ".parquet" if kind == "parquet" else ".json.gz"
                body = gzip.compress(data, compresslevel=1) if kind == "ndjson" else data
                Path(tmp, f"object-{n:06d}{suffix}").write_bytes(body)
        if len(kinds) > 1:
            raise CliError(f"{location} mixes NDJSON and Parquet", "keep each format under its own prefix")
        yield tmp, kinds.pop()


def _format_of(location: str, files: list[ExportFile]) -> str:
    kinds = {kind for f in files for suffix, kind in SUFFIXES.items() if f.name.endswith(suffix)}
    if not kinds:
        raise CliError(
            f"no exported files (*.json.gz, *.parquet) under {location}",
            "run `openfeature-s3-export demo` or point at the directory your FileSink writes to",
        )
    if len(kinds) > 1:
        raise CliError(f"{location} mixes NDJSON and Parquet", "keep each format in its own directory")
    return kinds.pop()
