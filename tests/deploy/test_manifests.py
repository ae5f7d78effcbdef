"""deploy/: the aks overlay renders, every object is valid, and the objects fit together.

Core kinds are validated offline against the Kubernetes schemas that ``kubernetes-validate``
ships (strict: an unknown field fails). The Prometheus Operator kinds are not in those
schemas; they are checked against the fields of their CRDs (operator v0.80; only the parts
the manifests use, with unknown fields refused). Then checkov, and cross-checks that no
schema can make: selectors pick the pods, the Alertmanager URL names the Service, the
settings in the ConfigMap load with the service's own loader, the RBAC is read-only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from aggregator.api.routes import ROUTES
from aggregator.cli import check_exposure
from aggregator.config.service import load_settings
from tests.deploy.helpers import BASE, DEPLOY, Manifest, checkov, find, render, require_module

# The oldest Kubernetes version the manifests must apply to (AKS supported versions).
K8S_VERSION = "1.31"
NAMESPACE = "aggregator"
SERVER = {"app.kubernetes.io/name": "aggregator", "app.kubernetes.io/component": "server"}
SECRET = "aggregator"
SECRET_KEYS = {
    "database-url", "alertmanager-token", "alertmanager-tokens", "azure-monitor-tokens",
    "api-read-tokens", "api-write-tokens", "pagerduty-routing-key", "smtp-password",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
CRD_KINDS = {"ServiceMonitor", "AlertmanagerConfig"}
# The only checkov findings allowed, each skipped with its reason on the Deployment.
CHECKOV_SKIPS = {"CKV_K8S_43"}


def _containers(deployment: Manifest) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _server(deployment: Manifest) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_overlay_renders_the_expected_objects(rendered: list[Manifest]) -> None:
    kinds = sorted((obj["kind"], obj["metadata"]["name"]) for obj in rendered)
    config_maps = [name for kind, name in kinds if kind == "ConfigMap"]
    assert len(config_maps) == 1
    assert re.fullmatch(r"aggregator-config-[a-z0-9]{10}", config_maps[0]), config_maps
    assert [item for item in kinds if item[0] != "ConfigMap"] == sorted([
        ("AlertmanagerConfig", "aggregator"),
        ("ClusterRole", "aggregator-enrichment"),
        ("ClusterRoleBinding", "aggregator-enrichment"),
        ("Deployment", "aggregator"),
        ("Ingress", "aggregator"),
        ("Namespace", "aggregator"),
        ("NetworkPolicy", "aggregator"),
        ("PodDisruptionBudget", "aggregator"),
        ("Service", "aggregator"),
        ("ServiceAccount", "aggregator"),
        ("ServiceMonitor", "aggregator"),
    ])
    assert not [obj for obj in rendered if obj["kind"] == "Secret"], "secrets never in git"


def test_core_objects_are_valid_for_kubernetes(rendered: list[Manifest]) -> None:
    kubernetes_validate = require_module("kubernetes_validate")
    errors = []
    for obj in rendered:
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_every_object_lives_in_the_overlay_namespace(rendered: list[Manifest]) -> None:
    for obj in rendered:
        meta = obj["metadata"]
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in meta, obj["kind"]
        else:
            assert meta.get("namespace") == NAMESPACE, f"{obj['kind']}/{meta['name']}"
        assert meta["labels"]["app.kubernetes.io/name"] == "aggregator", obj["kind"]
    namespace = find(rendered, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- Prometheus Operator objects: the CRD fields (v0.80) of the parts used -----------------

_DURATION = {"type": "string",
             "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
                        r"(([0-9]+)s)?(([0-9]+)ms)?)$"}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_SELECTOR = {"type": "object", "additionalProperties": False,
             "properties": {"matchLabels": _LABELS, "matchExpressions": {"type": "array"}}}
_SECRET_KEY = {"type": "object", "additionalProperties": False, "required": ["key"],
               "properties": {"key": {"type": "string"}, "name": {"type": "string"},
                              "optional": {"type": "boolean"}}}
_METADATA = {"type": "object", "required": ["name", "namespace"],
             "properties": {"name": {"type": "string", "minLength": 1},
                            "namespace": {"type": "string"}, "labels": _LABELS,
                            "annotations": _LABELS}}


def _closed(properties: dict[str, Any], required: list[str] | None = None,
            **known: Any) -> dict[str, Any]:
    """An object with exactly the CRD's field names; ``known`` details some of them."""
    return {"type": "object", "additionalProperties": False, "required": required or [],
            "properties": {name: known.get(name, {}) for name in properties}}


