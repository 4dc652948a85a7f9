"""`signpost route explain`: the decision as JSON on stdout, and an exit status scripts can use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from signpost.cli import main
from signpost.runtime.settings import DEMO_BUNDLE

ASHCOMBE = ["--lat", "51.05", "--lon", "-1.55"]


def explain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["route", "explain", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


def test_routed_prints_owner_rule_and_trace(capsys: pytest.CaptureFixture[str]) -> None:
    code, result = explain(capsys, "--category", "bus_shelter", *ASHCOMBE)
    assert code == 0 and result["routed"] is True
    assert result["owner"] == {"id": "ashcombe-pc", "name": "Ashcombe Parish Council",
                               "tier": "parish"}
    assert result["rule_id"] == "bus-shelter-parish" and result["reason_code"] is None
    trace = result["trace"]
    assert trace["matched_rule"] == "bus-shelter-parish"
    assert trace["rules_evaluated"][-1] == "bus-shelter-parish"
    assert {(h["layer"], h["feature_id"]) for h in trace["boundaries"]} == {
        ("county", "E10999001"), ("district", "E07999001"), ("parish", "E04999001")}
    assert trace["bundle_version"].startswith("2026.11.1+")


def test_answers_and_uprn_are_used(capsys: pytest.CaptureFixture[str]) -> None:
    code, result = explain(capsys, "--category", "speeding", *ASHCOMBE,
                           "--answer", "speed_limit=30", "--answer", "road_type=village street",
                           "--answer", "pattern=at certain times")
    assert code == 0 and result["rule_id"] == "speeding-community-speedwatch"
    code, result = explain(capsys, "--category", "housing_repair", *ASHCOMBE,
                           "--uprn", "100062000001")
    assert code == 0 and result["owner"]["tier"] == "housing_provider"


@pytest.mark.parametrize(("category", "lat", "lon", "reason_code"), [
    ("bus_shelter", "0.0", "0.0", "outside_area"),
])
def test_unroutable_exits_1(capsys: pytest.CaptureFixture[str], category: str, lat: str,
                            lon: str, reason_code: str) -> None:
    code, result = explain(capsys, "--category", category, "--lat", lat, "--lon", lon)
    assert code == 1
    assert result["routed"] is False and result["owner"] is None
    assert result["reason_code"] == reason_code and result["reason"]


def test_invalid_bundle_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = Path(shutil.copytree(DEMO_BUNDLE, tmp_path / "bundle"))
    (bundle / "rules.yaml").write_text("- id: x\n  category: pothole\n  owner: {}\n")
    code, result = explain(capsys, "--bundle", str(bundle), "--category", "pothole", *ASHCOMBE)
    assert code == 2 and result["error"] == "invalid bundle"
    assert result["problems"][0].startswith("rules.yaml:3: owner:")


def test_missing_bundle_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = explain(capsys, "--bundle", str(tmp_path / "none"), "--category", "pothole",
                           *ASHCOMBE)
    assert code == 2 and "bundle.yaml: file is missing" in result["problems"]


def test_bad_answer_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["route", "explain", "--category", "speeding", *ASHCOMBE, "--answer", "thirty"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "--answer takes ID=VALUE, got 'thirty'" in captured.err


def test_missing_required_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["route", "explain", "--lat", "51", "--lon", "-1.5"])
    assert exited.value.code == 2 and "--category" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "error"), [
    (["--category", "volcano", *ASHCOMBE],
     "signpost: --category volcano: Not a category this service handles. Choose one of: "
     "bus_shelter,"),
    (["--category", "speeding", *ASHCOMBE, "--answer", "colour=red"],
     "signpost: --answer colour: Not a question for this category. Its questions are: "
     "speed_limit, road_type, pattern"),
    (["--category", "pothole", *ASHCOMBE, "--answer", "speed_limit=30"],
     "signpost: --answer speed_limit: Not a question for this category."),
    (["--category", "speeding", *ASHCOMBE, "--answer", "speed_limit=70"],
     "signpost: --answer speed_limit: Not an allowed answer. Choose one of: 20, 30, 40 or more"),
    (["--category", "pothole", "--lat", "nan", "--lon", "-1.55"],
     "signpost: --lat: must be a finite number from -90 to 90 (WGS84 degrees)"),
    (["--category", "pothole", "--lat", "51.05", "--lon", "inf"],
     "signpost: --lon: must be a finite number from -180 to 180 (WGS84 degrees)"),
    (["--category", "pothole", "--lat=-inf", "--lon=nan"], "signpost: --lat: must be"),
    (["--category", "pothole", "--lat", "91", "--lon", "-1.55"], "signpost: --lat: must be"),
])
def test_inputs_no_report_could_have_exit_2_with_one_line(
        capsys: pytest.CaptureFixture[str], args: list[str], error: str) -> None:
    """Not routed: an unknown category or answer, or a point that is no WGS84 point."""
    code = main(["route", "explain", *args])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith(error) and captured.err.count("\n") == 1, captured.err
