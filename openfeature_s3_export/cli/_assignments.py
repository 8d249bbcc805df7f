"""Assignment-source views for warehouse-native experimentation platforms.

Each view has one row per environment, flag and unit: the unit's first exposure (the first
evaluation that served a variant), in the column names the platform's documentation uses:

- Statsig Warehouse Native: ``timestamp``, a unit id column (``user_id``), ``experiment_id``,
  ``group_id``.
- Eppo: ``timestamp``, ``subject_id``, ``experiment``, ``variant`` (+ ``subject_attributes``).
- GrowthBook: ``timestamp``, ``user_id``, ``experiment_id``, ``variation_id``.
- Harness FME (Split) Warehouse Native: ``unique_key``, ``exposure_timestamp``, ``treatment``
  (+ ``experiment_id``, ``traffic_type``).

Every view also carries ``environment``; the platforms map columns in their UI, so these names
are the documented defaults, not requirements.
"""

from __future__ import annotations

from typing import Final

# platform -> [(output column, source expression in the first-exposure subquery)]
PLATFORMS: Final[dict[str, list[tuple[str, str]]]] = {
    "statsig": [
        ("timestamp", "first_exposed_at"),
        ("user_id", "targeting_key"),
        ("experiment_id", "flag_key"),
        ("group_id", "variant"),
    ],
    "eppo": [
        ("timestamp", "first_exposed_at"),
        ("subject_id", "targeting_key"),
        ("experiment", "flag_key"),
        ("variant", "variant"),
        ("subject_attributes", "context"),
    ],
    "growthbook": [
        ("timestamp", "first_exposed_at"),
        ("user_id", "targeting_key"),
        ("experiment_id", "flag_key"),
        ("variation_id", "variant"),
    ],
    "harness": [
        ("unique_key", "targeting_key"),
        ("exposure_timestamp", "first_exposed_at"),
        ("treatment", "variant"),
        ("experiment_id", "flag_key"),
        ("traffic_type", "context_kind"),
    ],
}


def _quote(engine: str, name: str) -> str:
    if engine in ("spark", "bigquery"):
        return f"`{name}`"
    if engine == "snowflake":
        return name  # created unquoted: Snowflake resolves them in upper case
    return f'"{name}"'


def _timestamp(engine: str, fmt: str) -> str:
    ts = _quote(engine, "timestamp")
    if engine == "athena" and fmt == "ndjson":
        return f"from_iso8601_timestamp({ts})"
    return ts


def assignment_view(platform: str, engine: str, source: str, fmt: str = "ndjson") -> str:
    """``CREATE VIEW <platform>_assignments`` over *source* (a schema v1 table or view)."""
    q = _quote
    picked = ", ".join(f"{expr} AS {q(engine, column)}" for column, expr in PLATFORMS[platform])
    create = "CREATE OR REPLACE TEMPORARY VIEW" if engine == "spark" else "CREATE OR REPLACE VIEW"
    ts = _timestamp(engine, fmt)
    return (
        f"-- {platform} assignment source: one row per environment, flag and unit, at its first\n"
        "-- exposure (the first evaluation that served a variant; errors and defaults are not).\n"
        f"{create} {platform}_assignments AS\n"
        f"SELECT {picked}, environment\n"
        "FROM (\n"
        "    SELECT flag_key, targeting_key, variant, context, context_kind, environment,\n"
        "           exposed_at AS first_exposed_at,\n"
        "           row_number() OVER (\n"
        "               PARTITION BY environment, flag_key, targeting_key ORDER BY exposed_at, event_id\n"
        "           ) AS exposure_number\n"
        f"    FROM (SELECT *, {ts} AS exposed_at FROM {source}) AS events\n"
        "    WHERE kind = 'evaluation' AND variant IS NOT NULL AND targeting_key IS NOT NULL\n"
        ") AS exposures\n"
        "WHERE exposure_number = 1;\n"
    )
