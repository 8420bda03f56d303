"""Shared helpers of the chart checks: finding the tools, rendering the chart, walking rendered objects.

Tools are never optional: a missing helm or kubeconform fails the test that needs it.
"""

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
CHART = REPO_ROOT / "charts" / "parkbase"
VALUES_DIR = HERE / "values"
INVALID_DIR = HERE / "invalid"

# A $ref that is neither local to the file nor to the _definitions.json beside it.
FOREIGN_REF = re.compile(r'"\$ref": "(?!#|_definitions\.json#)[^"]*"')

# Every service the chart knows, in the order of templates/_helpers.tpl.
SERVICES = ("tenant", "device", "telemetry", "marketplace")
RELEASE = "pb"
NAMESPACE = "parkbase"

# The binaries' flags (the contract in docs/operations.md); each is also read from PARKBASE_<NAME>. A PARKBASE_*
# variable outside this list makes a binary refuse to start, so the chart must set no other.
SERVER_FLAGS = frozenset({
    "listen", "health_listen", "metrics_listen", "database_url", "redis_url", "park_code", "tls_cert_file",
    "tls_key_file", "page_token_secret", "db_pool_size", "statement_timeout_ms", "drain_seconds",
    "max_message_bytes", "server_threads", "log_level", "telemetry_compaction_interval_ms",
    "telemetry_retention_interval_s", "max_streams", "max_streams_per_key", "max_streams_per_tenant",
    "stream_idle_timeout_s", "stream_max_age_s", "max_parsing_bytes", "bulk_statement_timeout_ms",
    "max_scan_bytes", "max_scan_points", "tls_client_ca_file", "trusted_proxies", "auth_failures_per_source",
    "auth_failures_per_key", "auth_failure_window_s", "marketplace_metering_interval_s", "http_listen",
    "otlp_traces_endpoint", "trace_sample_ratio",
})
# The flags of `parkbase gateway`, the REST/JSON entry.
GATEWAY_FLAGS = frozenset({
    "http_listen", "metrics_listen", "gateway_backends", "gateway_backend_ca_file", "log_level", "drain_seconds",
    "max_message_bytes", "http_max_body_bytes", "http_timeout_ms", "http_cors_origins", "http_threads",
    "trusted_proxies", "tls_cert_file", "tls_key_file", "console_dir", "otlp_traces_endpoint",
    "trace_sample_ratio",
})
# Flags every server gets from the server block: flag -> value key.
AUTH_LIMIT_FLAGS = {"auth_failures_per_source": "authFailuresPerSource",
                    "auth_failures_per_key": "authFailuresPerKey",
                    "auth_failure_window_s": "authFailureWindowSeconds"}
# Flags only the telemetry Deployment gets, from telemetryMaintenance: flag -> value key.
TELEMETRY_FLAGS = {"telemetry_compaction_interval_ms": "compactionIntervalMs",
                   "telemetry_retention_interval_s": "retentionIntervalSeconds"}
# Flags only the marketplace Deployment gets, from marketplaceMetering: flag -> value key.
MARKETPLACE_FLAGS = {"marketplace_metering_interval_s": "intervalSeconds"}

try:
    import yaml
except ImportError as error:  # pragma: no cover - only without the venv
    raise SystemExit(
        "PyYAML is missing: run the chart checks with $PB_PYTHON (the venv scripts/test.sh makes)") from error


def default_values():
    """The chart's values.yaml."""
    return yaml.safe_load((CHART / "values.yaml").read_text())


def services_enabled_by_default():
    """The services a plain `helm install` deploys, in the chart's order."""
    values = default_values()
    return tuple(name for name in SERVICES if values[name]["enabled"])


def health_service_name(service):
    """The gRPC service a Parkbase service serves: marketplace -> parkbase.marketplace.v1.MarketplaceService."""
    return f"parkbase.{service}.v1.{service.capitalize()}Service"


def tool(name):
    """Absolute path of a required tool on PATH; fails (never skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        raise AssertionError(
            f"{name} not found on PATH: run scripts/install-tools.sh and put ~/go/bin on PATH")
    return path


def run(args, check=True, **kwargs):
    """Runs a command, capturing text output; with check, a non-zero exit raises with the output."""
    proc = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed ({proc.returncode}): {' '.join(map(str, args))}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


@functools.cache
def kubernetes_version():
    """The newest Kubernetes release whose schemas kubernetes-validate ships, e.g. '1.37.0'."""
    import kubernetes_validate.utils as kv_utils
    return kv_utils.latest_version()


def helm_values_args(values_files=(), set_values=()):
    # The chart's kubeVersion refuses a Kubernetes older than it supports, and without a cluster Helm assumes the
    # version it was built against (v1.20.0 when built without it), so every render names the version checked.
    args = ["--kube-version", kubernetes_version()]
    for path in values_files:
        args += ["--values", str(path)]
    for item in set_values:
        args += ["--set", item]
    return args


def helm_template(values_files=(), set_values=(), check=True, extra=()):
    return run([tool("helm"), "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                *helm_values_args(values_files, set_values), *extra], check=check)


def helm_lint(values_files=(), set_values=(), check=True):
    return run([tool("helm"), "lint", "--strict", str(CHART), "--namespace", NAMESPACE,
                *helm_values_args(values_files, set_values)], check=check)


def render(values_files=(), set_values=()):
    """The chart's objects (hooks and the test Pod included) as a list of dicts."""
    text = helm_template(values_files, set_values).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


