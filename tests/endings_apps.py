"""Programs the process-ending tests run in subprocesses, with the README's set-up and nothing
else: no flush, no shutdown, no lifespan or signal code of their own.

Each writes into ``$EXPORT_DIR`` through ``sink_from_url("file:...")``.  The tests copy the
source of one of these into a temporary directory and run it there.
"""

from __future__ import annotations

SETUP = """
import os
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from openfeature_s3_export import EventExporter, ExportHook, TrackingProvider, sink_from_url

exporter = EventExporter(sink_from_url("file:" + os.environ["EXPORT_DIR"]))
flags = {"new-checkout": InMemoryFlag("on", {"on": True, "off": False})}
api.set_provider_and_wait(TrackingProvider(InMemoryProvider(flags), exporter))
api.add_hooks([ExportHook(exporter)])
client = api.get_client()
"""

PLAIN_SCRIPT = (
    SETUP
    + """
import sys, threading
for i in range(int(sys.argv[1])):
    client.get_boolean_value("new-checkout", False, EvaluationContext(f"user-{i}"))
open(os.environ["READY_FILE"], "w").close()
threading.Event().wait()  # a service waiting for work, until Docker/Kubernetes stop it
"""
)

# A script whose application installed its own SIGTERM handler first.
SCRIPT_WITH_OWN_HANDLER = (
    """
import signal, sys
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(3))
"""
    + PLAIN_SCRIPT
)

# An exporter made on a thread other than the main one: no handler may be installed.
SCRIPT_OFF_MAIN_THREAD = """
import os, signal, threading
from openfeature_s3_export import EventExporter, sink_from_url
made = []
sink = sink_from_url("file:" + os.environ["EXPORT_DIR"])
thread = threading.Thread(target=lambda: made.append(EventExporter(sink)))
thread.start(); thread.join()
print("default" if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else "changed")
"""

MULTIPROCESSING_SCRIPT = (
    SETUP
    + """
import multiprocessing, sys

def work(i):
    client.get_boolean_value("new-checkout", False, EvaluationContext(f"{mode}-{i}"))
    return i

def process_body(start):
    for i in range(start, start + 50):
        work(i)

if __name__ == "__main__":
    mode, n = sys.argv[1], int(sys.argv[2])
    ctx = multiprocessing.get_context("fork")
    if mode == "process":
        children = [ctx.Process(target=process_body, args=(k * 50,)) for k in range(n // 50)]
        for child in children:
            child.start()
        for child in children:
            child.join()
        print("exitcodes", [child.exitcode for child in children])
    else:
        pool = ctx.Pool(3)
        print("results", len(pool.map(work, range(n), chunksize=7)))
        pool.close()
        pool.join()
"""
)

ASGI_APP = (
    SETUP
    + """
import asyncio, random
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

async def evaluate(request):
    # Requests in flight when SIGTERM arrives capture their event during the graceful shutdown.
    await asyncio.sleep(random.uniform(0, 0.2))
    client.get_boolean_value("new-checkout", False, EvaluationContext(request.query_params["u"]))
    return PlainTextResponse(str(os.getpid()))

async def health(request):
    return PlainTextResponse("ok")

app = Starlette(routes=[Route("/", evaluate), Route("/health", health)])
"""
)

WSGI_APP = (
    SETUP
    + """
from urllib.parse import parse_qs

def app(environ, start_response):
    user = parse_qs(environ.get("QUERY_STRING", "")).get("u", [""])[0]
    if user:
        client.get_boolean_value("new-checkout", False, EvaluationContext(user))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""
)
