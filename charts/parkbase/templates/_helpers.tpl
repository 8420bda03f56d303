{{/*
The services the chart knows, in order. Each has a values block of the same name (tenant.enabled, ...), a binary
/usr/local/bin/parkbase-<name> in the image, and gets the same set of objects when enabled.
*/}}
{{- define "parkbase.serviceNames" -}}
tenant device telemetry marketplace
{{- end }}

{{/* The enabled services, space-separated (use with splitList " "). */}}
{{- define "parkbase.enabledServices" -}}
{{- $enabled := list }}
{{- range $name := include "parkbase.serviceNames" . | splitList " " }}
{{- if (index $.Values $name).enabled }}
{{- $enabled = append $enabled $name }}
{{- end }}
{{- end }}
{{- join " " $enabled }}
{{- end }}

{{- define "parkbase.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<chart name>, or just <release> when it already contains the chart name. */}}
{{- define "parkbase.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "parkbase.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of a per-component object: (dict "ctx" $ "component" "tenant") -> <fullname>-tenant */}}
{{- define "parkbase.componentName" -}}
{{- printf "%s-%s" (include "parkbase.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The app.kubernetes.io/* labels, the only place they are written.
  (dict "ctx" $ "component" "tenant")                  every recommended label, for metadata.labels
  (dict "ctx" $ "component" "tenant" "selector" true)  the part that never changes, for selectors
"component" may be left out for release-wide objects.
*/}}
{{- define "parkbase.labels" -}}
app.kubernetes.io/name: {{ include "parkbase.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- if not .selector }}
app.kubernetes.io/part-of: parkbase
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | replace "+" "_" | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- /* Never in selectors: a selector cannot change after install, and commonLabels may. */}}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end }}

{{/*
An object's metadata.annotations: commonAnnotations under the object's own, which win (a hook's helm.sh/hook
stays); nothing when both are empty, so it starts with its own newline and indent (include it with "{{-" and no
nindent). (dict "ctx" $ "own" <map or nil>)
*/}}
{{- define "parkbase.annotations" -}}
{{- $all := merge (deepCopy (.own | default dict)) (deepCopy (.ctx.Values.commonAnnotations | default dict)) }}
{{- with $all }}
  annotations:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end }}

{{/* The image reference; global.imageRegistry, when set, goes in front of image.repository (a mirror). */}}
{{- define "parkbase.image" -}}
{{- $repository := .Values.image.repository }}
{{- with (.Values.global | default dict).imageRegistry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "parkbase.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "parkbase.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Where the TLS Secret is mounted in the servers. */}}
{{- define "parkbase.tlsDir" -}}/etc/parkbase/tls{{- end }}

{{/* Where the client CA Secret's ca.crt is mounted when tls.clientCASecretName is set (mutual TLS). */}}
{{- define "parkbase.tlsClientCADir" -}}/etc/parkbase/client-ca{{- end }}

{{/* Tracing's flags, for the servers and the gateway: each line starts with a newline. */}}
{{- define "parkbase.tracingArgs" -}}
{{- with .Values.tracing.endpoint }}
- --otlp_traces_endpoint={{ . }}
{{- end }}
- --trace_sample_ratio={{ .Values.tracing.sampleRatio }}
{{- end }}

{{/* Flags of a server; (dict "ctx" $ "name" <service name> "svc" <service values>). */}}
{{- define "parkbase.serverArgs" -}}
{{- $v := .ctx.Values -}}
- --listen=0.0.0.0:{{ $v.ports.grpc }}
- --health_listen=0.0.0.0:{{ $v.ports.health }}
- --metrics_listen=0.0.0.0:{{ $v.ports.metrics }}
{{- /* The REST/JSON door stays off in the service pods: the services share path prefixes (/v1/tenants/...), so one
       entry must route every path, and its gateway Deployment is not in the chart yet (docs/api.md). */}}
