"""Intake needs API keys: without a keys file it refuses to start unless SIGNPOST_INTAKE_OPEN
is set explicitly; local runs (dev, tests, bench) set it, and a keys file always wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.intake.auth import Refused, hash_key
from services.intake.main import KeysRequired, authenticator, run, trusted_proxies
from signpost.runtime.logging import configure_logging
from signpost.runtime.settings import DEMO_BUNDLE, Settings
from signpost.system import LocalSystem
from tests.unit.test_intake_api import json_logs  # a fixture

__all__ = ["json_logs"]


def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([{"source": "fms", "key_sha256": hash_key("k")}]))
    return path


def test_no_keys_file_is_refused_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNPOST_INTAKE_OPEN", raising=False)
    monkeypatch.delenv("SIGNPOST_API_KEYS_FILE", raising=False)
    assert Settings().intake_open is False
    with pytest.raises(KeysRequired, match="SIGNPOST_INTAKE_OPEN=true"):
        authenticator(Settings())


def test_open_only_when_asked_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNPOST_INTAKE_OPEN", "true")
    assert authenticator(Settings()).open


def test_a_keys_file_wins_over_intake_open(tmp_path: Path) -> None:
    auth = authenticator(Settings(api_keys_file=keys_file(tmp_path), intake_open=True))
    assert not auth.open and auth.authorize("k", None, "api").source == "fms"


def test_intake_refuses_to_start_with_a_clear_error(
        monkeypatch: pytest.MonkeyPatch, json_logs: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SIGNPOST_INTAKE_OPEN", raising=False)
    with pytest.raises(SystemExit) as exited:
        run(Settings(bundle_dir=DEMO_BUNDLE, api_keys_file=None))
    assert exited.value.code == 2
    logged = json_logs.readouterr().err
    assert "api_keys_required" in logged and "SIGNPOST_API_KEYS_FILE is not set" in logged


@pytest.mark.parametrize(("local", "is_open"), [
    (LocalSystem(bundle=DEMO_BUNDLE), True),
    (LocalSystem(bundle=DEMO_BUNDLE, open_intake=False), False),
    (LocalSystem(bundle=DEMO_BUNDLE, extra_env={"SIGNPOST_INTAKE_OPEN": "false"}), False),
])
def test_local_runs_open_intake_unless_told_otherwise(
        monkeypatch: pytest.MonkeyPatch, local: LocalSystem, is_open: bool) -> None:
    """What the intake process would be given by `signpost dev`, the tests and the bench."""
    monkeypatch.delenv("SIGNPOST_API_KEYS_FILE", raising=False)
    monkeypatch.setenv("SIGNPOST_INTAKE_OPEN", local.env()["SIGNPOST_INTAKE_OPEN"])
    if is_open:
        assert authenticator(Settings()).open
    else:
        with pytest.raises(KeysRequired):
            authenticator(Settings())


def test_local_runs_with_a_keys_file_use_it(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    env = LocalSystem(bundle=DEMO_BUNDLE, extra_env={
        "SIGNPOST_API_KEYS_FILE": str(keys_file(tmp_path))}).env()
    for name in ("SIGNPOST_API_KEYS_FILE", "SIGNPOST_INTAKE_OPEN"):
        monkeypatch.setenv(name, env[name])
    assert not authenticator(Settings()).open


def test_intake_refuses_trusted_proxies_that_are_no_network(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        json_logs: pytest.CaptureFixture[str]) -> None:
    """A misspelt ingress address would silently count every client as the ingress."""
    monkeypatch.setenv("SIGNPOST_INTAKE_TRUSTED_PROXIES", "10.0.0.0/8, ingress.local")
    with pytest.raises(SystemExit) as exited:
        run(Settings(bundle_dir=DEMO_BUNDLE, api_keys_file=keys_file(tmp_path)))
    assert exited.value.code == 2
    logged = json_logs.readouterr().err
    assert "trusted_proxies_invalid" in logged and "ingress.local" in logged


def test_access_limits_come_from_settings(tmp_path: Path) -> None:
    auth = authenticator(Settings(api_keys_file=keys_file(tmp_path),
                                  intake_failed_auth_per_minute=2))
    for _ in range(2):
        with pytest.raises(Refused) as refused:
            auth.authorize("wrong", None, "api", "203.0.113.1")
        assert refused.value.status == 401
    with pytest.raises(Refused) as limited:
        auth.authorize("k", None, "api", "203.0.113.1")
    assert limited.value.status == 429
    assert auth.authorize("k", None, "api", "203.0.113.2").source == "fms"


def test_keys_without_trusted_proxies_are_pointed_out_once_at_start(
        json_logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("intake-test")
    assert trusted_proxies(Settings(intake_trusted_proxies=""), keyed=True) == ()
    assert trusted_proxies(Settings(intake_trusted_proxies=""), keyed=False) == ()
    assert [str(n) for n in trusted_proxies(Settings(
        intake_trusted_proxies="10.0.0.0/8"), keyed=True)] == ["10.0.0.0/8"]
    logged = json_logs.readouterr().err
    assert logged.count("trusted_proxies_unset") == 1