SERVICE_MONITOR = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _METADATA,
        "spec": _closed(
            ["attachMetadata", "bodySizeLimit", "endpoints", "fallbackScrapeProtocol",
             "jobLabel", "keepDroppedTargets", "labelLimit", "labelNameLengthLimit",
             "labelValueLengthLimit", "namespaceSelector", "nativeHistogramBucketLimit",
             "nativeHistogramMinBucketFactor", "podTargetLabels", "sampleLimit",
             "scrapeClass", "scrapeClassicHistograms", "scrapeProtocols", "selector",
             "selectorMechanism", "targetLabels", "targetLimit"],
            required=["selector", "endpoints"],
            selector=_SELECTOR,
            endpoints={"type": "array", "minItems": 1, "items": _closed(
                ["authorization", "basicAuth", "bearerTokenFile", "bearerTokenSecret",
                 "enableHttp2", "filterRunning", "followRedirects", "honorLabels",
                 "honorTimestamps", "interval", "metricRelabelings", "oauth2", "params",
                 "path", "port", "proxyUrl", "relabelings", "scheme", "scrapeTimeout",
                 "targetPort", "tlsConfig", "trackTimestampsStaleness"],
                port={"type": "string"}, path={"type": "string", "pattern": "^/"},
                scheme={"enum": ["http", "https"]}, interval=_DURATION,
                scrapeTimeout=_DURATION)},
        ),
    },
}

_ROUTE = _closed(
    ["activeTimeIntervals", "continue", "groupBy", "groupInterval", "groupWait", "matchers",
     "muteTimeIntervals", "receiver", "repeatInterval", "routes"],
    receiver={"type": "string"}, groupBy={"type": "array", "items": {"type": "string"}},
    groupWait=_DURATION, groupInterval=_DURATION, repeatInterval=_DURATION,
    matchers={"type": "array"}, routes={"type": "array"}, **{"continue": {"type": "boolean"}},
)
_WEBHOOK = _closed(
    ["httpConfig", "maxAlerts", "sendResolved", "url", "urlSecret"],
    url={"type": "string", "pattern": "^https?://.+$"},
    maxAlerts={"type": "integer", "minimum": 0}, sendResolved={"type": "boolean"},
    httpConfig=_closed(
        ["authorization", "basicAuth", "bearerTokenSecret", "followRedirects", "noProxy",
         "oauth2", "proxyConnectHeader", "proxyFromEnvironment", "proxyURL", "proxyUrl",
         "tlsConfig"],
        authorization=_closed(["credentials", "type"], credentials=_SECRET_KEY,
                              type={"type": "string"}),
    ),
)
ALERTMANAGER_CONFIG = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1alpha1"},
        "kind": {"const": "AlertmanagerConfig"},
        "metadata": _METADATA,
        "spec": _closed(
            ["inhibitRules", "muteTimeIntervals", "receivers", "route"],
            route=_ROUTE,
            receivers={"type": "array", "items": _closed(
                ["discordConfigs", "emailConfigs", "msteamsConfigs", "name", "opsgenieConfigs",
                 "pagerdutyConfigs", "pushoverConfigs", "slackConfigs", "snsConfigs",
                 "telegramConfigs", "victoropsConfigs", "webexConfigs", "webhookConfigs",
                 "wechatConfigs"],
                required=["name"], name={"type": "string", "minLength": 1},
                webhookConfigs={"type": "array", "items": _WEBHOOK})},
        ),
    },
}


@pytest.mark.parametrize(("kind", "schema"), [("ServiceMonitor", SERVICE_MONITOR),
                                              ("AlertmanagerConfig", ALERTMANAGER_CONFIG)])
def test_prometheus_operator_objects_fit_their_crds(
    rendered: list[Manifest], kind: str, schema: dict[str, Any]
) -> None:
    jsonschema = require_module("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = [f"{'.'.join(map(str, error.path))}: {error.message}" for error in
              jsonschema.Draft202012Validator(schema).iter_errors(find(rendered, kind))]
    assert not errors, "\n".join(errors)