- --http_listen=
- --park_code={{ $v.parkCode }}
- --log_level={{ $v.logLevel }}
{{- include "parkbase.tracingArgs" .ctx }}
- --db_pool_size={{ int64 $v.server.dbPoolSize }}
- --statement_timeout_ms={{ int64 $v.server.statementTimeoutMs }}
- --drain_seconds={{ int64 $v.server.drainSeconds }}
- --max_message_bytes={{ int64 $v.server.maxMessageBytes }}
- --server_threads={{ int64 $v.server.threads }}
- --max_streams={{ int64 $v.server.maxStreams }}
- --max_streams_per_key={{ int64 $v.server.maxStreamsPerKey }}
- --max_streams_per_tenant={{ int64 $v.server.maxStreamsPerTenant }}
- --stream_idle_timeout_s={{ int64 $v.server.streamIdleTimeoutSeconds }}
- --stream_max_age_s={{ int64 $v.server.streamMaxAgeSeconds }}
- --max_parsing_bytes={{ int64 $v.server.maxParsingBytes }}
- --bulk_statement_timeout_ms={{ int64 $v.server.bulkStatementTimeoutMs }}
- --max_scan_bytes={{ int64 $v.server.maxScanBytes }}
- --max_scan_points={{ int64 $v.server.maxScanPoints }}
- --auth_failures_per_source={{ int64 $v.server.authFailuresPerSource }}
- --auth_failures_per_key={{ int64 $v.server.authFailuresPerKey }}
- --auth_failure_window_s={{ int64 $v.server.authFailureWindowSeconds }}
{{- with $v.server.trustedProxies }}
{{- /* Quoted: an IPv6 address may end in ":", which YAML would read as a mapping key. */}}
- {{ printf "--trusted_proxies=%s" (join "," .) | quote }}
{{- end }}
{{- if $v.tls.enabled }}
- --tls_cert_file={{ include "parkbase.tlsDir" .ctx }}/tls.crt
- --tls_key_file={{ include "parkbase.tlsDir" .ctx }}/tls.key
{{- if $v.tls.clientCASecretName }}
- --tls_client_ca_file={{ include "parkbase.tlsClientCADir" .ctx }}/ca.crt
{{- end }}
{{- end }}
{{- if eq .name "telemetry" }}
- --telemetry_compaction_interval_ms={{ int64 $v.telemetryMaintenance.compactionIntervalMs }}
- --telemetry_retention_interval_s={{ int64 $v.telemetryMaintenance.retentionIntervalSeconds }}
{{- end }}
{{- if eq .name "marketplace" }}
- --marketplace_metering_interval_s={{ int64 $v.marketplaceMetering.intervalSeconds }}
{{- end }}
{{- range concat $v.extraArgs .svc.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* An env entry read from an existing Secret: (dict "name" ENV "secret" NAME "key" KEY). */}}
{{- define "parkbase.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
{{- end }}

{{/*
The Secret and key the migrations Job reads its DSN from: migrations.existingSecret/key, with "" falling back to
database.existingSecret/key (which parkbase.validate allows only with migrations.allowServingRoleAsOwner).
*/}}
{{- define "parkbase.migrationsSecret" -}}
{{- default .Values.database.existingSecret .Values.migrations.existingSecret }}
{{- end }}
{{- define "parkbase.migrationsKey" -}}
{{- default .Values.database.key .Values.migrations.key }}
{{- end }}

{{/*
"true" when the migrations Job would log in with the services' own DSN (the same Secret and key), so the serving
role would own every table: a table's owner can switch its row-level security off.
*/}}
{{- define "parkbase.migrationsUseServingRole" -}}
{{- if and .Values.migrations.enabled (eq (include "parkbase.migrationsSecret" .) .Values.database.existingSecret) (eq (include "parkbase.migrationsKey" .) .Values.database.key) }}true{{ end }}
{{- end }}

{{/* A native gRPC probe: (dict "ctx" $ "probe" <probes.X values> "service" <health service name>). */}}
{{- define "parkbase.grpcProbe" -}}
grpc:
  port: {{ .ctx.Values.ports.health }}
  {{- with .service }}
  service: {{ . }}
  {{- end }}
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end }}

