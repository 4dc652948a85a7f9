"""A real Prometheus (Debian's package) scrapes the three running services; after reports
flow, its query API shows the counters an operator's dashboard and alerts are built on."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from signpost.runtime.settings import DEMO_BUNDLE
from signpost.system import LocalSystem, free_port, wait_for_port

pytestmark = pytest.mark.integration
PROMETHEUS = shutil.which("prometheus")


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[LocalSystem, str]]:
    if PROMETHEUS is None:
        pytest.skip("Debian's prometheus package is not installed (.ci/run installs it)")
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=tmp_path / "logs", data_dir=tmp_path / "data")
    port = free_port()
    jobs = [{"job_name": f"signpost-{name}", "static_configs": [
        {"targets": [local.health_url(name).removeprefix("http://")]}]}
        for name in ("intake", "router", "notifier")]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"},
                                      "scrape_configs": jobs}))
    server = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"))
    try:
        wait_for_port(port, 30)
        with local.running(outbox=tmp_path / "outbox"):
            local.wait_ready(timeout_s=90)
            yield local, f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=15)


def query(base: str, promql: str) -> float:
    response = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def wait_for(base: str, promql: str, at_least: float, timeout_s: float = 60) -> float:
    deadline = time.monotonic() + timeout_s
    value = query(base, promql)
    while value < at_least and time.monotonic() < deadline:
        time.sleep(1)
        value = query(base, promql)
    return value


def test_prometheus_sees_reports_flow(prometheus: tuple[LocalSystem, str]) -> None:
    local, base = prometheus
    assert wait_for(base, 'sum(up{job=~"signpost-.*"})', 3) == 3, "a service is not scraped"
    sent = {"pothole": 3, "bus_shelter": 2}
    for category, count in sent.items():
        for _ in range(count):
            response = httpx.post(f"{local.health_url('intake')}/v1/reports", timeout=10, json={
                "category": category, "description": "metrics test",
                "location": {"lat": 51.05, "lon": -1.55}})
            assert response.status_code == 202
    httpx.post(f"{local.health_url('intake')}/v1/reports", timeout=10,
               json={"category": "pothole", "location": {"lat": 95, "lon": 0}})  # refused

    assert wait_for(base, 'sum(signpost_reports_received_total{category="pothole"})', 3) == 3
    assert wait_for(base, "sum(signpost_reports_rejected_total)", 1) >= 1
    assert wait_for(base, 'sum(signpost_routing_decisions_total{tier="county"})', 3) == 3
    assert wait_for(base, 'sum(signpost_routing_decisions_total{tier="parish"})', 2) == 2
    assert wait_for(base, 'sum(signpost_notifications_sent_total{channel="email"})', 5) == 5
    assert wait_for(base, "sum(signpost_end_to_end_seconds_count)", 5) == 5
    assert wait_for(base, 'count(signpost_last_progress_timestamp_seconds)', 2) >= 2
    lag = 'count by (service) (signpost_consumer_lag_records{service="%s"})'
    assert wait_for(base, lag % "router", 1) >= 1 and wait_for(base, lag % "notifier", 1) >= 1