def test_the_crd_check_refuses_what_the_operator_would(rendered: list[Manifest]) -> None:
    """The structural check is not a no-op: a misspelt field or a bad duration fails."""
    jsonschema = require_module("jsonschema")
    monitor = yaml.safe_load(yaml.safe_dump(find(rendered, "ServiceMonitor")))
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    config = yaml.safe_load(yaml.safe_dump(find(rendered, "AlertmanagerConfig")))
    config["spec"]["route"]["groupWait"] = "ten seconds"
    assert not jsonschema.Draft202012Validator(SERVICE_MONITOR).is_valid(monitor)
    assert not jsonschema.Draft202012Validator(ALERTMANAGER_CONFIG).is_valid(config)


# --- The Deployment ------------------------------------------------------------------------

def test_deployment_runs_two_hardened_replicas(rendered: list[Manifest]) -> None:
    deployment = find(rendered, "Deployment", "aggregator")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "aggregator"
    for container in _containers(deployment):
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, container["name"]
        assert security["allowPrivilegeEscalation"] is False, container["name"]
        assert security["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert security["runAsNonRoot"] is True, container["name"]
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["requests"].keys(), container["name"]
        assert {"cpu", "memory"} <= resources["limits"].keys(), container["name"]
        assert container["image"].startswith("example.azurecr.io/aggregator:"), container
        mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
        assert "/tmp" in mounts, "the only writable path with PostgreSQL"
        assert mounts["/etc/aggregator"]["readOnly"] is True
        assert mounts["/var/run/secrets/aggregator"]["readOnly"] is True
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes["tmp"]


def test_replicas_spread_over_nodes_and_zones(rendered: list[Manifest]) -> None:
    pod = find(rendered, "Deployment", "aggregator")["spec"]["template"]["spec"]
    spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["topology.kubernetes.io/zone"]["maxSkew"] == 1
    for constraint in spread.values():
        assert constraint["labelSelector"]["matchLabels"] == SERVER
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}