{{/*
Where a pod runs: (dict "ctx" $ "component" <name> "c" <its values block> "spread" <bool>), at a pod spec's indent
(6); include it through `with ... | trim`, since it may be empty. nodeSelector, affinity and tolerations are the component's when it sets them, else the global ones;
topologySpreadConstraints likewise, each without a labelSelector given the component's pods' selector, and with
"spread" the chart's own soft spread (topologySpread) after them.
*/}}
{{- define "parkbase.scheduling" -}}
{{- $v := .ctx.Values }}
{{- $selector := include "parkbase.labels" (dict "ctx" .ctx "component" .component "selector" true) | fromYaml }}
{{- with .c.nodeSelector | default $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.affinity | default $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations | default $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $constraints := list }}
{{- range .c.topologySpreadConstraints | default $v.topologySpreadConstraints }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
{{- $constraints = append $constraints $constraint }}
{{- end }}
{{- if and .spread $v.topologySpread.enabled }}
{{- with $v.topologySpread }}
{{- $constraints = append $constraints (dict "topologyKey" .topologyKey "maxSkew" .maxSkew "whenUnsatisfiable" .whenUnsatisfiable "labelSelector" (dict "matchLabels" $selector)) }}
{{- end }}
{{- end }}
{{- with $constraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
A pod template's metadata.annotations: podAnnotations under the component's own, which win; nothing when both are
empty. (dict "ctx" $ "c" <its values block>), at a pod template metadata's indent (6), through `with ... | trim`.
*/}}
{{- define "parkbase.podAnnotations" -}}
{{- with merge (deepCopy (.c.podAnnotations | default dict)) (deepCopy (.ctx.Values.podAnnotations | default dict)) }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The /tmp volume every container gets (the root filesystem is read-only). */}}
{{- define "parkbase.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/*
Rules that values.schema.json cannot express, because they compare two values. Included by the templates that
render pods, so a bad combination fails `helm template`/`helm install` with a message naming the values. (`helm lint`
only reports them: in lint mode Helm turns `fail` into an INFO line.)
*/}}
{{- define "parkbase.validate" -}}
{{- $v := .Values }}
{{- if or (eq $v.ports.grpc $v.ports.health) (eq $v.ports.grpc $v.ports.metrics) (eq $v.ports.health $v.ports.metrics) }}
{{- fail (printf "ports: grpc (%v), health (%v) and metrics (%v) must differ" $v.ports.grpc $v.ports.health $v.ports.metrics) }}
{{- end }}
{{- if and $v.gateway.enabled (eq $v.ports.http $v.ports.metrics) }}
{{- fail (printf "ports: http (%v) and metrics (%v) must differ" $v.ports.http $v.ports.metrics) }}
{{- end }}
{{- /* values.schema.json refuses this too; repeated so --skip-schema-validation cannot silently drop mutual TLS. */}}
{{- if and $v.tls.clientCASecretName (not $v.tls.enabled) }}
{{- fail (printf "tls.clientCASecretName (%q) needs tls.enabled=true and tls.secretName: mutual TLS is TLS that also asks for client certificates" $v.tls.clientCASecretName) }}
{{- end }}
{{- if and $v.gateway.enabled $v.tls.clientCASecretName }}
{{- fail "gateway.enabled with tls.clientCASecretName: the gateway holds no client certificate to call services that require one; set gateway.enabled=false, or serve REST/JSON with TLS alone" }}
{{- end }}
{{- if le (int $v.terminationGracePeriodSeconds) (int $v.server.drainSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed server.drainSeconds (%v), or the kubelet kills servers mid-drain" $v.terminationGracePeriodSeconds $v.server.drainSeconds) }}
{{- end }}
{{- if and (include "parkbase.migrationsUseServingRole" .) (not $v.migrations.allowServingRoleAsOwner) }}
{{- $problem := "is empty, so the migrations Job would log in" }}
{{- if $v.migrations.existingSecret }}
{{- $problem = "and migrations.key make the migrations Job log in" }}
{{- end }}
{{- fail (printf "migrations.existingSecret %s with the services' own DSN (Secret %q, key %q): that role would own every table and could switch row-level security off. Create a Secret with the schema owner's DSN and set migrations.existingSecret (default: parkbase-database-owner), or set migrations.allowServingRoleAsOwner=true to accept the risk" $problem $v.database.existingSecret $v.database.key) }}
{{- end }}
{{- if and $v.migrations.enabled $v.migrations.sidecars (not (semverCompare ">=1.29.0-0" .Capabilities.KubeVersion.Version)) }}
{{- fail (printf "migrations.sidecars need native sidecar containers (Kubernetes 1.29 or newer, this is %s): a plain sidecar never exits, so the migrations hook would never complete" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- range $name := include "parkbase.enabledServices" . | splitList " " }}
{{- $a := (index $v $name).autoscaling }}
{{- if $a.enabled }}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) }}
{{- fail (printf "%s.autoscaling: minReplicas (%v) must not exceed maxReplicas (%v)" $name $a.minReplicas $a.maxReplicas) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
