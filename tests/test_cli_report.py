"""`report` figures against the hand-computed fixture, in NDJSON and Parquet, and its errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from export_fixture import EXPECTED, SKEWED_CHI_SQUARE, fixture_rows, ndjson_files, parquet_files, write_files

from openfeature_s3_export.cli import app
from openfeature_s3_export.cli.report import build_report

WRITERS = {"ndjson": ndjson_files, "parquet": parquet_files}


@pytest.fixture(params=sorted(WRITERS))
def export_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return write_files(tmp_path / "exports", WRITERS[request.param](*fixture_rows()))


def check_figures(doc: dict[str, Any]) -> None:
    assert doc["metric"] == "buy" and doc["control"] == "control"
    by_variant = {v["variant"]: v for v in doc["variants"]}
    assert set(by_variant) == set(EXPECTED)
    for variant, expected in EXPECTED.items():
        for key, value in expected.items():
            assert by_variant[variant][key] == pytest.approx(value, rel=1e-5), (variant, key)
    assert doc["multi_variant_units"] == 1
    assert doc["srm"]["chi_square"] == 0 and not doc["srm"]["mismatch"]


def test_report_figures(export_dir: Path) -> None:
    check_figures(build_report(str(export_dir), "exp", "buy"))


def test_report_json_output_matches(export_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", str(export_dir), "--flag", "exp", "--metric", "buy", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    check_figures(json.loads(result.stdout))


def test_report_table_output(export_dir: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(export_dir), "--flag", "exp", "--metric", "buy"])
    assert result.exit_code == 0, result.output
    assert "75.00%" in result.stdout and "50.00%" in result.stdout
    assert "+50.0%" in result.stdout and "[-51.6%, +365.1%]" in result.stdout
    assert "1 unit(s) were served more than one variant" in result.stdout
    assert ": ok" in result.stdout


def test_sample_ratio_mismatch_is_flagged(export_dir: Path) -> None:
    srm = build_report(str(export_dir), "skewed", "buy")["srm"]
    assert srm["chi_square"] == pytest.approx(SKEWED_CHI_SQUARE)
    assert srm["p_value"] == pytest.approx(2.2090e-5, rel=1e-3)  # erfc(sqrt(9))
    assert srm["mismatch"]
    # The same units against the split that was intended: no mismatch.
    assert not build_report(str(export_dir), "skewed", "buy", weights="control=80,treatment=20")["srm"][
        "mismatch"
    ]


def test_since_until_scope_the_events(export_dir: Path) -> None:
    import datetime as dt

    doc = build_report(str(export_dir), "exp", "buy", until=dt.datetime(2026, 3, 1, 10, 3, 30))
    units = {v["variant"]: v["units"] for v in doc["variants"]}
    assert units == {"control": 3, "treatment": 3}  # exposures at minutes 1..3 only
    doc = build_report(str(export_dir), "exp", "buy", since=dt.datetime(2026, 3, 1, 10, 4))
    assert {v["variant"]: v["units"] for v in doc["variants"]} == {"control": 3, "treatment": 1}


def test_without_flag_lists_the_flags(export_dir: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(export_dir)])
    assert result.exit_code == 0, result.output
    assert "exp" in result.stdout and "skewed" in result.stdout and "--flag" in result.stdout


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--flag", "nope", "--metric", "buy"], "no exposures of flag 'nope'", 2),
        (["--flag", "exp", "--metric", "nope"], "no track events named 'nope'", 2),
        (["--flag", "exp"], "choose one with --metric", 2),
        (["--flag", "exp", "--metric", "buy", "--weights", "x"], "bad --weights", 2),
    ],
)
def test_report_errors_on_bad_arguments(export_dir: Path, args: list[str], message: str, code: int) -> None:
    code_seen, error = run_main(["report", str(export_dir), *args])
    assert code_seen == code and message in error


def test_report_errors_on_bad_locations(tmp_path: Path) -> None:
    assert run_main(["report", str(tmp_path / "missing"), "--flag", "exp"]) == (
        2,
        f"openfeature-s3-export: error: no such directory: {tmp_path / 'missing'}; "
        "pass the directory your FileSink writes to",
    )
    (tmp_path / "empty").mkdir()
    code, error = run_main(["report", str(tmp_path / "empty"), "--flag", "exp"])
    assert code == 1 and "no exported files" in error and "openfeature-s3-export demo" in error
    code, error = run_main(["report", "http://example.com/x", "--flag", "exp"])
    assert code == 2 and "unsupported location" in error
    code, error = run_main(["report", "s3://", "--flag", "exp"])
    assert code == 2 and "bad S3 URL" in error


def run_main(argv: list[str]) -> tuple[int, str]:
    """Run the command in-process; returns (exit code, the error line), checking it is one line."""
    import contextlib
    import io

    from openfeature_s3_export.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    lines = err.getvalue().splitlines()
    assert "Traceback" not in err.getvalue()
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == (1 if code else 0), lines
    return code, errors[0] if errors else ""
