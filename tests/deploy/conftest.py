"""Shared helpers for the deployment-file tests: paths, tools, and the metric catalogue."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest
import yaml

from signpost.runtime.settings import Topics

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
K8S = DEPLOY / "k8s"

TOPICS = Topics().all()  # the deployment files must create every topic the services use
JOBS = {"signpost-intake", "signpost-router", "signpost-notifier"}


def missing(what: str) -> NoReturn:
    """A checker is not installed: skip on a developer's machine, but fail in CI (CI=true),
    which installs every one of them (.ci/run), so a check never silently stops running."""
    message = f"{what}; .ci/run installs it (deploy/ci-apt-packages.txt, ci-requirements.txt)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI: {message}")
    pytest.skip(message)


def require_tool(name: str, hint: str) -> str:
    """The tool's path, or skip (fail in CI) saying how to install it."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed ({hint})")
    return path


def run(cmd: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run a tool; fail the test with its output when it exits non-zero."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def load_yaml(path: Path) -> object:
    return yaml.safe_load(path.read_text())


def exposed_sample_names() -> set[str]:
    """Every sample name Signpost's metrics module can expose (counters get _total, etc.)."""
    from prometheus_client.metrics import MetricWrapperBase

    from signpost.runtime import metrics

    names: set[str] = set()
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            if not family.name.startswith("signpost_"):
                continue
            if family.type == "counter":
                names.add(family.name + "_total")
            elif family.type == "histogram":
                names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
            else:
                names.add(family.name)
    return names


METRIC_RE = re.compile(r"\bsignpost_[a-z0-9_]+")


def metric_names_in(expr: str) -> set[str]:
    """signpost_* metric names used in a PromQL expression (label values excluded)."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    return set(METRIC_RE.findall(without_strings))


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def doc_anchors(path: Path) -> set[str]:
    return {
        github_anchor(line.lstrip("#"))
        for line in path.read_text().splitlines()
        if line.startswith("#")
    }
