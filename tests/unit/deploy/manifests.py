"""What the deployment tests read: the manifests as files and as the overlays render them, kustomize,
KEDA's CRD schemas, and which settings each of our containers knows.

kustomize is the real one, built from the Go module proxy on first use and cached under
.local/cache/bin (`go install`, as its maintainers document); nothing is rendered by hand here.
"""

from __future__ import annotations

import copy
import fcntl
import importlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from shared.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
COMPOSE = REPO / "deploy" / "compose.yaml"

# The Kubernetes release the manifests are written for: KEDA 2.18 supports 1.31 to 1.33.
KUBERNETES_VERSION = "1.33.0"
# v5.8 needs Go 1.27; v5.7.1 builds with the Go here and renders what kubectl 1.33 would.
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.7.1"
BIN_CACHE = REPO / ".local" / "cache" / "bin"

KEDA_SCHEMAS = Path(__file__).parent / "keda"  # vendored from kedacore/keda v2.18.0 (see its README.md)

# The services that run as `python -m services.<name> serve`, and our one image's name in the manifests.
SERVICES = ("ingest", "evidence", "deadline", "notify", "submit", "portal_sim")
IMAGE = "dispute-desk"

# The S3 blob store's settings of evidence and submit (shared/settings.py BlobStoreSettings).
BLOB_FIELDS = (
    "blob_store",
    "blob_s3_bucket",
    "blob_s3_prefix",
    "blob_s3_endpoint_url",
    "blob_s3_region",
    "blob_s3_access_key_id",
    "blob_s3_secret_access_key",
    "blob_s3_allow_http",
)


# --------------------------------------------------------------------------- kustomize


def kustomize() -> Path:
    """The kustomize binary, `go install`ed into .local/cache/bin on first use (once, under a lock)."""
    exe = BIN_CACHE / f"kustomize-{KUSTOMIZE_VERSION}"
    if exe.exists():
        return exe
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(
            f"kustomize {KUSTOMIZE_VERSION} is not in {BIN_CACHE} and Go is not installed to build it: "
            f"install Go, or put a kustomize {KUSTOMIZE_VERSION} binary at {exe}"
        )
    BIN_CACHE.mkdir(parents=True, exist_ok=True)
    with open(BIN_CACHE / ".kustomize.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not exe.exists():
            with tempfile.TemporaryDirectory(dir=BIN_CACHE) as gobin:
                subprocess.run(
                    [go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
                    env={**os.environ, "GOBIN": gobin, "GOFLAGS": "-buildvcs=false"},
                    check=True,
                    capture_output=True,
                    timeout=900,
                )
                os.replace(Path(gobin) / "kustomize", exe)
    return exe


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """`kustomize build deploy/k8s/overlays/<overlay>`, as documents."""
    out = subprocess.run(
        [str(kustomize()), "build", str(K8S / "overlays" / overlay)], check=True, capture_output=True, text=True
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def kustomize_version() -> str:
    return subprocess.run([str(kustomize()), "version"], check=True, capture_output=True, text=True).stdout.strip()


# --------------------------------------------------------------------------- files


def manifest_files() -> list[Path]:
    """Every resource file under deploy/k8s: not kustomization.yaml, not the JSON patches (lists of ops)."""
    files = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        if docs and all(isinstance(d, dict) and "kind" in d for d in docs):
            files.append(path)
    return files


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def by_kind(docs: tuple[dict[str, Any], ...] | list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


# --------------------------------------------------------------------------- KEDA


@cache
def keda_schema(kind: str) -> dict[str, Any]:
    """The CRD's openAPIV3Schema (v1alpha1), made strict: an object's properties are all there is.

    Kubernetes prunes unknown fields of a structural schema silently, so a misspelt
    `maxReplicas` would be dropped, not refused; here it fails."""
    file = {
        "ScaledObject": "keda.sh_scaledobjects.yaml",
        "TriggerAuthentication": "keda.sh_triggerauthentications.yaml",
    }
    crd = yaml.safe_load((KEDA_SCHEMAS / file[kind]).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    _close_objects(schema)
    # apiVersion, kind and metadata are Kubernetes', checked below by the caller.
    return schema


def _close_objects(schema: Any) -> None:
    if isinstance(schema, dict):
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        for value in schema.values():
            _close_objects(value)
    elif isinstance(schema, list):
        for value in schema:
            _close_objects(value)


# The Kafka scaler's parameters in KEDA v2.18.0 (pkg/scalers/kafka_scaler.go: TriggerMetadata[...] and
# AuthParams[...]); the trigger's metadata is a free map in the CRD, so a misspelt key would be ignored.
KAFKA_TRIGGER_METADATA = frozenset(
    "activationLagThreshold allowIdleConsumers awsRegion bootstrapServers bootstrapServersFromEnv consumerGroup "
    "consumerGroupFromEnv ensureEvenDistributionOfPartitions excludePersistentLag lagThreshold "
    "limitToPartitionsWithLag offsetResetPolicy partitionLimitation sasl saslTokenProvider "
    "scaleToZeroOnInvalidOffset tls topic topicFromEnv unsafeSsl version".split()
)
KAFKA_AUTH_PARAMETERS = frozenset(
    "ca cert kerberosConfig kerberosDisableFAST kerberosServiceName key keyPassword keytab oauthExtensions "
    "oauthTokenEndpointUri password realm sasl saslTokenProvider scopes tls username".split()
)


# --------------------------------------------------------------------------- settings


def settings_class(service: str) -> type[ServiceSettings]:
    cls: type[ServiceSettings] = importlib.import_module(f"services.{service}.settings").Settings
    return cls


def known_variables(settings_cls: type[ServiceSettings]) -> set[str]:
    """Every environment variable these settings read: DD_<SERVICE>_<FIELD> and DD_<FIELD>."""
    prefix = f"DD_{settings_cls.service.upper()}_"
    return {p + field.upper() for field in settings_cls.model_fields for p in (prefix, "DD_")}


def settings_of_command(command: list[str]) -> list[type[ServiceSettings]]:
    """Whose settings a container's command reads: a service, the init Job's bootstrap (and the
    migrations it runs as subprocesses, each reading its service's variables), or `dd`."""
    if command[:2] == ["python", "-m"] and command[2].startswith("services."):
        return [settings_class(command[2].removeprefix("services."))]
    if command[:3] == ["python", "-m", "deploy.bootstrap"]:
        from deploy.bootstrap import BootstrapSettings
        from deploy.local.system import MIGRATED

        return [BootstrapSettings, *map(settings_class, MIGRATED)]
    if command[:1] == ["dd"]:
        from shared.cli import CliSettings

        return [CliSettings]
    raise AssertionError(f"a command of our image that is none of ours: {command}")


def topics_partitions(command: list[str]) -> int:
    """The partition count of a `dd topics` command (its default when not given)."""
    assert command[:2] == ["dd", "topics"], command
    match = re.search(r"--partitions[= ](\d+)", " ".join(command))
    if match:
        return int(match.group(1))
    from shared.cli import topics

    default = topics.__defaults__[0]  # type: ignore[index]
    return int(default)


def our_containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The containers (init ones too) of a workload that run our image."""
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        if container["image"].split(":")[0].rsplit("/", 1)[-1] == IMAGE:
            yield container
