"""deploy/ and the Dockerfile, checked as far as possible without a container engine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "carbon-gateway.json"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
GATEWAY_PORT = 8080


def load_yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def compose() -> dict[str, Any]:
    return load_yaml(DEPLOY / "docker-compose.yml")[0]


def k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in load_yaml(path):
            if doc.get("kind") != "Kustomization":
                objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    done = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_every_deploy_file_parses() -> None:
    files = sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml", ".json"})
    assert len(files) >= 14
    for path in files:
        if path.suffix == ".json":
            json.loads(path.read_text())
        else:
            assert load_yaml(path), f"{path} is empty"


def test_promtool_checks_rules_config_and_alert_unit_tests() -> None:
    assert "SUCCESS" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")
    # The rule unit tests prove the 80%/100% budget, error-rate, overhead and store alerts fire.
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def test_alert_rules_cover_what_ops_needs() -> None:
    groups = load_yaml(PROMETHEUS_DIR / "alerts.yml")[0]["groups"]
    alerts = {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}
    assert {"CarbonBudget80Percent", "CarbonBudgetExhausted", "GatewayHighErrorRate", "GatewayOverheadP99High",
            "CounterStoreDown"} <= set(alerts)  # fmt: skip
    for rule in alerts.values():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_dashboard_is_provisioned_against_the_provisioned_datasource() -> None:
    datasource = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")[0]
    uid = datasource["datasources"][0]["uid"]
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "carbon-gateway.yml")[0]
    dashboard_dir = provider["providers"][0]["options"]["path"]
    grafana = compose()["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"] if volume.startswith("./"))
    assert mounts["./grafana/dashboards"] == dashboard_dir
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboard_dir}/{DASHBOARD.name}"
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    titles = " | ".join(p["title"] for p in panels)
    for needed in ("by tenant", "by model", "per 1k tokens", "Energy", "Tokens", "Spend", "burn-down",
                   "Request duration", "overhead", "Error", "Rejections"):  # fmt: skip
        assert needed in titles, needed
    for panel in panels:
        assert panel["datasource"]["uid"] == uid
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert "carbon_gateway_" in target["expr"], panel["title"]


def test_compose_services_ports_and_persistence() -> None:
    services = compose()["services"]
    assert set(services) == {"gateway", "redis", "prometheus", "grafana"}
    gateway = services["gateway"]
    assert (
        DEPLOY / gateway["build"]["context"] / gateway["build"]["dockerfile"]
    ).resolve() == REPO / "Dockerfile"
    assert gateway["ports"] == [f"{GATEWAY_PORT}:{GATEWAY_PORT}"]
    assert gateway["command"][:2] == ["carbon-gateway", "serve"]
    assert gateway["command"][gateway["command"].index("--host") + 1] == "0.0.0.0"
    assert int(gateway["command"][gateway["command"].index("--port") + 1]) == GATEWAY_PORT
    assert gateway["environment"]["REDIS_URL"].startswith("redis://redis:6379")
    # Secrets only pass through from the operator's environment.
    for key in ("GATEWAY_MASTER_KEY", "GATEWAY_ADMIN_KEY", "SCW_SECRET_KEY"):
        assert re.fullmatch(r"\$\{" + key + r":-\}", gateway["environment"][key])
    redis = services["redis"]
    assert (
        "--appendonly" in redis["command"]
        and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    )
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    for service in services.values():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), image
        for volume in service.get("volumes", []):
            if volume.startswith("./"):
                assert (DEPLOY / volume.split(":")[0]).exists(), volume
    scrape = load_yaml(PROMETHEUS_DIR / "prometheus.yml")[0]["scrape_configs"]
    gateway_job = next(job for job in scrape if job["job_name"] == "carbon-gateway")
    assert gateway_job["static_configs"][0]["targets"] == [f"gateway:{GATEWAY_PORT}"]
    # The alert rules select job="carbon-gateway": the scrape job must carry that name.
    assert 'job="carbon-gateway"' in (PROMETHEUS_DIR / "alerts.yml").read_text()


def test_docker_compose_config_when_the_client_has_compose() -> None:
    docker = shutil.which("docker")
    version = subprocess.run([docker, "compose", "version"], capture_output=True) if docker else None
    if version is None or version.returncode != 0:
        # No compose plugin here: the structural test above is the check. Still prove the file
        # declares nothing compose would reject: only known top-level keys.
        assert set(compose()) <= {"name", "services", "volumes", "networks", "configs", "secrets"}
        return
    done = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_dockerfile_is_pinned_slim_non_root_with_healthcheck_and_no_secrets() -> None:
    steps = dockerfile_instructions()
    kinds = [kind for kind, _ in steps]
    base = next(arg for kind, arg in steps if kind == "FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base
    user = [arg for kind, arg in steps if kind == "USER"]
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert kinds.index("USER") > max(i for i, kind in enumerate(kinds) if kind == "RUN")
    healthcheck = next(arg for kind, arg in steps if kind == "HEALTHCHECK")
    assert f"127.0.0.1:{GATEWAY_PORT}/healthz" in healthcheck
    assert next(arg for kind, arg in steps if kind == "EXPOSE") == str(GATEWAY_PORT)
    copied = " ".join(arg for kind, arg in steps if kind == "COPY")
    for path in ("pyproject.toml", "README.md", "gateway/", "meters/", "config/"):
        assert path in copied
    assert any(kind == "RUN" and "pip install ." in arg for kind, arg in steps)
    env = " ".join(arg for kind, arg in steps if kind in {"ENV", "ARG"})
    assert "CARBON_GATEWAY_DATA=/app/config" in env
    assert "LITELLM_LOCAL_MODEL_COST_MAP=True" in env
    assert not re.search(r"(KEY|SECRET|TOKEN|PASSWORD)\w*=", env)
    command = json.loads(next(arg for kind, arg in steps if kind == "CMD"))
    assert command[:2] == ["carbon-gateway", "serve"] and command[command.index("--host") + 1] == "0.0.0.0"


def test_kubernetes_manifests_are_consistent() -> None:
    objects = k8s_objects()
    kinds = {kind for kind, _ in objects}
    assert {"Namespace", "Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler"} <= kinds
    kustomization = load_yaml(DEPLOY / "k8s" / "kustomization.yaml")[0]
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in (DEPLOY / "k8s").glob("*.yaml") if p.name != "kustomization.yaml" and ".example." not in p.name
    )
    deployment = objects[("Deployment", "carbon-gateway")]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    container = pod["spec"]["containers"][0]
    assert container["image"] == compose()["services"]["gateway"]["image"]
    assert container["ports"] == [{"name": "http", "containerPort": GATEWAY_PORT}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    assert "--uid 10001" in (REPO / "Dockerfile").read_text()
    env = {item["name"]: item["value"] for item in container["env"]}
    # REDIS_URL points at the external Redis Service, by its name and port.
    redis_service = objects[("Service", "redis")]
    assert redis_service["spec"]["type"] == "ExternalName"
    assert env["REDIS_URL"].startswith(f"redis://redis:{redis_service['spec']['ports'][0]['port']}")
    # The config file the gateway reads is the ConfigMap's key, mounted where the env says.
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    configmap = objects[("ConfigMap", "carbon-gateway-config")]
    assert env["CARBON_GATEWAY_CONFIG"] == f"{mount['mountPath']}/gateway.yaml"
    assert "gateway.yaml" in configmap["data"]
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith(
        next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "metrics")
    )
    secret = objects[("Secret", "carbon-gateway-secrets")]
    assert all(value == "" for value in secret["stringData"].values()), "no secret may be committed"
    assert container["envFrom"][0]["secretRef"]["name"] == "carbon-gateway-secrets"
    service = objects[("Service", "carbon-gateway")]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = objects[("HorizontalPodAutoscaler", "carbon-gateway")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "carbon-gateway"
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    # The HPA owns the replica count (a `replicas:` would reset it on every apply); the fail-open journal
    # goes to a writable volume of its own (the root filesystem is read-only).
    assert "replicas" not in deployment["spec"]
    state = next(m for m in container["volumeMounts"] if m["name"] == "state")
    assert env["CARBON_GATEWAY_STATE_DIR"] == state["mountPath"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_configmap_config_loads_with_the_gateway_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.config import load_config

    configmap = k8s_objects()[("ConfigMap", "carbon-gateway-config")]
    path = tmp_path / "gateway.yaml"
    path.write_text(configmap["data"]["gateway.yaml"])
    monkeypatch.setenv("SCW_SECRET_KEY", "test-not-a-key")
    config = load_config(path)
    assert {m.model_name for m in config.models} >= {"demo", "llama-3.1-8b-instruct"}
    assert config.observability.metrics_enabled


def test_dockerfile_build_context_is_enough_to_build_the_package(tmp_path: Path) -> None:
    """Build from exactly what the Dockerfile copies: no file the build needs is left out."""
    source = tmp_path / "app"
    source.mkdir()
    for kind, arg in dockerfile_instructions():
        if kind != "COPY":
            continue
        *sources, _destination = arg.split()
        for item in sources:
            path = REPO / item.rstrip("/")
            if path.is_dir():
                shutil.copytree(path, source / path.name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(path, source / path.name)
    # The PEP 517 backend the image's `pip install .` runs; an sdist needs no `wheel` package here.
    build = f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", build], cwd=source, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    sdist = tmp_path / done.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
        member = next(m for m in archive.getmembers() if m.name.endswith("egg-info/entry_points.txt"))
        entry_points = archive.extractfile(member)
        assert entry_points is not None
        scripts = entry_points.read().decode()
    assert {"gateway/cli.py", "gateway/observability/metrics.py", "meters/paths.py"} <= names
    assert "carbon-gateway = gateway.cli:main" in scripts
    # config/ is data beside the package, found through CARBON_GATEWAY_DATA=/app/config.
    assert (source / "config" / "gateway.yaml").is_file()


def test_kustomization_never_blanks_a_filled_in_secret() -> None:
    """Re-applying the kustomization must not overwrite the Secret the operator created: it ships none."""
    kustomization = load_yaml(DEPLOY / "k8s" / "kustomization.yaml")[0]
    for resource in kustomization["resources"]:
        for doc in load_yaml(DEPLOY / "k8s" / resource):
            assert doc["kind"] != "Secret", resource
    assert not kustomization.get("secretGenerator"), "a generator would replace the operator's Secret too"
    example = load_yaml(DEPLOY / "k8s" / "secret.example.yaml")[0]
    assert example["kind"] == "Secret" and example["metadata"]["name"] == "carbon-gateway-secrets"
    assert "kubectl -n carbon-gateway create secret generic carbon-gateway-secrets" in (
        DEPLOY / "k8s" / "secret.example.yaml"
    ).read_text()
    assert "kubectl -n carbon-gateway create secret" in (DEPLOY / "README.md").read_text()


def test_the_state_dir_is_a_writable_volume_under_a_read_only_root() -> None:
    deployment = k8s_objects()[("Deployment", "carbon-gateway")]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {item["name"]: item["value"] for item in container["env"]}
    state_dir = env["CARBON_GATEWAY_STATE_DIR"]
    mount = next(m for m in container["volumeMounts"] if state_dir.startswith(m["mountPath"]))
    assert not mount.get("readOnly", False)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert "emptyDir" in volume or "persistentVolumeClaim" in volume, volume
    # The image's own default agrees, and compose keeps it on a volume too.
    assert f"CARBON_GATEWAY_STATE_DIR={state_dir}" in " ".join(arg for kind, arg in dockerfile_instructions())
    gateway = compose()["services"]["gateway"]
    assert any(volume.endswith(f":{state_dir}") for volume in gateway["volumes"])


def test_anonymous_access_is_explicit_wherever_the_gateway_listens_beyond_loopback() -> None:
    """`serve --host 0.0.0.0` without a key refuses to start unless told: compose (a demo stack) says so, the
    Kubernetes pod gets its keys from the Secret instead."""
    gateway = compose()["services"]["gateway"]
    assert "--allow-anonymous" in gateway["command"] or gateway["environment"].get("CARBON_GATEWAY_ALLOW_ANONYMOUS")
    container = k8s_objects()[("Deployment", "carbon-gateway")]["spec"]["template"]["spec"]["containers"][0]
    assert "--allow-anonymous" not in container["args"]
    assert container["envFrom"][0]["secretRef"]["name"] == "carbon-gateway-secrets"
