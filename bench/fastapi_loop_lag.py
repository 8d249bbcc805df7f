"""Event-loop lag of a FastAPI app under concurrent async requests, with the export hook on and
off, while the sink takes one second per call.

Every request evaluates a flag with ``get_boolean_value_async`` and tracks a conversion;
requests arrive at a fixed rate (1,000/s in bursts of 10), so several are in flight at once.  A probe
task sleeps 5 ms in a loop on the same event loop and records how late it wakes: that lateness
is what every other coroutine waits.  Requests go through httpx's in-process ASGI transport, so
the app, the load and the probe share one loop and one process (no sockets, no server noise).
Rounds of "hook on" and "hook off" are interleaved; p50/p99 lag and request latency are reported
side by side.  The 1 s sink is fault injection (an overloaded endpoint), which no server gives
on demand.

    python bench/fastapi_loop_lag.py [--quick]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from _common import contexts, in_memory_flags, machine, main, median, percentile, print_table, write_results

from openfeature_s3_export import EncodedLine, EventExporter, ExportResult

PROBE_INTERVAL = 0.005
RATE = 1000  # requests per second
BURST = 10  # requests arriving together


class SlowSink:
    """Takes one second per export call, then reports success (injected slowness)."""

    def __init__(self) -> None:
        self.calls = 0

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        self.calls += 1
        time.sleep(1.0)
        return ExportResult(delivered=len(batch))

    def shutdown(self) -> None:
        pass


def build_app(ctxs: list[Any]) -> Any:
    from fastapi import FastAPI
    from openfeature import api
    from openfeature.track import TrackingEventDetails

    app = FastAPI()
    client = api.get_client()

    @app.get("/{n}")
    async def page(n: int) -> dict[str, bool]:
        ctx = ctxs[n % len(ctxs)]
        enabled = await client.get_boolean_value_async("new-checkout", False, ctx)
        client.track("purchase", ctx, TrackingEventDetails(value=42.0))
        return {"enabled": enabled}

    return app


async def one_round(app: Any, requests: int) -> tuple[list[float], list[float]]:
    import httpx

    lags: list[float] = []
    latencies: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(PROBE_INTERVAL)
            lags.append(time.perf_counter() - start - PROBE_INTERVAL)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:

        async def one(n: int) -> None:
            start = time.perf_counter()
            response = await http.get(f"/{n}")
            latencies.append(time.perf_counter() - start)
            assert response.status_code == 200

        probing = asyncio.create_task(probe())
        # Open loop: requests arrive in bursts at a fixed rate, whether or not earlier ones are
        # done, so the loop has idle time and the probe measures blocking, not saturation.
        tasks = []
        for n in range(0, requests, BURST):
            tasks += [asyncio.create_task(one(i)) for i in range(n, min(n + BURST, requests))]
            await asyncio.sleep(BURST / RATE)
        await asyncio.gather(*tasks)
        done.set()
        await probing
    return lags, latencies


def run(quick: bool) -> dict[str, Any]:
    from openfeature import api

    from openfeature_s3_export import ExportHook, TrackingProvider

    rounds, requests = (2, 300) if quick else (4, 3000)
    sink = SlowSink()
    # A short interval keeps the 1 s sink busy for the whole run: batches leave every 50 ms.
    exporter = EventExporter(sink, flush_interval=0.05, register_atexit=False)
    flags = in_memory_flags()
    variants = {
        "hook off": (flags, []),
        "hook on": (TrackingProvider(flags, exporter), [ExportHook(exporter)]),
    }
    app = build_app(contexts(500))
    lags: dict[str, list[float]] = {name: [] for name in variants}
    latencies: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            provider, hooks = variants[name]
            api.clear_hooks()
            api.set_provider_and_wait(provider)
            api.add_hooks(hooks)
            lag, latency = asyncio.run(one_round(app, requests))
            lags[name] += lag
            latencies[name] += latency
    api.clear_hooks()
    exporter.shutdown(timeout=5)
    stats = dict(exporter.stats())
    api.shutdown()

    table = {
        name: {
            "lag_p50_ms": median(lags[name]) * 1000,
            "lag_p99_ms": percentile(lags[name], 99) * 1000,
            "lag_max_ms": max(lags[name]) * 1000,
            "request_p50_ms": median(latencies[name]) * 1000,
            "request_p99_ms": percentile(latencies[name], 99) * 1000,
            "probes": len(lags[name]),
            "requests": len(latencies[name]),
        }
        for name in variants
    }
    off, on = table["hook off"], table["hook on"]
    ratios = {
        key: on[key] / off[key] if off[key] else float("nan")
        for key in ("lag_p50_ms", "lag_p99_ms", "request_p50_ms", "request_p99_ms")
    }
    print(
        f"FastAPI, async requests arriving {BURST} at a time at {RATE}/s, {rounds} interleaved rounds "
        f"of {requests} per variant; sink: 1 s per call ({sink.calls} calls)"
    )
    print_table(
        ["variant", "loop lag p50 ms", "loop lag p99 ms", "max ms", "request p50 ms", "request p99 ms"],
        [
            [
                name,
                f"{t['lag_p50_ms']:.3f}",
                f"{t['lag_p99_ms']:.3f}",
                f"{t['lag_max_ms']:.1f}",
                f"{t['request_p50_ms']:.2f}",
                f"{t['request_p99_ms']:.2f}",
            ]
            for name, t in table.items()
        ],
    )
    print("ratios hook on / off: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    print(f"exported {stats['exported']}, dropped {stats['dropped']}")
    results = {
        "machine": machine(),
        "variants": table,
        "ratios": ratios,
        "stats": stats,
        "sink_calls": sink.calls,
    }
    write_results("fastapi_loop_lag", results)
    return results


if __name__ == "__main__":
    raise SystemExit(main(run, __doc__))
