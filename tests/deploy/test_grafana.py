"""Grafana: every dashboard query parses (via promtool); the datasource is the provisioned one."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .conftest import GRAFANA, exposed_sample_names, load_yaml, metric_names_in, require_tool, run

DASHBOARD = GRAFANA / "signpost-dashboard.json"
DATASOURCE_UID = "prometheus"
# Grafana's built-in variables, replaced by a fixed range so promtool can parse the query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def panels() -> list[dict]:
    found = []

    def walk(items: list[dict]) -> None:
        for panel in items:
            if panel.get("type") == "row":
                walk(panel.get("panels", []))
            else:
                found.append(panel)

    walk(json.loads(DASHBOARD.read_text())["panels"])
    return found


def exprs() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]


def concrete(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unreplaced Grafana variable in {expr}"
    return expr


def test_every_panel_expression_parses(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    rules = [{"record": f"dashboard:panel_{i}", "expr": concrete(expr)}
             for i, (_, expr) in enumerate(exprs())]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = run([promtool, "check", "rules", str(path)])
    assert f"{len(rules)} rules found" in out.stdout


def test_dashboard_covers_the_required_views() -> None:
    text = " ".join(expr for _, expr in exprs())
    for metric in [
        "signpost_reports_received_total", "signpost_routing_decisions_total",
        "signpost_notifications_sent_total", "signpost_reports_unroutable_total",
        "signpost_routing_seconds_bucket", "signpost_intake_publish_seconds_bucket",
        "signpost_end_to_end_seconds_bucket", "signpost_notifications_failed_total",
        "signpost_notification_retries_total", "signpost_dead_letters_total",
        "signpost_consumer_lag_records", "signpost_directory_fallbacks_total",
        "signpost_sla_breaches_total", "signpost_escalations_total",
    ]:
        assert metric in text, f"no panel shows {metric}"
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in text


def test_dashboard_uses_only_metrics_signpost_exports() -> None:
    used = set().union(*(metric_names_in(expr) for _, expr in exprs()))
    assert not used - exposed_sample_names(), sorted(used - exposed_sample_names())


def test_datasource_uid_is_the_provisioned_one() -> None:
    provisioned = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    assert [d["uid"] for d in provisioned["datasources"]] == [DATASOURCE_UID]
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID, panel["title"]


def test_panel_ids_unique_and_dashboard_provider_path_matches_compose() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    provider = load_yaml(GRAFANA / "provisioning" / "dashboards" / "signpost.yml")
    path = provider["providers"][0]["options"]["path"]
    compose = (GRAFANA.parents[1] / "docker-compose.yml").read_text()
    assert f"signpost-dashboard.json:{path}/signpost-dashboard.json" in compose
