"""The common privacy and volume options from environment variables (docs/privacy.md).

Read once, by ``EventExporter``, for each option its caller did not pass.  A value that does
not parse fails the construction with the variable's name, as a bad argument would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from .privacy import ContextPolicy, Hashing
from .volume import Deduplication, FlagFilter, Sampling

PREFIX: Final = "OPENFEATURE_S3_EXPORT_"
HASH_SECRET: Final = PREFIX + "HASH_SECRET"
HASH_KEY_ID: Final = PREFIX + "HASH_KEY_ID"
CONTEXT_DENY: Final = PREFIX + "CONTEXT_DENY"
CONTEXT_HASH: Final = PREFIX + "CONTEXT_HASH"
FLAGS_INCLUDE: Final = PREFIX + "FLAGS_INCLUDE"
FLAGS_EXCLUDE: Final = PREFIX + "FLAGS_EXCLUDE"
EXPERIMENTS_ONLY: Final = PREFIX + "EXPERIMENTS_ONLY"
DEDUP_WINDOW: Final = PREFIX + "DEDUP_WINDOW"
SAMPLE_RATE: Final = PREFIX + "SAMPLE_RATE"
PURE_PYTHON: Final = PREFIX + "PURE_PYTHON"
"""Read by :mod:`._accelerated` at import: true leaves the C extension out."""

T = TypeVar("T")


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def flag(text: str) -> bool:
    """*text* as a yes/no setting (``1/true/yes/on``, ``0/false/no/off``)."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parsed(env: Mapping[str, str], name: str, parse: Callable[[str], T]) -> T | None:
    """Variable *name* through *parse*, ``None`` when unset or blank; a ``ValueError`` names it."""
    text = env.get(name)
    if text is None or not text.strip():
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"${name}={text!r} is not valid: {exc}") from exc


def options_from_environment(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``EventExporter`` keyword arguments set by the environment (only those that are set)."""
    env = os.environ if env is None else env
    options: dict[str, Any] = {}
    secret = env.get(HASH_SECRET)
    if secret:
        key_id = env.get(HASH_KEY_ID)
        try:
            options["hashing"] = Hashing(secret, key_id) if key_id else Hashing(secret)
        except ValueError as exc:
            raise ValueError(f"${HASH_SECRET} is not valid: {exc}") from exc  # never the value
    deny, hashed = parsed(env, CONTEXT_DENY, _list), parsed(env, CONTEXT_HASH, _list)
    if deny or hashed:
        options["context_policy"] = ContextPolicy(deny=deny or [], hashed=hashed or [])
    include, exclude = parsed(env, FLAGS_INCLUDE, _list), parsed(env, FLAGS_EXCLUDE, _list)
    experiments = parsed(env, EXPERIMENTS_ONLY, flag)
    if include or exclude or experiments:
        options["flag_filter"] = FlagFilter(
            include=include, exclude=exclude or (), experiments_only=bool(experiments)
        )
    window = parsed(env, DEDUP_WINDOW, lambda text: Deduplication(window=float(text)))
    if window is not None:
        options["deduplication"] = window
    sampling = parsed(env, SAMPLE_RATE, lambda text: Sampling(rate=float(text)))
    if sampling is not None:
        options["sampling"] = sampling
    return options
