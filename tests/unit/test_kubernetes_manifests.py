"""deploy/kubernetes: valid for two Kubernetes versions (kubernetes-validate ships the
schemas, so this runs offline) and consistent with the server and with each other."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shim.config import ENVIRONMENT
from tests.support.paths import ROOT

pytestmark = pytest.mark.unit

MANIFESTS = ROOT / "deploy" / "kubernetes"
# The oldest and the newest release kubernetes-validate has schemas for, among those in use.
VERSIONS = ["1.29.0", "1.37.0"]


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


KUSTOMIZATION = _documents(MANIFESTS / "kustomization.yaml")[0]
RESOURCES = {
    doc["kind"]: doc for name in KUSTOMIZATION["resources"] for doc in _documents(MANIFESTS / name)
}
DEPLOYMENT = RESOURCES["Deployment"]
POD = DEPLOYMENT["spec"]["template"]
CONTAINER = POD["spec"]["containers"][0]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "path", sorted(p for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")
)
def test_every_manifest_validates_strictly(path: Path, version: str) -> None:
    for document in _documents(path):
        kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_validator_rejects_a_broken_deployment(version: str) -> None:
    broken = copy.deepcopy(DEPLOYMENT)
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pth"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


def test_the_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    listed = set(KUSTOMIZATION["resources"])
    present = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - {"secret.example.yaml"}
    (image,) = KUSTOMIZATION["images"]
    assert image["name"] == CONTAINER["image"]


def test_probes_use_the_servers_liveness_and_readiness_paths() -> None:
    assert CONTAINER["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert CONTAINER["startupProbe"]["httpGet"]["path"] == "/livez"
    assert CONTAINER["readinessProbe"]["httpGet"]["path"] == "/readyz"
    port_names = {port["name"] for port in CONTAINER["ports"]}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert CONTAINER[probe]["httpGet"]["port"] in port_names


def test_the_grace_period_covers_the_prestop_sleep_and_the_drain() -> None:
    settings = RESOURCES["ConfigMap"]["data"]
    (sleep,) = [int(word) for word in CONTAINER["lifecycle"]["preStop"]["exec"]["command"][1:]]
    grace = POD["spec"]["terminationGracePeriodSeconds"]
    assert grace > sleep + int(settings["SHIM_DRAIN_TIMEOUT"])


def test_the_pod_runs_as_the_images_non_root_user_on_a_read_only_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    (uid,) = set(re.findall(r"^USER (\d+):\d+$", dockerfile, re.MULTILINE))
    security = POD["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == int(uid)
    assert CONTAINER["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in CONTAINER["volumeMounts"]}
    assert "/tmp" in mounts  # the image user's HOME


def test_every_setting_is_one_the_server_reads() -> None:
    known = set(ENVIRONMENT.values()) | {"SHIM_CLIENT_KEYS", "SHIM_LOG_LEVEL", "SHIM_LOG_FORMAT"}
    names = set(RESOURCES["ConfigMap"]["data"]) | {env["name"] for env in CONTAINER["env"]}
    assert names <= known, names - known
    secret = _documents(MANIFESTS / "secret.example.yaml")[0]
    for env in CONTAINER["env"]:
        reference = env["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"]
        assert reference["key"] in secret["stringData"]


def test_service_pdb_and_autoscaler_point_at_the_deployments_pods() -> None:
    labels = POD["metadata"]["labels"]
    assert DEPLOYMENT["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert RESOURCES["Service"]["spec"]["selector"].items() <= labels.items()
    assert RESOURCES["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= (
        labels.items()
    )
    target = RESOURCES["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", DEPLOYMENT["metadata"]["name"])
    backend = RESOURCES["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == RESOURCES["Service"]["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in RESOURCES["Service"]["spec"]["ports"]}


def test_prometheus_scrapes_the_container_port() -> None:
    annotations = POD["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) in {
        p["containerPort"] for p in CONTAINER["ports"]
    }


# -- the optional capture component (deploy/kubernetes/capture) --------------------------------

CAPTURE = MANIFESTS / "capture"


def _with_captures() -> dict[str, Any]:
    """The Deployment with the component's patch applied (containers, env, mounts and volumes
    merge by name, as a strategic merge patch does)."""
    patch = _documents(CAPTURE / "deployment-patch.yaml")[0]
    merged = copy.deepcopy(DEPLOYMENT)
    pod, extra = merged["spec"]["template"]["spec"], patch["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == extra["containers"][0]["name"]]
    for field in ("env", "volumeMounts"):
        container[field] = container.get(field, []) + extra["containers"][0][field]
    pod["volumes"] = pod.get("volumes", []) + extra["volumes"]
    return merged


@pytest.mark.parametrize("version", VERSIONS)
def test_the_capture_component_validates_and_patches_the_deployment(version: str) -> None:
    component = _documents(CAPTURE / "kustomization.yaml")[0]
    assert component["kind"] == "Component"
    listed = set(component["resources"]) | {p["path"] for p in component["patches"]}
    assert listed == {p.name for p in CAPTURE.glob("*.yaml")} - {"kustomization.yaml"}
    for name in component["resources"]:
        for document in _documents(CAPTURE / name):
            kubernetes_validate.validate(document, version, strict=True)
    kubernetes_validate.validate(_with_captures(), version, strict=True)


def test_captures_go_to_the_shared_volume_with_settings_the_server_reads() -> None:
    container = _with_captures()["spec"]["template"]["spec"]["containers"][0]
    settings = {e["name"]: e.get("value") for e in container["env"]}
    assert set(settings) <= set(ENVIRONMENT.values()) | {"SHIM_CLIENT_KEYS"}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "captures"]
    assert Path(settings["SHIM_CAPTURE_DIR"]).parent == Path(mount["mountPath"])
    (claim,) = _documents(CAPTURE / "persistentvolumeclaim.yaml")
    volumes = _with_captures()["spec"]["template"]["spec"]["volumes"]
    (volume,) = [v for v in volumes if v["name"] == "captures"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
