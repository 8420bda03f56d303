#!/usr/bin/env bash
# Traces as an operator's collector sees them. `parkbase serve` and `parkbase gateway` export to a fake collector on
# loopback (tracing_collector.py, which decodes with PyPI's opentelemetry-proto), configured the two ways operators
# do: the flag, and OpenTelemetry's environment. Calls carry W3C traceparents over gRPC and over HTTP; each must
# leave a log line and an exported span with the caller's trace id, the gRPC span a child of the HTTP span, also
# across processes (gateway -> serve). Unsampled and malformed traceparents, a call without one, the resource,
# the collector's headers and the exporter's counters are checked too. Usage: tracing_e2e.sh BIN_DIR
set -euo pipefail
bin="$1"
: "${PARKBASE_TEST_PG_ADMIN_URL:?run through scripts/test.sh}"
: "${PARKBASE_TEST_REDIS_URL:?run through scripts/test.sh}"
export PATH="$HOME/go/bin:$PATH"
for tool in grpcurl curl psql redis-cli; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done
python="${PB_PYTHON:-python3}"
here="$(cd "$(dirname "$0")" && pwd)"

work="$(mktemp -d)"
log="$work/server.log"
gateway_log="$work/gateway.log"
spans="$work/spans.jsonl"
fail() {
  echo "FAIL: $*"
  echo "--- server log (last 20 lines)"; tail -20 "$log" 2>/dev/null || true
  echo "--- spans"; cat "$spans" 2>/dev/null || true
  exit 1
}
"$python" -c 'import opentelemetry.proto.collector.trace.v1.trace_service_pb2' 2>/dev/null ||
  fail "$python has no opentelemetry-proto (scripts/test.sh installs it in the venv)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hex() { python3 -c "import secrets; print(secrets.token_hex($1))"; }

admin_url="$PARKBASE_TEST_PG_ADMIN_URL"
base="${admin_url%/*}"
db="pbtracing_$$_$RANDOM"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" ]]; then
    mkdir -p "$PARKBASE_TEST_SECRETS_DIR/logs"
    cp "$log" "$PARKBASE_TEST_SECRETS_DIR/logs/e2e-tracing-$$.log" 2>/dev/null || true
    cp "$gateway_log" "$PARKBASE_TEST_SECRETS_DIR/logs/e2e-tracing-gateway-$$.log" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- The collector.
"$python" "$here/tracing_collector.py" "$work/collector_port" "$spans" &
pids+=($!)
for _ in $(seq 50); do [[ -s "$work/collector_port" ]] && break; sleep 0.1; done
[[ -s "$work/collector_port" ]] || fail "the fake collector did not start"
collector="http://127.0.0.1:$(cat "$work/collector_port")"

# --- `parkbase serve`, exporting by the flag; its resource and the collector's header from OTel's variables.
psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
owner_url="$base/$db"
service_url="${base/postgres@/parkbase_service@}/$db"
redis_url="${PARKBASE_TEST_REDIS_URL%/}/11"  # this script's Redis database (see api_doc_e2e.sh for the others)
"$bin/parkbase" migrate --database_url="$owner_url" >/dev/null 2>>"$log" || fail "migrate"
key="$("$bin/parkbase" admin bootstrap-key --database_url="$owner_url")" || fail "bootstrap-key"
[[ -n "${PARKBASE_TEST_SECRETS_DIR:-}" ]] && echo "$key" >>"$PARKBASE_TEST_SECRETS_DIR/secrets-e2e-tracing-$$.txt"
redis-cli -u "$redis_url" FLUSHDB >/dev/null || fail "cannot empty Redis database 11"
grpc="127.0.0.1:$(free_port)"
http="127.0.0.1:$(free_port)"
metrics="127.0.0.1:$(free_port)"
env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL \
  OTEL_EXPORTER_OTLP_HEADERS="x-collector-key=e2e%20secret" OTEL_RESOURCE_ATTRIBUTES="deployment.environment=e2e" \
  "$bin/parkbase" serve --listen="$grpc" --http_listen="$http" --metrics_listen="$metrics" --park_code=1 \
  --database_url="$service_url" --redis_url="$redis_url" --drain_seconds=0 \
  --otlp_traces_endpoint="$collector/v1/traces" --otlp_export_interval_ms=200 </dev/null >/dev/null 2>>"$log" &
pids+=($!)
for _ in $(seq 100); do
  grpcurl -plaintext "$grpc" grpc.health.v1.Health/Check 2>/dev/null | grep -q '"SERVING"' && break
  sleep 0.2
done
grpcurl -plaintext "$grpc" grpc.health.v1.Health/Check 2>/dev/null | grep -q '"SERVING"' || fail "serve did not start"
grep -q '"msg":"exporting traces"' "$log" || fail "serve did not log that it exports traces"

