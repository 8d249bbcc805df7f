"""Gzip for the file and S3 sinks: ISA-L when installed, zlib otherwise.

Both produce standard gzip members that every reader (DuckDB, Athena, Spark, ``gzip``)
accepts, and both release the GIL while they compress.  ISA-L (``isal``) costs about a sixth
of zlib's CPU per event row and compresses as well as zlib's fast levels, and the host pays
for the worker's CPU too, so it is the default when importable.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable

COMPRESS_LEVELS = range(10)
"""Valid ``compresslevel`` values: zlib's scale, 0 (fastest) to 9 (smallest)."""


def isal_level(compresslevel: int) -> int:
    """The ISA-L level (0-3) that stands for zlib's *compresslevel* (0-9).

    0 → 0 (fastest; unlike zlib's 0 it still compresses), 1-3 → 1, 4-6 → 2, 7-9 → 3.
    """
    return 0 if compresslevel == 0 else (compresslevel + 2) // 3


def _load_isal() -> Callable[[bytes, int], bytes] | None:
    try:
        from isal import igzip
    except ImportError:
        return None

    def compress(data: bytes, compresslevel: int) -> bytes:
        return igzip.compress(data, compresslevel=isal_level(compresslevel), mtime=0)

    return compress


_isal = _load_isal()


def zlib_gzip(data: bytes, compresslevel: int) -> bytes:
    """Gzip *data* with the standard library's zlib (the fallback without ``isal``)."""
    # mtime=0: the same rows give the same bytes, and the header leaks no write time.
    return gzip.compress(data, compresslevel=compresslevel, mtime=0)


def gzip_compress(data: bytes, compresslevel: int) -> bytes:
    """Gzip *data* at zlib-scale *compresslevel* with the fastest backend available."""
    if _isal is not None:
        return _isal(data, compresslevel)
    return zlib_gzip(data, compresslevel)


def validate_level(compresslevel: int) -> int:
    """*compresslevel*, or ``ValueError`` saying the valid range."""
    if compresslevel not in COMPRESS_LEVELS:
        raise ValueError(f"compresslevel must be between 0 and 9, got {compresslevel}")
    return compresslevel
