"""deploy/kubernetes, rendered offline and checked: every overlay renders (devstack.kustomize,
and the same as `kubectl kustomize` where kubectl exists), every object is valid against the
Kubernetes 1.30 schemas in strict mode (kubernetes-validate bundles them), and the rendered
objects keep the promises of docs/kubernetes.md: hardened containers with probes and limits,
only the gateway exposed, NetworkPolicies for every port, every reference resolving, the
compose images, autoscalers and disruption budgets, the Redis Cluster's shape."""

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from devstack import kustomize

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "deploy" / "kubernetes"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.30.0"
SERVICES = ("gateway", "auth-service", "user-service")
# Secrets made outside kustomize, by name, with why (docs/kubernetes.md, "Secrets").
EXTERNAL_SECRETS = {
    "dev": {"authstack-jwt-keys"},  # kubectl create secret --from-file; rotated in place
    # + CloudNativePG's application login and the Ingress certificate (cert-manager)
    "prod": {"authstack-jwt-keys", "authstack-db-app", "authstack-tls"},
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "CronJob")

Obj = dict[str, Any]


def _tree_with_example_secrets(destination: Path) -> Path:
    """A copy of deploy/kubernetes whose secrets/*.env are the committed examples (never a
    checkout's own secrets, which .gitignore keeps out of git)."""
    tree = destination / "kubernetes"
    shutil.copytree(MANIFESTS, tree, ignore=shutil.ignore_patterns("*.env", "jwt-keys"))
    for example in tree.glob("*/secrets/*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    return tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tree_with_example_secrets(tmp_path_factory.mktemp("k8s"))


@pytest.fixture(scope="module")
def rendered(tree: Path) -> dict[str, list[Obj]]:
    return {overlay: kustomize.render(tree / overlay) for overlay in OVERLAYS}


def _named(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _pod_template(workload: Obj) -> Obj:
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]  # type: ignore[no-any-return]
    return workload["spec"]["template"]  # type: ignore[no-any-return]


def _workloads(objects: list[Obj]) -> Iterator[Obj]:
    return (o for o in objects if o["kind"] in WORKLOAD_KINDS)


def _containers(pod_spec: Obj) -> list[Obj]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", {})
    return all(labels.get(k) == v for k, v in wanted.items())


def _generated_name(objects: list[Obj], kind: str, base_name: str) -> str:
    """The hashed name kustomize gave a generated ConfigMap/Secret."""
    names = [n for n in _named(objects, kind) if re.fullmatch(rf"{base_name}-[a-z0-9]{{10}}", n)]
    assert len(names) == 1, (kind, base_name, names)
    return names[0]


# --- rendering and schemas ---------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_kubernetes_1_30_in_strict_mode(
        rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    assert len(objects) > 20
    for obj in objects:
        # Strict: an unknown or misspelt field is an error, not silently dropped.
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_renderer_agrees_with_kubectl_kustomize_when_kubectl_is_there(
        tree: Path, rendered: dict[str, list[Obj]]) -> None:
    def keyed(objects: list[Obj]) -> dict[tuple[str, str, str], Obj]:
        return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
                for o in objects}

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        # CI machines without kubectl: the renderer's own output is all there is; it must at
        # least be the same from one run to the next (the hashed names depend on it).
        for overlay in OVERLAYS:
            assert keyed(kustomize.render(tree / overlay)) == keyed(rendered[overlay])
        return
    for overlay in OVERLAYS:
        out = subprocess.run([kubectl, "kustomize", str(tree / overlay)], check=True,
                             capture_output=True, text=True, timeout=120).stdout
        theirs = keyed([doc for doc in yaml.safe_load_all(out) if doc])
        ours = keyed(rendered[overlay])
        assert sorted(ours) == sorted(theirs), overlay
        for key, obj in ours.items():
            assert obj == theirs[key], (overlay, key)


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "resources: []\nreplicas:\n- name: x\n  count: 2\n")
    with pytest.raises(kustomize.KustomizeError, match="replicas"):
        kustomize.render(tmp_path)