# --- `parkbase gateway` in front of it, exporting by OpenTelemetry's general endpoint variable alone.
gateway="127.0.0.1:$(free_port)"
env -u PARKBASE_TEST_PG_ADMIN_URL -u PARKBASE_TEST_REDIS_URL OTEL_EXPORTER_OTLP_ENDPOINT="$collector" \
  "$bin/parkbase" gateway --http_listen="$gateway" --metrics_listen= --otlp_export_interval_ms=200 \
  --gateway_backends="tenant=$grpc" </dev/null >/dev/null 2>>"$gateway_log" &
pids+=($!)
for _ in $(seq 50); do curl -fsS "http://$gateway/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

# --- The calls, each with a trace of its own.
grpc_trace="$(hex 16)" grpc_parent="$(hex 8)"
grpcurl -plaintext -H "authorization: Bearer $key" -H "traceparent: 00-$grpc_trace-$grpc_parent-01" \
  -H "tracestate: parkbase-e2e=grpc" -d '{}' "$grpc" parkbase.tenant.v1.TenantService/ListTenants >/dev/null ||
  fail "ListTenants over gRPC"
http_trace="$(hex 16)" http_parent="$(hex 8)"
code="$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
  -H "traceparent: 00-$http_trace-$http_parent-01" "http://$http/v1/tenants/nope")"
[[ "$code" == 404 ]] || fail "GET /v1/tenants/nope answered $code, not 404"
gateway_trace="$(hex 16)" gateway_parent="$(hex 8)"
curl -fsS -o /dev/null -H "Authorization: Bearer $key" -H "traceparent: 00-$gateway_trace-$gateway_parent-01" \
  "http://$gateway/v1/tenants" || fail "GET /v1/tenants through the gateway"
unsampled_trace="$(hex 16)"
grpcurl -plaintext -H "authorization: Bearer $key" -H "traceparent: 00-$unsampled_trace-$(hex 8)-00" \
  -d '{}' "$grpc" parkbase.tenant.v1.TenantService/ListTenants >/dev/null || fail "an unsampled ListTenants"
malformed_trace="$(hex 16)"
grpcurl -plaintext -H "authorization: Bearer $key" -H "traceparent: 00-${malformed_trace^^}-$(hex 8)-01" \
  -d '{"name":"tenants/malformed"}' "$grpc" parkbase.tenant.v1.TenantService/GetTenant >/dev/null 2>&1 || true
grpcurl -plaintext -H "authorization: Bearer $key" -d '{"name":"tenants/untraced"}' "$grpc" \
  parkbase.tenant.v1.TenantService/GetTenant >/dev/null 2>&1 || true

# --- What the logs and the collector hold.
"$python" - "$log" "$gateway_log" "$spans" "$grpc_trace" "$grpc_parent" "$http_trace" "$http_parent" \
  "$gateway_trace" "$gateway_parent" "$unsampled_trace" "$malformed_trace" <<'EOF' || fail "traces"
import json, sys, time

(log_path, gateway_log_path, spans_path, grpc_trace, grpc_parent, http_trace, http_parent, gateway_trace,
 gateway_parent, unsampled_trace, malformed_trace) = sys.argv[1:]


