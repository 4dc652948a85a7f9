"""`signpost bench --smoke --json` runs end to end on a tiny load and prints every figure.
It asserts nothing about speed: targets are shown by the bench, never asserted in tests."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration
FIGURES = ("raw_produce_rate", "raw_loop_rate", "intake_rate", "intake_ratio", "intake_p50_ms",
           "intake_p99_ms", "router_rate", "router_ratio", "notifier_rate", "e2e_p50_ms",
           "e2e_p99_ms", "peak_sustainable_rate", "system_ready_s", "max_rss_mb")


def test_bench_smoke_prints_every_figure() -> None:
    done = subprocess.run([sys.executable, "-m", "signpost.cli", "bench", "--smoke", "--json"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    for name in FIGURES:
        assert isinstance(results[name], int | float) and not math.isnan(results[name]), name
    assert set(results["rss_mb"]) == {"intake", "router", "notifier"}
    assert set(results["targets"]) >= {"router_ratio", "intake_ratio", "e2e_p99_ms"}
    assert "router: starting" in done.stderr  # progress while it runs
