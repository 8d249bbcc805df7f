"""Plays Lambda's runtime for the example handler: N invocations, a line after each return, then
waits to be frozen and killed (the test sends SIGSTOP, then SIGKILL)."""

from __future__ import annotations

import sys

from integration_helpers import EXAMPLES, load_example


class FakeLambdaContext:
    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def main(invocations: int) -> None:
    handler = load_example(EXAMPLES / "aws_lambda" / "handler.py", "lambda_handler")
    for i in range(invocations):
        headers = {"x-user-id": f"user-{i}", "x-country": "fr"}
        handler.handler({"rawPath": "/", "headers": headers}, FakeLambdaContext())
        event = {"rawPath": "/purchase", "headers": headers, "queryStringParameters": {"value": f"{i}.5"}}
        handler.handler(event, FakeLambdaContext())
    print("returned", flush=True)
    sys.stdin.read()  # the environment sits frozen between invocations until it is reclaimed


if __name__ == "__main__":
    main(int(sys.argv[1]))
