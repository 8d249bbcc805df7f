"""``report PATH_OR_S3_URL --flag KEY``: exposures, conversions, lift and SRM of one flag."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from ._common import FORMAT_OPTION, CliUsageError, echo_table, emit_json, status
from ._duckdb import connect, rows
from ._source import materialize
from ._stats import SRM_ALPHA, conversion_lift, sample_ratio_mismatch

TIME = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"])

FIRST_EXPOSURES = """
CREATE TEMP TABLE firsts AS
SELECT targeting_key,
       min("timestamp") AS exposed_at,
       first(variant ORDER BY "timestamp", event_id) AS variant,
       count(DISTINCT variant) AS variants_seen
FROM scoped
WHERE kind = 'evaluation' AND flag_key = $flag AND variant IS NOT NULL AND targeting_key IS NOT NULL
GROUP BY targeting_key
"""

EXPOSURES = """
SELECT variant, count(*) AS exposures, count(DISTINCT targeting_key) AS units_exposed
FROM scoped
WHERE kind = 'evaluation' AND flag_key = $flag AND variant IS NOT NULL
GROUP BY variant
"""

PER_VARIANT = """
SELECT f.variant,
       count(*) AS units,
       count(*) FILTER (WHERE f.variants_seen > 1) AS multi_variant_units,
       min(f.exposed_at) AS first_exposure,
       max(f.exposed_at) AS last_first_exposure,
       count(*) FILTER (WHERE c.events > 0) AS converted_units,
       coalesce(sum(c.events), 0) AS metric_events,
       sum(c.value_sum) / nullif(sum(c.valued), 0) AS mean_metric_value,
       coalesce(sum(c.before), 0) AS events_before_exposure