def test_probes_and_graceful_shutdown(rendered: list[Manifest]) -> None:
    deployment = find(rendered, "Deployment", "aggregator")
    pod = deployment["spec"]["template"]["spec"]
    server = _server(deployment)
    assert server["args"] == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert server["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert server["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert server["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    open_paths = {route.path for route in ROUTES if route.auth is None}
    assert {"/readyz", "/healthz", "/metrics"} <= open_paths, "probes and scrapes need no token"
    pre_stop = server["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    # The preStop sleep plus aiohttp's 20 s shutdown_timeout (aggregator.cli) fit in the grace.
    assert int(pre_stop[1]) + 20 < pod["terminationGracePeriodSeconds"] <= 60


def test_migrations_run_once_before_the_server(rendered: list[Manifest]) -> None:
    deployment = find(rendered, "Deployment", "aggregator")
    [migrate] = deployment["spec"]["template"]["spec"]["initContainers"]
    server = _server(deployment)
    assert migrate["args"] == ["migrate"]
    assert migrate["image"] == server["image"]
    assert migrate["env"] == server["env"], "the same database and settings"
    config = yaml.safe_load(find(rendered, "ConfigMap")["data"]["aggregator.yaml"])
    assert config["migrate_on_start"] is False, "the server must never migrate"
    env = {item["name"]: item for item in server["env"]}
    assert "AGGREGATOR_MIGRATE_ON_START" not in env


def test_selectors_pick_the_server_pods(rendered: list[Manifest]) -> None:
    deployment = find(rendered, "Deployment", "aggregator")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == SERVER
    assert SERVER.items() <= pod_labels.items()
    service = find(rendered, "Service", "aggregator")
    assert service["spec"]["selector"] == SERVER
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    pdb = find(rendered, "PodDisruptionBudget", "aggregator")
    assert pdb["spec"]["selector"]["matchLabels"] == SERVER
    assert pdb["spec"]["minAvailable"] == 1 < deployment["spec"]["replicas"]
    policy = find(rendered, "NetworkPolicy", "aggregator")
    assert policy["spec"]["podSelector"]["matchLabels"] == SERVER
    monitor = find(rendered, "ServiceMonitor", "aggregator")
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["http"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    for obj in (monitor, find(rendered, "AlertmanagerConfig")):
        assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"


# --- Secrets and settings ------------------------------------------------------------------

def _secret_references(rendered: list[Manifest]) -> set[tuple[str, str]]:
    refs = set()
    deployment = find(rendered, "Deployment", "aggregator")
    for container in _containers(deployment):
        for item in container.get("env", []):
            if ref := item.get("valueFrom", {}).get("secretKeyRef"):
                refs.add((ref["name"], ref["key"]))
    for volume in deployment["spec"]["template"]["spec"]["volumes"]:
        if secret := volume.get("secret"):
            refs |= {(secret["secretName"], item["key"]) for item in secret["items"]}
    credentials = find(rendered, "AlertmanagerConfig")["spec"]["receivers"][0][
        "webhookConfigs"][0]["httpConfig"]["authorization"]["credentials"]
    refs.add((credentials["name"], credentials["key"]))
    return refs


def test_secrets_are_referenced_and_documented(rendered: list[Manifest]) -> None:
    assert _secret_references(rendered) == {(SECRET, key) for key in SECRET_KEYS}
    readme = (DEPLOY / "README.md").read_text()
    for key in SECRET_KEYS:
        assert f"--from-literal={key}=" in readme, f"deploy/README.md: how to create {key}"
    for container in _containers(find(rendered, "Deployment", "aggregator")):
        # Every secret is a file (the database URL through database_url_file), none an
        # environment variable a crash dump or `kubectl describe` could show.
        assert not [item for item in container.get("env", []) if "valueFrom" in item]


def test_config_map_settings_load_with_the_service(
    rendered: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ConfigMap, the mounted secret files and the environment of the server container
    make valid settings that allow ``serve --host 0.0.0.0`` (every token group is set)."""
    deployment = find(rendered, "Deployment", "aggregator")
    server = _server(deployment)
    mounts = {mount["name"]: mount["mountPath"] for mount in server["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"][
        "volumes"]}
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()
    for index, item in enumerate(volumes["secrets"]["secret"]["items"]):
        (secret_dir / item["path"]).write_text(f"stand-in-secret-{index:02d}-0123456789\n")
    (secret_dir / "database-url").write_text(
        "postgresql+asyncpg://aggregator:pw@db.example.com/aggregator?ssl=require\n")
    config_map = find(rendered, "ConfigMap")
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    text = config_map["data"]["aggregator.yaml"]
    referenced = set(re.findall(r"_file: (\S+)", text))
    mounted = {f"{mounts['secrets']}/{item['path']}"
               for item in volumes["secrets"]["secret"]["items"]}
    assert referenced and referenced <= mounted, "every *_file names a mounted secret"
    config = tmp_path / "aggregator.yaml"
    config.write_text(text.replace(mounts["secrets"], str(secret_dir)))

    env = {item["name"]: item for item in server["env"]}
    assert env["AGGREGATOR_CONFIG"]["value"] == f"{mounts['config']}/aggregator.yaml"
    for name in [key for key in os.environ if key.startswith("AGGREGATOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AGGREGATOR_CONFIG", str(config))
    assert set(env) == {"AGGREGATOR_CONFIG"}

    settings = load_settings(host="0.0.0.0", port=8080)
    check_exposure(settings)  # raises if a token group were missing
    assert settings.database_url.startswith("postgresql+asyncpg://aggregator:pw@")
    assert settings.migrate_on_start is False
    assert settings.delivery.worker_in_serve is True
    assert {"oncall_pagerduty", "team_mail"} <= set(settings.notifications.channels)


def test_rbac_is_read_only_for_the_enrichment(rendered: list[Manifest]) -> None:
    role = find(rendered, "ClusterRole", "aggregator-enrichment")
    granted = {(resource, verb) for rule in role["rules"] for resource in rule["resources"]
               for verb in rule["verbs"]}
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])
    assert granted == {("pods", "get"), ("pods", "list"), ("events", "get"),
                       ("events", "list"), ("nodes", "get"), ("nodes", "list"),
                       ("pods/log", "get")}
    binding = find(rendered, "ClusterRoleBinding", "aggregator-enrichment")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": "aggregator-enrichment"}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "aggregator", "namespace": NAMESPACE}]
    assert find(rendered, "ServiceAccount")["automountServiceAccountToken"] is False


def test_network_policy_admits_monitoring_and_ingress_only(rendered: list[Manifest]) -> None:
    spec = find(rendered, "NetworkPolicy", "aggregator")["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    sources = [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
               for rule in spec["ingress"] for peer in rule["from"]]
    assert sources == ["monitoring", "app-routing-system"]
    assert all(rule["ports"] == [{"port": "http", "protocol": "TCP"}]
               for rule in spec["ingress"])
    egress_ports = {(port["port"], port["protocol"]) for rule in spec["egress"]
                    for port in rule["ports"]}
    assert {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (443, "TCP"), (587, "TCP")} <= egress_ports


# --- What reaches the service --------------------------------------------------------------

def _webhook_path(source: str) -> str:
    [route] = [r for r in ROUTES if r.auth == f"webhook:{source}"]
    return route.path


def _service_url(rendered: list[Manifest]) -> str:
    service = find(rendered, "Service", "aggregator")
    meta = service["metadata"]
    port = service["spec"]["ports"][0]["port"]
    return f"http://{meta['name']}.{meta['namespace']}.svc.cluster.local:{port}"


def test_alertmanager_config_sends_every_alert_with_the_token(
    rendered: list[Manifest]
) -> None:
    spec = find(rendered, "AlertmanagerConfig", "aggregator")["spec"]
    route = spec["route"]
    assert "matchers" not in route, "every alert"
    [receiver] = spec["receivers"]
    assert route["receiver"] == receiver["name"]
    [webhook] = receiver["webhookConfigs"]
    assert webhook["url"] == _service_url(rendered) + _webhook_path("alertmanager")
    assert webhook["sendResolved"] is True
    assert webhook["maxAlerts"] == 0
    authorization = webhook["httpConfig"]["authorization"]
    assert authorization["type"] == "Bearer"
    assert authorization["credentials"] == {"name": SECRET, "key": "alertmanager-token"}


def test_plain_alertmanager_snippet_matches(rendered: list[Manifest]) -> None:
    snippet = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yaml").read_text())
    first = snippet["route"]["routes"][0]
    assert first["receiver"] == "aggregator"
    assert first["continue"] is True, "the routes after it still see every alert"
    assert not {"matchers", "match", "match_re"} & first.keys(), "every alert"
    receivers = {receiver["name"]: receiver for receiver in snippet["receivers"]}
    [webhook] = receivers["aggregator"]["webhook_configs"]
    operator = find(rendered, "AlertmanagerConfig")["spec"]["receivers"][0][
        "webhookConfigs"][0]
    assert webhook["url"] == operator["url"]
    assert webhook["send_resolved"] is True
    assert webhook["max_alerts"] == 0
    authorization = webhook["http_config"]["authorization"]
    assert authorization["type"] == "Bearer"
    assert authorization.keys() & {"credentials", "credentials_file"}
    assert set(webhook) <= {"url", "url_file", "send_resolved", "max_alerts", "http_config",
                            "timeout"}


def test_ingress_publishes_only_the_azure_webhook_with_tls(rendered: list[Manifest]) -> None:
    spec = find(rendered, "Ingress", "aggregator")["spec"]
    assert spec["ingressClassName"] == "webapprouting.kubernetes.azure.com"
    [rule] = spec["rules"]
    [path] = rule["http"]["paths"]
    assert path["path"] == _webhook_path("azure_monitor")
    assert path["pathType"] == "Exact"
    assert path["backend"]["service"] == {"name": "aggregator", "port": {"name": "http"}}
    assert [rule["host"]] == spec["tls"][0]["hosts"], "the token is in the URL: TLS only"
    assert urlsplit(f"https://{rule['host']}").hostname == rule["host"]


def test_base_renders_on_its_own() -> None:
    objects = render(BASE)
    assert {obj["kind"] for obj in objects} >= {"Deployment", "Service", "ConfigMap"}
    assert not [obj for obj in objects if obj["kind"] in ("Namespace", "Ingress")]


# --- checkov ---------------------------------------------------------------------------------

def test_checkov_passes_on_the_rendered_overlay(
    rendered: list[Manifest], tmp_path: Path
) -> None:
    for index, obj in enumerate(rendered):
        name = f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        (tmp_path / name).write_text(yaml.safe_dump(obj, sort_keys=False))
    report = checkov("--directory", tmp_path, "kubernetes")
    results = report["results"]
    failed = [f"{check['check_id']} {check['check_name']}: {check['resource']}"
              for check in results["failed_checks"]]
    assert not failed, "checkov findings:\n" + "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] >= len(rendered)
    skipped = {check["check_id"]: check["check_result"].get("suppress_comment", "")
               for check in results["skipped_checks"]}
    assert set(skipped) == CHECKOV_SKIPS, "a new skip needs its reason here and in the README"
    assert all(len(reason) > 40 for reason in skipped.values()), skipped
    passed = {check["check_id"] for check in results["passed_checks"]}
    # A few that matter most, so a checkov that silently checks nothing cannot pass.
    assert {"CKV_K8S_22", "CKV_K8S_28", "CKV_K8S_37", "CKV_K8S_8", "CKV_K8S_9"} <= passed
