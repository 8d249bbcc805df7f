"""``python -m openfeature_s3_export``: the same as the ``openfeature-s3-export`` command."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
