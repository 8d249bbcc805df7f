"""Instructions per evaluation, per thread, under valgrind: the cost without the noise.

CPU times on a shared VM move by a third within a minute (see ``cpu_cost.py``); instruction
counts do not.  This runs the same evaluation loop as ``cpu_cost.py`` (OpenFeature's in-memory
provider, 3 context attributes, gzip files, the worker running) under ``valgrind
--tool=callgrind --separate-threads=yes`` twice per variant, with 2,000 and 12,000 evaluations,
and reports the difference per evaluation of the caller's thread, the one ``ExportHook`` can
slow down, so that start-up and imports cancel out.

What instructions leave out: cache misses (memory another core wrote, which is most of what the
caller pays beyond its instructions: docs/performance.md section 1).  The exporter's threads
are not reported: valgrind runs one thread at a time, so the worker wakes far more often for
far fewer events than it does on a real machine, and ISA-L's compression takes a portable path;
time them with ``cpu_cost.py``.

    python bench/instructions.py [--quick]
"""

from __future__ import annotations

import gc
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from _common import machine, main, print_table, write_results

VARIANTS = ("noop", "export", "export, pure Python")
SIZES = (2_000, 12_000)


def child(variant: str, n: int) -> None:
    """The measured process: *n* evaluations with *variant*'s hook, flushed at the end."""
    from _common import contexts, in_memory_flags
    from openfeature import api
    from openfeature.hook import Hook

    from openfeature_s3_export import EventExporter, ExportHook, FileSink

    if variant == "export, pure Python":
        from cpu_cost import pure_python_export

        made: list[Any] = []

        def new_exporter() -> Any:
            made.append(EventExporter(FileSink(tempfile.mkdtemp()), register_atexit=False))
            return made[-1]

        pair = pure_python_export(new_exporter)
        if pair is None:
            raise SystemExit("the C extension is not built: no pure-Python variant to compare")
        hook, exporter = pair
    else:
        exporter = EventExporter(FileSink(tempfile.mkdtemp()), register_atexit=False)
        hook = ExportHook(exporter) if variant == "export" else Hook()
    api.set_provider(in_memory_flags())
    api.add_hooks([hook])
    get = api.get_client().get_boolean_value
    ctxs = contexts(1000)
    for i in range(200):  # warm up (both sizes do it, so it cancels)
        get("new-checkout", False, ctxs[i % 1000])
    assert exporter.flush(timeout=120)
    # What was made so far is left out of collections: a full collection of the whole heap
    # landing in one size's run and not in the other's would count as thousands of instructions
    # per evaluation.
    gc.collect()
    gc.freeze()
    for i in range(n):
        get("new-checkout", False, ctxs[i % 1000])
    assert exporter.flush(timeout=120)
    os._exit(0)  # no shutdown: its work would be counted in one size and not the other


def _per_thread(out: str) -> dict[str, int]:
    """Instructions per thread from callgrind's per-thread files (``<out>-01``, ``-02``...)."""
    counts = {}
    for path in sorted(glob.glob(f"{out}-*")):
        with open(path) as lines:
            for line in lines:
                if line.startswith(("summary:", "totals:")):
                    counts[path.rsplit("-", 1)[1]] = int(line.split()[1])
                    break
    return counts


def measure(variant: str, n: int, tmp: str) -> dict[str, int]:
    out = os.path.join(tmp, f"{VARIANTS.index(variant)}-{n}.out")
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts in every run
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            variant,
            str(n),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return _per_thread(out)


def run(quick: bool) -> dict[str, Any]:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind): nothing measured")
        return {}
    variants = VARIANTS[:2] if quick else VARIANTS
    small, large = (200, 1_200) if quick else SIZES
    per_eval: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            a, b = measure(variant, small, tmp), measure(variant, large, tmp)
            caller = "01"  # callgrind numbers threads in the order they start: the main one first
            per_eval[variant] = (b[caller] - a[caller]) / (large - small)
    base = per_eval["noop"]
    rows = [[name, f"{v:,.0f}", f"{v - base:+,.0f}"] for name, v in per_eval.items()]
    print(f"Instructions per evaluation, caller's thread (callgrind, {large:,} - {small:,} evaluations)")
    print_table(["variant", "caller", "above noop"], rows)
    results = {"machine": machine(), "sizes": [small, large], "caller_instructions_per_evaluation": per_eval}
    write_results("instructions", results)
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
    raise SystemExit(main(run, __doc__))
