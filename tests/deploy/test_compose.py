"""docker-compose.yml: valid against the Compose Specification schema, and wired up safely.

The schema is the compose-spec project's (Apache-2.0), as vendored by the PyPI package
check-jsonschema (check_jsonschema/builtin_schemas/vendor/compose-spec.json). No Docker
engine is involved: this validates the file, it does not run it.
"""

from __future__ import annotations

import json
from importlib import metadata

from .conftest import REPO, TOPICS, load_yaml, missing

COMPOSE = load_yaml(REPO / "docker-compose.yml")
SERVICES = COMPOSE["services"]
ONE_SHOT = {"kafka-init"}
SIGNPOST = {"intake": "8080", "router": "8081", "notifier": "8082"}


def compose_schema() -> dict:
    # Read the data file without importing check_jsonschema (its CLI code wants a newer click
    # than faust-streaming allows; only the schema is needed here).
    try:
        dist = metadata.distribution("check-jsonschema")
    except metadata.PackageNotFoundError:
        missing("check-jsonschema (ships the compose-spec schema) is not installed")
    path = dist.locate_file("check_jsonschema/builtin_schemas/vendor/compose-spec.json")
    return json.loads(path.read_text())


def test_valid_against_compose_spec_schema() -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(compose_schema())
    errors = sorted(validator.iter_errors(COMPOSE), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_depends_on_waits_for_health_or_completion() -> None:
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must be the long form"
        for target, spec in depends.items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            # Started is not ready: wait for a health check, or for a one-shot to succeed.
            expected = ("service_completed_successfully" if target in ONE_SHOT
                        else "service_healthy")
            assert spec.get("condition") == expected, f"{name} -> {target}: want {expected}"
            if expected == "service_healthy":
                assert SERVICES[target].get("healthcheck", {}).get("test"), \
                    f"{target} has no healthcheck"


# What each image can run for its health check (none of the third-party images has curl):
# prom/prometheus and grafana/grafana (Alpine) carry busybox wget; mailpit has `mailpit readyz`;
# apache/kafka its own scripts; Signpost's image Python.
IMAGE_COMMANDS = {"prom/prometheus": "wget", "grafana/grafana": "wget",
                  "axllent/mailpit": "/mailpit", "apache/kafka": "/opt/kafka/bin/",
                  "signpost": "python"}


def test_healthchecks_use_a_command_the_image_has() -> None:
    for name, service in SERVICES.items():
        test = service.get("healthcheck", {}).get("test")
        if not test:
            continue
        image = service["image"].split(":")[0]
        command = test[1] if test[0] == "CMD" else test[1].split()[0]
        assert command.startswith(IMAGE_COMMANDS[image]), f"{name}: {image} lacks {command}"


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service.get("image", "")
        if "build" in service:
            continue
        assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned image {image}"
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    assert SERVICES["mailpit"]["image"].startswith("axllent/mailpit:")


def test_kafka_is_kraft_and_init_creates_every_topic() -> None:
    env = SERVICES["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "zookeeper" not in json.dumps(SERVICES).lower()
    init = SERVICES["kafka-init"]
    script = " ".join(init["command"])
    assert "kafka-topics.sh" in script and "--create" in script
    for topic in TOPICS:
        assert topic in script
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_signpost_services_share_one_image_and_wait_for_topics() -> None:
    for name, port in SIGNPOST.items():
        service = SERVICES[name]
        assert service["build"]["context"] == "."
        assert service["command"] == ["signpost", name]
        env = service["environment"]
        assert env["SIGNPOST_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["SIGNPOST_HEALTH_PORT"] == port
        assert env["SIGNPOST_BUNDLE_DIR"] == "/etc/signpost/bundle"
        assert "./signpost/demo_bundle:/etc/signpost/bundle:ro" in service["volumes"]
        deps = service["depends_on"]
        assert deps["kafka-init"]["condition"] == "service_completed_successfully"
        assert deps["kafka"]["condition"] == "service_healthy"
    notifier = SERVICES["notifier"]
    assert notifier["environment"]["SIGNPOST_SMTP_HOST"] == "mailpit"
    assert notifier["environment"]["SIGNPOST_SMTP_PORT"] == "1025"
    assert notifier["depends_on"]["mailpit"]["condition"] == "service_healthy"


def test_local_files_referenced_exist() -> None:
    sources = [v.split(":", 1)[0] for s in SERVICES.values() for v in s.get("volumes", [])]
    sources += [secret["file"] for secret in COMPOSE.get("secrets", {}).values()]
    local = [s for s in sources if s.startswith("./")]
    assert local
    for source in local:
        assert (REPO / source).exists(), source
    prometheus_mounts = SERVICES["prometheus"]["volumes"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus_mounts
