"""Command line: ``python -m openfeature_s3_export demo [--help]``."""

from __future__ import annotations

import sys


def main() -> int:
    """Dispatch the sub-command."""
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m openfeature_s3_export demo [--help]")
        return 0 if args else 2
    if args[0] == "demo":
        from .demo import main as demo_main

        return demo_main(args[1:])
    print(f"unknown command {args[0]!r}; try: python -m openfeature_s3_export demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