def test_the_scripts_are_valid_shell() -> None:
    for script in (MANIFESTS / "base" / "scripts").glob("*.sh"):
        subprocess.run(["sh", "-n", str(script)], check=True)
    subprocess.run(["sh", "-n", str(MANIFESTS / "new-secrets.sh")], check=True)


# --- containers --------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_non_root_read_only_unprivileged_with_limits(
        rendered: dict[str, list[Obj]], overlay: str) -> None:
    for workload in _workloads(rendered[overlay]):
        where = f"{overlay} {workload['kind']}/{workload['metadata']['name']}"
        pod = _pod_template(workload)["spec"]
        assert pod["automountServiceAccountToken"] is False, where
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, where
        # Numeric: the kubelet cannot check a user name (the Redis and PostgreSQL images
        # have one) against runAsNonRoot.
        assert isinstance(security["runAsUser"], int), where
        assert security["runAsUser"] > 0, where
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in _containers(pod):
            at = f"{where} container {container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, at
            assert context["readOnlyRootFilesystem"] is True, at
            assert context["capabilities"] == {"drop": ["ALL"]}, at
            for bound in ("requests", "limits"):
                resources = container["resources"][bound]
                assert set(resources) == {"cpu", "memory"}, at
                # The schema takes any string; a quantity is a number with a unit.
                assert re.fullmatch(r"\d+m?", str(resources["cpu"])), at
                assert re.fullmatch(r"\d+(Mi|Gi)", resources["memory"]), at


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_long_running_container_has_readiness_and_liveness_probes(
        rendered: dict[str, list[Obj]], overlay: str) -> None:
    for workload in rendered[overlay]:
        if workload["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in _pod_template(workload)["spec"]["containers"]:
            assert "readinessProbe" in container, (overlay, workload["metadata"]["name"])
            assert "livenessProbe" in container, (overlay, workload["metadata"]["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_are_probed_on_their_health_endpoints_and_ports_match_their_settings(
        rendered: dict[str, list[Obj]], overlay: str) -> None:
    deployments = _named(rendered[overlay], "Deployment")
    for name in SERVICES:
        template = _pod_template(deployments[name])
        container = next(c for c in template["spec"]["containers"] if c["name"] == name)
        assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["PORT"] == str(ports["http"])
        assert env["METRICS_PORT"] == str(ports["metrics"])
        assert ports["metrics"] in (9100, 9101, 9102)
        # Scraped at the metrics listener, which no Service and no Ingress exposes.
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(ports["metrics"])
        assert annotations["prometheus.io/path"] == "/metrics"
        if name == "user-service":
            assert env["INTERNAL_PORT"] == str(ports["internal"]) == "8003"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_dependent_variable_is_defined_before_its_use(
        rendered: dict[str, list[Obj]], overlay: str) -> None:
    config_maps = _named(rendered[overlay], "ConfigMap")
    for workload in _workloads(rendered[overlay]):
        for container in _containers(_pod_template(workload)["spec"]):
            defined: set[str] = set()
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    defined |= set(config_maps[source["configMapRef"]["name"]]["data"])
            for value in container.get("args", []):
                for used in re.findall(r"\$\((\w+)\)", value):
                    assert used in {e["name"] for e in container.get("env", [])}, used
            for entry in container.get("env", []):
                for used in re.findall(r"\$\((\w+)\)", entry.get("value", "")):
                    assert used in defined, (workload["metadata"]["name"], entry["name"], used)
                defined.add(entry["name"])


# --- exposure and network policies ------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_is_exposed(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    for service in _named(objects, "Service").values():
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]
    for pod in (_pod_template(w)["spec"] for w in _workloads(objects)):
        assert not pod.get("hostNetwork")
        for container in _containers(pod):
            assert all("hostPort" not in p for p in container.get("ports", []))
    ingresses = list(_named(objects, "Ingress").values())
    assert [i["metadata"]["name"] for i in ingresses] == ["gateway"]
    backends = [path["backend"] for rule in ingresses[0]["spec"]["rules"]
                for path in rule["http"]["paths"]]
    assert backends
    assert all(b == {"service": {"name": "gateway", "port": {"name": "http"}}}
                            for b in backends)
    assert not any(o["kind"] in ("HTTPRoute", "GRPCRoute", "TCPRoute") for o in objects)


def _policies_for(objects: list[Obj], labels: dict[str, str]) -> list[Obj]:
    return [p for p in _named(objects, "NetworkPolicy").values()
            if p["spec"]["podSelector"] and _selects(p["spec"]["podSelector"], labels)]


def _rules_for_port(policies: list[Obj], port_name: str, number: int) -> list[Obj]:
    return [rule for policy in policies for rule in policy["spec"].get("ingress", [])
            if any(p.get("port") in (port_name, number) for p in rule.get("ports", []))]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_is_denied_by_default_and_every_service_port_has_its_policy(
        rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    default = _named(objects, "NetworkPolicy")["default-deny-ingress"]["spec"]
    assert default == {"podSelector": {}, "policyTypes": ["Ingress"]}
    pods = {w["metadata"]["name"]: _pod_template(w) for w in _workloads(objects)}
    for service in _named(objects, "Service").values():
        selector = service["spec"]["selector"]
        backing = [t for t in pods.values() if _selects({"matchLabels": selector},
                                                        t["metadata"]["labels"])]
        assert backing, f"Service {service['metadata']['name']} selects no pods"
        for template in backing:
            policies = _policies_for(objects, template["metadata"]["labels"])
            ports = {p["name"]: p["containerPort"]
                     for c in template["spec"]["containers"] for p in c.get("ports", [])}
            for port in service["spec"]["ports"]:
                name = port["targetPort"]
                rules = _rules_for_port(policies, name, ports[name])
                where = f"{overlay}: {service['metadata']['name']}:{name}"
                assert rules, f"{where}: no NetworkPolicy admits it"
                open_to_all = [r for r in rules if not r.get("from")]
                if service["metadata"]["name"] == "gateway" and name == "http":
                    assert open_to_all  # the one port outside traffic reaches
                else:
                    assert not open_to_all, f"{where}: open to all"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_auth_service_reaches_the_user_services_internal_api(
        rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    template = _pod_template(_named(objects, "Deployment")["user-service"])
    rules = _rules_for_port(_policies_for(objects, template["metadata"]["labels"]),
                            "internal", 8003)
    assert [r["from"] for r in rules] == [
        [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "auth-service"}}}]]
    auth = _pod_template(_named(objects, "Deployment")["auth-service"])["spec"]["containers"][0]
    assert {"name": "USER_SERVICE_URL", "value": "http://user-service:8003"} in auth["env"]
    gateway = _pod_template(_named(objects, "Deployment")["gateway"])["spec"]["containers"][0]
    assert {"name": "USER_SERVICE_URL", "value": "http://user-service:8002"} in gateway["env"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_metrics_ports_admit_only_the_monitoring_namespace(
        rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    for name in SERVICES:
        labels = _pod_template(_named(objects, "Deployment")[name])["metadata"]["labels"]
        rules = _rules_for_port(_policies_for(objects, labels), "metrics", 0)
        assert [r["from"] for r in rules] == [[{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "monitoring"}}}]]