# A template added to a copy of the chart by render_notes: NOTES.txt is a template of the chart like any other (Helm
# parses every file under templates/ into one set, named <chart>/templates/<file>), so including it renders exactly
# what `helm install` prints after "NOTES:".
NOTES_PROBE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: rendered-notes
data:
  notes: {{ include "parkbase/templates/NOTES.txt" . | toJson }}
"""


def render_notes(values_files=(), set_values=()):
    """The NOTES.txt text `helm install` would print with these values.

    `helm install --dry-run` needs a reachable cluster even with --dry-run=client (helm/helm#13144) and `helm
    template` leaves NOTES.txt out, so this renders a copy of the chart with one extra template that includes it.
    """
    copy = Path(tempfile.mkdtemp(dir=work_dir(), prefix="notes-")) / CHART.name
    try:
        shutil.copytree(CHART, copy)
        (copy / "templates" / "zz-rendered-notes.yaml").write_text(NOTES_PROBE)
        text = run([tool("helm"), "template", RELEASE, str(copy), "--namespace", NAMESPACE,
                    "--show-only", "templates/zz-rendered-notes.yaml",
                    *helm_values_args(values_files, set_values)]).stdout
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)
    return yaml.safe_load(text)["data"]["notes"]


def values_sets():
    """(name, path) of every values file the chart is checked with; 'default' has no file."""
    return [("default", None)] + [(path.stem, path) for path in sorted(VALUES_DIR.glob("*.yaml"))]


def by_kind(objects, kind):
    """The services' objects of a kind (the REST/JSON gateway's are gateway_objects')."""
    return [obj for obj in objects if obj["kind"] == kind and component_or_none(obj) != "gateway"]


def gateway_objects(objects, kind):
    """The REST/JSON gateway's objects of a kind."""
    return [obj for obj in objects if obj["kind"] == kind and component_or_none(obj) == "gateway"]


def component_or_none(obj):
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def pod_spec(obj):
    """The pod spec of a Deployment or Job, or the spec of a Pod."""
    if obj["kind"] == "Pod":
        return obj["spec"]
    return obj["spec"]["template"]["spec"]


def component(obj):
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def hook(obj):
    return obj["metadata"].get("annotations", {}).get("helm.sh/hook")


def build_dir():
    """The CMake build folder holding bin/: $PARKBASE_BUILD_DIR, else $PB_BUILD_DIR (scripts/test.sh), else
    $PB_CHART_BUILD_DIR (set by tests/chart/CMakeLists.txt), else build/ in the repository."""
    for variable in ("PARKBASE_BUILD_DIR", "PB_BUILD_DIR", "PB_CHART_BUILD_DIR"):
        if os.environ.get(variable):
            return Path(os.environ[variable])
    return REPO_ROOT / "build"


def work_dir():
    """A folder for files the checks make: $PB_CHART_WORK_DIR (CTest's binary dir) or a temporary one."""
    path = Path(os.environ.get("PB_CHART_WORK_DIR") or Path(tempfile.gettempdir()) / "parkbase-chart-checks")
    path.mkdir(parents=True, exist_ok=True)
    return path


def kubeconform_schema_dir():
    """Kubernetes JSON schemas from the kubernetes-validate package, laid out for kubeconform's -schema-location.

    kubernetes-validate ships '<version>-local-strict/<kind>-<group>-<version>.json' files whose $refs point at
    'https://kubernetes.io/api/_definitions.json' through their $id; kubeconform would fetch that over the network.
    Here each schema loses its $id and refers to the _definitions.json beside it, so everything resolves from disk.
    Returns (folder, version); the folder holds 'v<version>-standalone-strict/'. Made once, atomically.
    """
    import kubernetes_validate
    version = kubernetes_version()
    package_dir = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    source = package_dir / f"v{version}-local-strict"
    root = work_dir() / f"kubernetes-schemas-{kubernetes_validate.__version__}"
    target = root / f"v{version}-standalone-strict"
    if target.is_dir():
        return root, version
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-"))
    remote_definitions = "/api/_definitions.json#"
    for schema_file in source.glob("*.json"):
        if schema_file.name == "all.json":
            continue
        schema = json.loads(schema_file.read_text())
        schema.pop("$id", None)
        text = json.dumps(schema).replace(f'"{remote_definitions}', '"_definitions.json#')
        foreign = FOREIGN_REF.search(text)
        if foreign:
            raise AssertionError(f"{schema_file.name}: unexpected reference {foreign.group(0)} (did the package change?)")
        (staging / schema_file.name).write_text(text)
    try:
        staging.rename(target)
    except OSError:
        # Another check made it first.
        shutil.rmtree(staging, ignore_errors=True)
    return root, version
