"""Property: no denied or hashed value reaches any byte a sink writes.

Random nested contexts and track attributes (objects in objects, lists of objects), random allow, deny
and hash lists of dotted paths.  Every leaf value is a unique marker, so finding a marker in the
output means that value leaked.  The output is searched as bytes: the gzip NDJSON files a
FileSink wrote (decompressed) and uncompressed Parquet files (the raw file, and its rows read
back).  Markers the policy keeps must be found: the search itself can fail.
"""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagType
from openfeature.hook import HookContext

from openfeature_s3_export import ContextPolicy, EventExporter, FileSink, Hashing
from openfeature_s3_export._capture import evaluation_record, track_record

pytestmark = pytest.mark.slow

KEYS = ("a", "b", "c", "d")
LEAF = object()  # replaced by a unique marker once the shape is drawn

shapes = st.recursive(
    st.just(LEAF),
    lambda children: st.one_of(
        st.dictionaries(st.sampled_from(KEYS), children, min_size=1, max_size=4),
        st.lists(st.dictionaries(st.sampled_from(KEYS), children, min_size=1, max_size=3), max_size=3),
    ),
    max_leaves=16,
)
contexts = st.dictionaries(st.sampled_from(KEYS), shapes, min_size=1, max_size=4)
paths = st.lists(st.sampled_from(KEYS), min_size=1, max_size=3).map(".".join)
path_sets = st.frozensets(paths, max_size=4)


def with_markers(shape: Any, counter: Iterator[int], prefix: str) -> Any:
    """The shape with every leaf a unique marker: text, or (every third) a number."""
    if shape is LEAF:
        n = next(counter)
        return 9876500000 + n if n % 3 == 0 else f"{prefix}{n:05d}Z"
    if isinstance(shape, dict):
        return {k: with_markers(v, counter, prefix) for k, v in shape.items()}
    return [with_markers(v, counter, prefix) for v in shape]


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(key path, marker) of every leaf; lists are transparent, as they are to policy paths."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, (*path, k))
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v, path)
    else:
        yield path, value


def protected(path: tuple[str, ...], hidden: frozenset[str]) -> bool:
    """Whether a path in *hidden* reaches the leaf at *path* (it or one of its parents)."""
    return any(".".join(path[:i]) in hidden for i in range(1, len(path) + 1))


def written_bytes(directory: Path) -> tuple[bytes, bytes]:
    """(every NDJSON byte, decompressed; every Parquet byte, raw and as rows read back)."""
    import pyarrow.parquet as pq

    ndjson = b"".join(gzip.decompress(p.read_bytes()) for p in sorted(directory.rglob("*.json.gz")))
    parquet = b""
    for path in sorted(directory.rglob("*.parquet")):
        parquet += path.read_bytes() + repr(pq.read_table(path).to_pylist()).encode()
    return ndjson, parquet


SECRET = "property-test-secret-0123456789abcdef"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    context_shape=contexts,
    attributes_shape=contexts,
    allow=st.none() | path_sets,
    deny=path_sets,
    hashed=path_sets,
)
def test_denied_and_hashed_values_never_reach_the_sinks(
    tmp_path_factory: pytest.TempPathFactory,
    context_shape: dict[str, Any],
    attributes_shape: dict[str, Any],
    allow: frozenset[str] | None,
    deny: frozenset[str],
    hashed: frozenset[str],
) -> None:
    counter = itertools.count()
    context = with_markers(context_shape, counter, "CTX")
    attributes = with_markers(attributes_shape, counter, "ATT")
    targeting_key = f"KEY{next(counter):05d}Z"
    hidden = deny | hashed
    secret_markers = [targeting_key]
    kept_markers = []
    for value in (context, attributes):
        for path, marker in leaves(value):
            left_out = allow is not None and not protected(path, allow)
            (secret_markers if left_out or protected(path, hidden) else kept_markers).append(marker)

    directory = tmp_path_factory.mktemp("out")
    policy = ContextPolicy(allow=allow, deny=deny, hashed=hashed, honour_private_attributes=False)
    for fmt in ("ndjson", "parquet"):
        exporter = EventExporter(
            FileSink(directory, format=fmt, parquet_compression="none"),
            context_policy=policy,
            attributes_policy=policy,
            hashing=Hashing(SECRET, key_id="prop"),
            register_atexit=False,
        )
        hook_context = HookContext(
            flag_key="f",
            flag_type=FlagType.STRING,
            default_value="d",
            evaluation_context=EvaluationContext(targeting_key, context),
        )
        for _ in range(2):  # the second takes the row builder's cached fast path
            exporter.intake.submit(
                evaluation_record(hook_context, FlagEvaluationDetails(flag_key="f", value="v", variant="v"))
            )
        exporter.intake.submit(track_record("buy", None, None, targeting_key, context, 1.0, attributes))
        assert exporter.shutdown(timeout=30), dict(exporter.stats())
        assert exporter.stats()["exported"] == 3

    ndjson, parquet = written_bytes(directory)
    assert ndjson.count(b"\n") == 3 and parquet
    for marker in secret_markers:
        needle = str(marker).encode()
        assert needle not in ndjson, f"{marker} leaked into NDJSON (deny={set(deny)}, hashed={set(hashed)})"
        assert needle not in parquet, f"{marker} leaked into Parquet (deny={set(deny)}, hashed={set(hashed)})"
    for marker in kept_markers:
        needle = str(marker).encode()
        assert needle in ndjson and needle in parquet, f"{marker} should have been kept"
