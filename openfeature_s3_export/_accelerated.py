"""Whether the per-event hot paths run in C: the optional extension ``_speedups``.

The extension is compiled at install time where a C compiler is present (``setup.py``,
``optional=True``); without it, or with ``OPENFEATURE_S3_EXPORT_PURE_PYTHON=1`` in the
environment, the same work runs in Python and gives the same rows, byte for byte
(``tests/test_speedups.py``).  Only the process CPU differs (docs/performance.md).
"""

from __future__ import annotations

import os
from types import ModuleType

from ._env import PURE_PYTHON, flag, parsed


def _load() -> ModuleType | None:
    if parsed(os.environ, PURE_PYTHON, flag):
        return None
    try:
        from . import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _speedups  # type: ignore[no-any-return]


speedups: ModuleType | None = _load()
"""The C extension module, or ``None`` when the pure-Python paths run."""