FROM firsts AS f
LEFT JOIN (
    SELECT f.targeting_key,
           count(*) FILTER (WHERE t."timestamp" >= f.exposed_at) AS events,
           sum(t.metric_value) FILTER (WHERE t."timestamp" >= f.exposed_at) AS value_sum,
           count(t.metric_value) FILTER (WHERE t."timestamp" >= f.exposed_at) AS valued,
           count(*) FILTER (WHERE t."timestamp" < f.exposed_at) AS before
    FROM firsts AS f
    JOIN scoped AS t
      ON t.kind = 'track' AND t.event_name = $metric AND t.targeting_key = f.targeting_key
    GROUP BY f.targeting_key
) AS c ON c.targeting_key = f.targeting_key
GROUP BY f.variant
ORDER BY f.variant
"""


def _scope(con: Any, since: dt.datetime | None, until: dt.datetime | None) -> None:
    where = []
    if since:
        where.append(f"\"timestamp\" >= TIMESTAMPTZ '{since.isoformat()}+00:00'")
    if until:
        where.append(f"\"timestamp\" < TIMESTAMPTZ '{until.isoformat()}+00:00'")
    con.execute(f"CREATE TEMP VIEW scoped AS SELECT * FROM flag_events WHERE {' AND '.join(where) or 'true'}")


def _parse_weights(text: str | None, variants: list[str]) -> dict[str, float]:
    if not text:
        return dict.fromkeys(variants, 1.0)
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise CliUsageError(f"bad --weights {text!r}", "write it as control=50,treatment=50") from None
    return weights


def _pick_metric(con: Any, metric: str | None) -> str | None:
    names = [
        r["event_name"] for r in rows(con, "SELECT DISTINCT event_name FROM scoped WHERE kind = 'track'")
    ]
    if metric is not None:
        if metric not in names:
            known = ", ".join(sorted(n for n in names if n)) or "none"
            raise CliUsageError(f"no track events named {metric!r}", f"track events present: {known}")
        return metric
    if len(names) > 1:
        raise CliUsageError("several track events", f"choose one with --metric ({', '.join(sorted(names))})")
    return names[0] if names else None


def build_report(
    location: str,
    flag: str | None,
    metric: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    control: str | None = None,
    weights: str | None = None,
) -> dict[str, Any]:
    """Compute the report document (what ``--format json`` prints)."""
    with materialize(location, since, until) as (directory, fmt):
        status(f"reading {fmt} files under {location} ...")
        con = connect(directory, fmt, hive=False)
        _scope(con, since, until)
        flags = rows(
            con,
            "SELECT flag_key, count(*) AS exposures, count(DISTINCT targeting_key) AS units FROM scoped "
            "WHERE kind = 'evaluation' AND variant IS NOT NULL GROUP BY flag_key ORDER BY flag_key",
        )
        document: dict[str, Any] = {"location": location, "flag": flag, "flags": flags}
        if flag is None:
            return document
        if flag not in {f["flag_key"] for f in flags}:
            known = ", ".join(f["flag_key"] for f in flags) or "none"
            raise CliUsageError(
                f"no exposures of flag {flag!r} in {location}", f"flags with exposures: {known}"
            )
        metric = _pick_metric(con, metric)
        con.execute(FIRST_EXPOSURES, {"flag": flag})
        exposures = {r["variant"]: r for r in rows(con, EXPOSURES, {"flag": flag})}
        variants = rows(con, PER_VARIANT, {"metric": metric or ""})
    names = [v["variant"] for v in variants]
    base_name = control or ("control" if "control" in names else names[0])
    if base_name not in names:
        raise CliUsageError(f"no variant {base_name!r} in {flag!r}", f"variants: {', '.join(names)}")
    base = next(v for v in variants if v["variant"] == base_name)
    for v in variants:
        v.update(exposures=exposures[v["variant"]]["exposures"])
        v.update(conversion_rate=v["converted_units"] / v["units"] if metric else None)
        if metric and v is not base:
            v.update(
                conversion_lift(v["converted_units"], v["units"], base["converted_units"], base["units"])
            )
    srm = sample_ratio_mismatch({v["variant"]: v["units"] for v in variants}, _parse_weights(weights, names))
    document.update(
        metric=metric,
        control=base_name,
        since=since,
        until=until,
        variants=variants,
        multi_variant_units=sum(v["multi_variant_units"] for v in variants),
        srm=srm,
    )
    return document


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}" if value else "0.0%"


def print_report(doc: dict[str, Any]) -> None:
    """The report as tables for people."""
    if doc["flag"] is None:
        echo_table("Flags with exposures (pass one with --flag):", doc["flags"])
        return
    echo_table(
        f"Flag {doc['flag']!r}: units by first exposure (duplicates removed by event_id)",
        doc["variants"],
        ["variant", "exposures", "units", "multi_variant_units", "first_exposure", "last_first_exposure"],
    )
    if doc["multi_variant_units"]:
        click.echo(
            f"{doc['multi_variant_units']} unit(s) were served more than one variant; they count in the "
            "variant they saw first.\n"
        )
    if doc["metric"]:
        table = [
            {
                "variant": v["variant"],
                "units": v["units"],
                "converted": v["converted_units"],
                "rate": f"{v['conversion_rate']:.2%}",
                "mean_value": v["mean_metric_value"],
                "lift": _pct(v.get("lift")),
                "lift_95%_ci": (
                    f"[{_pct(v['lift_low'])}, {_pct(v['lift_high'])}]"
                    if v.get("lift_low") is not None
                    else "-"
                ),
                "ignored_before_exposure": v["events_before_exposure"],
            }
            for v in doc["variants"]
        ]
        echo_table(
            f"Conversions: {doc['metric']!r} at or after first exposure (control: {doc['control']})", table
        )
    else:
        click.echo("No track events in range: conversions are not reported.\n")
    srm = doc["srm"]
    verdict = "MISMATCH: do not trust the results" if srm["mismatch"] else "ok"
    click.echo(
        f"Sample ratio: chi-square {srm['chi_square']:.2f}, df {srm['df']}, p = {srm['p_value']:.4g} "
        f"(flagged below {SRM_ALPHA}): {verdict}"
    )


@click.command(short_help="Experiment report: exposures, conversion, lift with 95% CI, SRM.")
@click.argument("location", metavar="PATH_OR_S3_URL")
@click.option("--flag", help="the experiment's flag key (without it: list the flags with exposures)")
@click.option(
    "--metric", metavar="EVENT_NAME", help="track event counted as a conversion (default: the only one)"
)
@click.option("--since", type=TIME, help="UTC start, inclusive (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)")
@click.option("--until", type=TIME, help="UTC end, exclusive")
@click.option("--control", help="the variant lift is measured against (default: 'control', else the first)")
@click.option(
    "--weights", help="intended split for the SRM test, e.g. control=50,treatment=50 (default: equal)"
)
@FORMAT_OPTION
def report(
    location: str,
    flag: str | None,
    metric: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    control: str | None,
    weights: str | None,
    output_format: str,
) -> None:
    """Experiment report of a local export directory or an s3://BUCKET/PREFIX: exposures and
    units per variant (first exposure, de-duplicated by event_id), units seen in several
    variants, conversion rate and mean metric value after first exposure, lift against the
    control with a 95 % interval, and a sample-ratio-mismatch chi-square test.

    \b
    Example:
      openfeature-s3-export report ./exports --flag new-checkout --metric purchase
    """
    doc = build_report(location, flag, metric, since, until, control, weights)
    if output_format == "json":
        emit_json(doc)
    else:
        print_report(doc)