# --- references and images ---------------------------------------------------------------------

def _references(node: Any) -> Iterator[tuple[str, str, str | None, bool]]:
    """(kind, name, key or None, optional) of every ConfigMap/Secret reference below node."""
    if isinstance(node, dict):
        for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            if field in node:
                ref = node[field]
                yield kind, ref["name"], ref["key"], bool(ref.get("optional"))
        for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            if field in node:
                yield kind, node[field]["name"], None, bool(node[field].get("optional"))
        if isinstance(node.get("secret"), dict) and "secretName" in node["secret"]:
            yield "Secret", node["secret"]["secretName"], None, False
        if isinstance(node.get("configMap"), dict) and "name" in node["configMap"]:
            yield "ConfigMap", node["configMap"]["name"], None, False
        for field, value in node.items():
            if field not in ("secretKeyRef", "configMapKeyRef", "secretRef", "configMapRef"):
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_and_config_map_reference_resolves(
        rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    present = {kind: _named(objects, kind) for kind in ("Secret", "ConfigMap")}
    external_used = set()
    for obj in objects:
        if obj["kind"] in ("Secret", "ConfigMap"):
            continue
        for kind, name, key, optional in _references(obj):
            if kind == "Secret" and name in EXTERNAL_SECRETS[overlay]:
                external_used.add(name)
                continue
            where = f"{overlay}: {obj['metadata']['name']} needs {kind}/{name}"
            assert name in present[kind], where
            if key is not None and not optional:
                assert key in present[kind][name]["data"], f"{overlay}: {kind}/{name} has no {key}"
    for ingress in _named(objects, "Ingress").values():
        external_used |= {tls["secretName"] for tls in ingress["spec"].get("tls", [])}
    # Every Secret made outside kustomize is documented as such, and used.
    assert external_used == EXTERNAL_SECRETS[overlay]


def test_the_secret_values_are_never_committed() -> None:
    ignored = (MANIFESTS / ".gitignore").read_text().split()
    assert "*/secrets/*.env" in ignored
    assert "*/secrets/jwt-keys/" in ignored
    for example in MANIFESTS.glob("*/secrets/*.env.example"):
        assert "change-me" in example.read_text() or "AAAA" in example.read_text()


def _compose_images() -> set[str]:
    compose = yaml.safe_load((REPO / "deploy" / "compose.yml").read_text())
    images = {service["image"] for service in compose["services"].values() if "image" in service}
    return {image.split(":")[0] for image in images}  # the tag is ${IMAGE_TAG:-latest}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_the_compose_images(rendered: dict[str, list[Obj]], overlay: str) -> None:
    compose = _compose_images()
    used = {c["image"] for w in _workloads(rendered[overlay])
            for c in _containers(_pod_template(w)["spec"])}
    for image in used:
        name, _, tag = image.rpartition(":")
        assert tag, image
        if overlay == "dev":
            assert name in compose, image
            assert tag == "latest", image
        else:  # the same images under the registry's name, by release tag
            assert any(name.endswith(c.removeprefix("localhost")) for c in compose), image
            assert not name.startswith("localhost/"), image
            assert tag != "latest", image


# --- scaling and availability ------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscalers_for_the_three_services(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    hpas = _named(objects, "HorizontalPodAutoscaler")
    assert set(hpas) == set(SERVICES)
    deployments = _named(objects, "Deployment")
    for name, hpa in hpas.items():
        spec = hpa["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": name}
        assert 1 <= spec["minReplicas"] < spec["maxReplicas"]
        # The autoscaler owns the count: a replicas field would be reset on every apply.
        assert "replicas" not in deployments[name]["spec"]
        container = _pod_template(deployments[name])["spec"]["containers"][0]
        assert "cpu" in container["resources"]["requests"]  # what utilisation is measured by


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budgets_cover_the_services_and_redis(
        rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    budgets = _named(objects, "PodDisruptionBudget")
    assert set(SERVICES) | {"redis-cluster"} <= set(budgets)
    templates = [_pod_template(w) for w in _workloads(objects)]
    for budget in budgets.values():
        assert any(_selects(budget["spec"]["selector"], t["metadata"]["labels"])
                   for t in templates), budget["metadata"]["name"]
    # One Redis node at a time: never a master together with its replica.
    assert budgets["redis-cluster"]["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "redis-cluster"}}}
    for name in SERVICES:
        assert budgets[name]["spec"]["minAvailable"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_redis_cluster_statefulset(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    redis = _named(objects, "StatefulSet")["redis-cluster"]
    spec = redis["spec"]
    assert spec["replicas"] == 6
    assert spec["podManagementPolicy"] == "Parallel"
    headless = _named(objects, "Service")[spec["serviceName"]]["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    # Stable names, announced by the nodes and handed to clients.
    assert args[args.index("--cluster-announce-hostname") + 1] == (
        f"$(POD_NAME).{spec['serviceName']}.$(POD_NAMESPACE).svc")
    assert args[args.index("--cluster-preferred-endpoint-type") + 1] == "hostname"
    # AOF and nodes.conf on a volume per pod.
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["data"]
    anti = pod["affinity"]["podAntiAffinity"]
    if overlay == "prod":
        assert anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == (
            "kubernetes.io/hostname")
        assert "preferredDuringSchedulingIgnoredDuringExecution" not in anti
    else:
        assert anti["preferredDuringSchedulingIgnoredDuringExecution"]
    # The jobs' node count and the services' seed list agree with the StatefulSet.
    cluster_config = _named(objects, "ConfigMap")[_generated_name(objects, "ConfigMap",
                                                                  "redis-cluster")]["data"]
    assert cluster_config["REDIS_CLUSTER_SIZE"] == str(spec["replicas"])
    assert cluster_config["REDIS_STATEFULSET"] == "redis-cluster"
    assert cluster_config["REDIS_HEADLESS_SERVICE"] == spec["serviceName"]
    app_config = _named(objects, "ConfigMap")[_generated_name(objects, "ConfigMap",
                                                              "authstack-config")]["data"]
    seeds = app_config["REDIS_NODES"].split(",")
    assert seeds == [f"redis-cluster-{i}.{spec['serviceName']}:6379" for i in range(6)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_redis_cluster_jobs(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    init = _pod_template(_named(objects, "Job")["redis-cluster-init"])["spec"]["containers"][0]
    assert init["command"] == ["sh", "/scripts/with-cluster-nodes.sh"]
    assert init["args"] == ["redis-cluster-create"]
    cron = _named(objects, "CronJob")
    converge = _pod_template(cron["redis-cluster-converge"])["spec"]["containers"][0]
    assert converge["args"] == ["redis-cluster-create"]
    assert cron["redis-cluster-converge"]["spec"]["concurrencyPolicy"] == "Forbid"
    scale_out = cron["redis-cluster-scale-out"]
    assert scale_out["spec"]["suspend"] is True  # only ever run by hand
    container = _pod_template(scale_out)["spec"]["containers"][0]
    assert container["args"] == ["sh", "/scripts/scale-out.sh"]
    scripts = _named(objects, "ConfigMap")[_generated_name(objects, "ConfigMap",
                                                           "redis-cluster-scripts")]["data"]
    assert set(scripts) == {"with-cluster-nodes.sh", "scale-out.sh"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migrations_run_before_the_user_service_serves(
        rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    job = _pod_template(_named(objects, "Job")["authstack-migrate"])["spec"]["containers"][0]
    user = _pod_template(_named(objects, "Deployment")["user-service"])["spec"]
    assert job["args"] == ["migrate"]
    init = user["initContainers"]
    assert [c["args"] for c in init] == [["migrate"]]
    served = next(c for c in user["containers"] if c["name"] == "user-service")
    assert init[0]["image"] == job["image"] == served["image"]
    # The same database login as the server's.
    wanted = {"POSTGRES_USER", "POSTGRES_PASSWORD", "DATABASE_URL"}
    for container in (job, init[0], served):
        assert {e["name"]: e for e in container["env"] if e["name"] in wanted} == {
            e["name"]: e for e in served["env"] if e["name"] in wanted}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_database_per_overlay(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    config = _named(objects, "ConfigMap")[_generated_name(objects, "ConfigMap",
                                                          "authstack-config")]["data"]
    statefulsets = _named(objects, "StatefulSet")
    if overlay == "dev":
        assert "postgres" in statefulsets
        assert config["POSTGRES_HOST"] == "postgres"
    else:  # CloudNativePG's read-write Service; no database of ours
        assert "postgres" not in statefulsets
        assert config["POSTGRES_HOST"] == "authstack-db-rw"