def lines(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("{"):
                out.append(json.loads(line))
    return out


def spans_now():
    try:
        return lines(spans_path)
    except FileNotFoundError:
        return []


def check(condition, what):
    if not condition:
        print(f"not so: {what}")
        sys.exit(1)


def rpc_line(**want):
    found = [l for l in lines(log_path) if l.get("msg") == "rpc" and all(l.get(k) == v for k, v in want.items())]
    check(len(found) == 1, f"one rpc log line with {want}, found {len(found)}")
    return found[0]


# Spans go out every 200 ms; wait for the last call's.
expected = {grpc_trace: 1, http_trace: 2, gateway_trace: 2}
deadline = time.time() + 15
while time.time() < deadline:
    spans = spans_now()
    if all(sum(s.get("trace_id") == t for s in spans) >= n for t, n in expected.items()):
        break
    time.sleep(0.2)
spans = spans_now()
check(not [s for s in spans if "error" in s], f"the collector refused a request: {[s for s in spans if 'error' in s]}")


def span(trace, name):
    found = [s for s in spans if s["trace_id"] == trace and s["name"] == name]
    check(len(found) == 1, f"one span {name} in trace {trace}, found {len(found)}")
    return found[0]


SERVER = 2  # OTLP's SPAN_KIND_SERVER

# gRPC with a traceparent: the log line and the span carry the caller's trace; the span is the caller's child.
line = rpc_line(method="ListTenants", trace_id=grpc_trace)
s = span(grpc_trace, "parkbase.tenant.v1.TenantService/ListTenants")
check(s["span_id"] == line["span_id"] != grpc_parent, "the log line names the exported span")
check(s["parent_span_id"] == grpc_parent, "the gRPC span's parent is the caller's span")
check(s["kind"] == SERVER and s["flags"] & 1, "a sampled server span")
check(s["trace_state"] == "parkbase-e2e=grpc", "tracestate passed on")
check(s["attributes"].get("rpc.system") == "grpc" and s["attributes"].get("rpc.method") == "ListTenants",
      f"rpc attributes: {s['attributes']}")
check(s["attributes"].get("rpc.grpc.status_code") == 0 and s["status_code"] == 0, "an OK call, status unset")
check(s["end"] >= s["start"] > 0, "start and end times")
check(s["resource"].get("service.name") == "parkbase", f"service.name: {s['resource']}")
check(s["resource"].get("deployment.environment") == "e2e", "OTEL_RESOURCE_ATTRIBUTES in the resource")
check(s["headers"].get("x-collector-key") == "e2e secret", "OTEL_EXPORTER_OTLP_HEADERS sent, percent-decoded")
check(s["scope"] == "parkbase", "instrumentation scope")

# HTTP with a traceparent: the HTTP span is the caller's child and the gRPC span the HTTP span's.
h = span(http_trace, "GET /v1/{name=tenants/*}")
g = span(http_trace, "parkbase.tenant.v1.TenantService/GetTenant")
check(h["parent_span_id"] == http_parent and h["kind"] == SERVER, "the HTTP span's parent is the caller's span")
check(h["attributes"].get("http.response.status_code") == 404, f"HTTP status: {h['attributes']}")
check(h["status_code"] == 0, "a 404 is the caller's error: span status unset")
check(g["parent_span_id"] == h["span_id"], "the gRPC span is the HTTP span's child")
check(g["attributes"].get("rpc.grpc.status_code") == 5, "GetTenant answered NOT_FOUND")
line = rpc_line(method="GetTenant", trace_id=http_trace)
check(line["span_id"] == g["span_id"], "the log line names the gRPC span")

# Across processes: the gateway's HTTP span (its own service.name) is the parent of serve's gRPC span.
h = span(gateway_trace, "GET /v1/tenants")
g = span(gateway_trace, "parkbase.tenant.v1.TenantService/ListTenants")
check(h["resource"].get("service.name") == "parkbase-gateway", f"the gateway's service.name: {h['resource']}")
check(h["parent_span_id"] == gateway_parent and g["parent_span_id"] == h["span_id"],
      "traceparent carried from the gateway to the service")
check(g["resource"].get("service.name") == "parkbase", "the service's span comes from serve")

# A caller that did not sample: its trace id is logged, its span not exported.
rpc_line(method="ListTenants", trace_id=unsampled_trace)
check(not [s for s in spans if s["trace_id"] == unsampled_trace], "an unsampled trace is not exported")

# A malformed traceparent (upper-case hex) and none at all: new traces, sampled, each span a root.
others = [l for l in lines(log_path)
          if l.get("msg") == "rpc" and l.get("method") == "GetTenant" and l.get("trace_id") != http_trace]
check(len(others) == 2, f"two GetTenant lines outside the HTTP trace, found {len(others)}")
for l in others:
    check(l["trace_id"] != malformed_trace, "a malformed traceparent starts a new trace")
    deadline = time.time() + 5
    while True:
        roots = [s for s in spans_now() if s["trace_id"] == l["trace_id"]]
        if roots or time.time() > deadline:
            break
        time.sleep(0.2)
    check(len(roots) == 1 and roots[0]["parent_span_id"] == "", f"one root span for trace {l['trace_id']}")

# Every call's line carries both ids.
for l in lines(log_path):
    if l.get("msg") == "rpc":
        check(len(l.get("trace_id", "")) == 32 and len(l.get("span_id", "")) == 16, f"ids on {l}")
print("traces: ok")
EOF

metrics_text="$(curl -fsS "http://$metrics/metrics")" || fail "GET /metrics"
exported="$(awk '$1 == "parkbase_trace_spans_exported_total" { print $2 }' <<<"$metrics_text")"
[[ -n "$exported" ]] && awk -v n="$exported" 'BEGIN { exit !(n >= 4) }' || fail "parkbase_trace_spans_exported_total: '$exported'"
grep -q '^parkbase_trace_spans_dropped_total{reason="queue_full"} 0$' <<<"$metrics_text" ||
  fail "spans dropped with a collector that answers: $(grep parkbase_trace_spans_dropped <<<"$metrics_text")"
echo "PASS: tracing"
