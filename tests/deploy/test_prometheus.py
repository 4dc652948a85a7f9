"""Prometheus: alert rules, their promtool unit tests, and the compose scrape config."""

from __future__ import annotations

import pytest

from .conftest import (
    JOBS,
    PROMETHEUS,
    REPO,
    doc_anchors,
    exposed_sample_names,
    load_yaml,
    metric_names_in,
    require_tool,
    run,
)

ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"

PROMTOOL_HINT = "apt-get install prometheus"


def alert_rules() -> list[dict]:
    doc = load_yaml(ALERTS)
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules() -> None:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    run([promtool, "check", "rules", str(ALERTS)])


def test_promtool_unit_tests_pass() -> None:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    out = run([promtool, "test", "rules", str(ALERTS_TEST)])
    assert "SUCCESS" in out.stdout


def test_promtool_check_config() -> None:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    run([promtool, "check", "config", str(CONFIG)])


def test_every_alert_fires_and_has_a_quiet_case() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in load_yaml(ALERTS_TEST)["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert not names - fired, f"alerts never fired by alerts_test.yml: {sorted(names - fired)}"
    assert not names - quiet, f"alerts with no quiet case: {sorted(names - quiet)}"
    assert not (fired | quiet) - names, "alerts_test.yml names alerts that do not exist"


def test_the_required_alerts_exist() -> None:
    exprs = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    wanted = {
        "SignpostNoReportsRouted": "signpost_routing_decisions_total",
        "SignpostUnroutableRatioHigh": "signpost_reports_unroutable_total",
        "SignpostNotificationPermanentFailures": 'permanent="true"',
        "SignpostNotificationFailureRatioHigh": "signpost_notifications_",
        "SignpostDeadLettersGrowing": "signpost_dead_letters_total",
        "SignpostConsumerLagHigh": "signpost_consumer_lag_records",
        "SignpostConsumerStalled": "signpost_last_progress_timestamp_seconds",
        "SignpostSlaBreaches": "signpost_sla_breaches_total",
        "SignpostTargetDown": "up{",
    }
    for alert, fragment in wanted.items():
        assert alert in exprs, f"missing alert {alert}"
        assert fragment in exprs[alert], f"{alert} does not use {fragment}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_has_severity_annotations_and_runbook(rule: dict) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    annotations = rule["annotations"]
    assert annotations.get("summary") and annotations.get("description")
    url = annotations["runbook_url"]
    path, _, anchor = url.partition("#")
    assert path == "docs/operations.md"
    assert anchor in doc_anchors(REPO / path), f"{url}: no such heading in {path}"


def test_alerts_use_only_metrics_signpost_exports() -> None:
    known = exposed_sample_names()
    used = set().union(*(metric_names_in(rule["expr"]) for rule in alert_rules()))
    assert used, "no signpost metrics found in alert expressions"
    assert not used - known, f"unknown metrics in alerts.yml: {sorted(used - known)}"


def test_scrape_config_has_the_three_jobs_and_loads_the_rules() -> None:
    config = load_yaml(CONFIG)
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) >= JOBS
    ports = {"signpost-intake": "intake:8080", "signpost-router": "router:8081",
             "signpost-notifier": "notifier:8082"}
    for job, target in ports.items():
        assert jobs[job]["static_configs"][0]["targets"] == [target]
