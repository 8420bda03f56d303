"""What the rendered chart must say, for every values set: labels from the one helper, secure pods, gRPC probes on
the plaintext health port, secrets only through secretKeyRef, only the binaries' own flags and PARKBASE_* names,
Services that select their Deployment's pods by port name, and per-feature objects that appear exactly when enabled.
"""

import re
import unittest

import yaml

import chartlib

STANDARD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                   "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by",
                   "helm.sh/chart")
FLAG = re.compile(r"^--([a-z][a-z0-9_]*)(=.*)?$")
# The objects every enabled service gets, one each.
PER_SERVICE_KINDS = ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy")


def merged_values(path):
    """The chart's defaults with a values file laid over them (maps merge; null deletes, as in Helm)."""
    def merge(base, over):
        for key, value in over.items():
            if value is None:
                base.pop(key, None)
            elif isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base
    values = yaml.safe_load((chartlib.CHART / "values.yaml").read_text())
    return merge(values, yaml.safe_load(path.read_text()) or {}) if path else values


def flags(container):
    parsed = {}
    for arg in container.get("args", []):
        match = FLAG.match(arg)
        if match:
            parsed[match.group(1)] = (match.group(2) or "=")[1:]
    return parsed


class Render(unittest.TestCase):
    rendered = {}

    def each_values_set(self):
        for name, path in chartlib.values_sets():
            with self.subTest(name):
                if name not in self.rendered:
                    self.rendered[name] = (merged_values(path), chartlib.render([path] if path else []))
                yield (name, *self.rendered[name])

    def test_every_object_has_the_standard_labels(self):
        for _, _, objects in self.each_values_set():
            for obj in objects:
                labels = obj["metadata"]["labels"]
                for label in STANDARD_LABELS:
                    if label == "app.kubernetes.io/component" and obj["kind"] == "ServiceAccount":
                        continue
                    self.assertIn(label, labels, f"{obj['kind']} {obj['metadata']['name']}")
                self.assertEqual(labels["app.kubernetes.io/managed-by"], "Helm")
                self.assertEqual(labels["app.kubernetes.io/instance"], chartlib.RELEASE)

    def test_enabled_services_get_their_objects(self):
        for _, values, objects in self.each_values_set():
            enabled = {s for s in chartlib.SERVICES if values[s]["enabled"]}
            for kind in ("Deployment", "Service"):
                self.assertEqual({chartlib.component(o) for o in chartlib.by_kind(objects, kind)}, enabled, kind)
            autoscaled = {s for s in enabled if values[s]["autoscaling"]["enabled"]}
            self.assertEqual({chartlib.component(o) for o in chartlib.by_kind(objects, "HorizontalPodAutoscaler")},
                             autoscaled)
            budgeted = {s for s in enabled if values[s]["podDisruptionBudget"]["enabled"]}
            self.assertEqual({chartlib.component(o) for o in chartlib.by_kind(objects, "PodDisruptionBudget")},
                             budgeted)
            policed = enabled if values["networkPolicy"]["enabled"] else set()
            self.assertEqual({chartlib.component(o) for o in chartlib.by_kind(objects, "NetworkPolicy")}, policed)
            monitors = chartlib.by_kind(objects, "ServiceMonitor")
            self.assertEqual(len(monitors), 1 if values["metrics"]["serviceMonitor"]["enabled"] else 0)
            for deployment in chartlib.by_kind(objects, "Deployment"):
                name = chartlib.component(deployment)
                if values[name]["autoscaling"]["enabled"]:
                    self.assertNotIn("replicas", deployment["spec"], "the HPA owns the replica count")
                else:
                    self.assertEqual(deployment["spec"]["replicas"], values[name]["replicaCount"])

    def test_every_service_is_deployed_by_default(self):
        # A plain install runs all four, the marketplace included, each with its own binary and health name.
        self.assertEqual(chartlib.services_enabled_by_default(), chartlib.SERVICES)
        objects = chartlib.render()
        for kind in PER_SERVICE_KINDS:
            self.assertEqual(sorted(chartlib.component(o) for o in chartlib.by_kind(objects, kind)),
                             sorted(chartlib.SERVICES), kind)
        for deployment in chartlib.by_kind(objects, "Deployment"):
            name = chartlib.component(deployment)
            (container,) = chartlib.pod_spec(deployment)["containers"]
            self.assertEqual(container["command"], [f"/usr/local/bin/parkbase-{name}"])
            for probe in ("startupProbe", "readinessProbe"):
                self.assertEqual(container[probe]["grpc"]["service"], chartlib.health_service_name(name), probe)
        notes = chartlib.render_notes()
        for name in chartlib.SERVICES:
            self.assertIn(f"  {name}: {chartlib.RELEASE}-parkbase-{name}.{chartlib.NAMESPACE}.svc:", notes)

    def test_each_service_can_be_switched_off(self):
        for service in chartlib.SERVICES:
            with self.subTest(service):
                switch = [f"{service}.enabled=false"]
                objects = chartlib.render(set_values=switch)
                others = sorted(set(chartlib.SERVICES) - {service})
                for kind in PER_SERVICE_KINDS:
                    self.assertEqual(sorted(chartlib.component(o) for o in chartlib.by_kind(objects, kind)),
                                     others, kind)
                self.assertNotIn(f"parkbase-{service}", yaml.safe_dump_all(objects), "still named somewhere")
                (pod,) = [o for o in chartlib.by_kind(objects, "Pod") if chartlib.hook(o) == "test"]
                self.assertEqual(sorted(c["name"] for c in pod["spec"]["containers"]),
                                 [f"health-{s}" for s in others])
                self.assertNotIn(f"parkbase-{service}.", chartlib.render_notes(set_values=switch))

    def test_pods_are_locked_down(self):
        for _, _, objects in self.each_values_set():
            pods = [o for o in objects if o["kind"] in ("Deployment", "Job", "Pod")]
            self.assertTrue(pods)
            for obj in pods:
                spec = chartlib.pod_spec(obj)
                what = f"{obj['kind']} {obj['metadata']['name']}"
                self.assertIs(spec["automountServiceAccountToken"], False, what)
                self.assertEqual(spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault", what)
                self.assertIs(spec["securityContext"]["runAsNonRoot"], True, what)
                self.assertIn({"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}, spec["volumes"], what)
                for container in spec["containers"]:
                    context = container["securityContext"]
                    self.assertIs(context["runAsNonRoot"], True, what)
                    self.assertIs(context["readOnlyRootFilesystem"], True, what)
                    self.assertIs(context["allowPrivilegeEscalation"], False, what)
                    self.assertEqual(context["capabilities"]["drop"], ["ALL"], what)
                    self.assertIn({"name": "tmp", "mountPath": "/tmp"}, container["volumeMounts"], what)
                    self.assertIn("limits", container["resources"], what)
                    self.assertIn("requests", container["resources"], what)
                    self.assertTrue(container["command"][0].startswith("/usr/local/bin/parkbase"), what)

    def test_servers_run_their_binary_with_known_flags_and_secrets(self):
        for _, values, objects in self.each_values_set():
            ports = values["ports"]
            for deployment in chartlib.by_kind(objects, "Deployment"):
                name = chartlib.component(deployment)
                pod = chartlib.pod_spec(deployment)
                self.assertGreater(pod["terminationGracePeriodSeconds"], values["server"]["drainSeconds"])
                (container,) = pod["containers"]
                self.assertEqual(container["command"], [f"/usr/local/bin/parkbase-{name}"])
                parsed = flags(container)
                self.assertLessEqual(set(parsed), chartlib.SERVER_FLAGS, "a flag the binaries do not have")
                self.assertEqual(parsed["listen"], f"0.0.0.0:{ports['grpc']}")
                self.assertEqual(parsed["health_listen"], f"0.0.0.0:{ports['health']}")
                self.assertEqual(parsed["metrics_listen"], f"0.0.0.0:{ports['metrics']}")
                env = {e["name"]: e for e in container["env"]}
                parkbase_env = {n for n in env if n.startswith("PARKBASE_")}
                previous_key = values["pageToken"]["previousKey"]
                self.assertEqual(parkbase_env,
                                 {"PARKBASE_DATABASE_URL", "PARKBASE_REDIS_URL", "PARKBASE_PAGE_TOKEN_SECRET"} |
                                 ({"PARKBASE_PAGE_TOKEN_PREVIOUS_SECRET"} if previous_key else set()))
                if previous_key:
                    # The previous secret comes from the same Secret, so the two phases of a rotation edit one object.
                    self.assertEqual(env["PARKBASE_PAGE_TOKEN_PREVIOUS_SECRET"]["valueFrom"]["secretKeyRef"],
                                     {"name": values["pageToken"]["existingSecret"], "key": previous_key})
                for variable, block in (("PARKBASE_DATABASE_URL", "database"), ("PARKBASE_REDIS_URL", "redis"),
                                        ("PARKBASE_PAGE_TOKEN_SECRET", "pageToken")):
                    self.assertEqual(env[variable]["valueFrom"]["secretKeyRef"],
                                     {"name": values[block]["existingSecret"], "key": values[block]["key"]})
                for variable in parkbase_env:
                    self.assertNotIn(variable.removeprefix("PARKBASE_").lower(), parsed,
                                     f"{variable} is also passed as a flag")

    def test_telemetry_maintenance_reaches_only_the_telemetry_server(self):
        for _, values, objects in self.each_values_set():
            for deployment in chartlib.by_kind(objects, "Deployment"):
                name = chartlib.component(deployment)
                (container,) = chartlib.pod_spec(deployment)["containers"]
                parsed = flags(container)
                extra = flags({"args": values["extraArgs"] + values[name].get("extraArgs", [])})
                for flag, key in chartlib.TELEMETRY_FLAGS.items():
                    if flag in extra:
                        continue  # extraArgs set it; a later flag wins
                    if name == "telemetry":
                        self.assertEqual(parsed.get(flag), str(values["telemetryMaintenance"][key]), flag)
                    else:
                        self.assertNotIn(flag, parsed, f"{name} gets a telemetry flag")
                if name == "telemetry":
                    # The chart's flags come before extraArgs, so an operator's --flag still wins.
                    args, extra_args = container["args"], values["extraArgs"] + values[name].get("extraArgs", [])
                    positions = [i for i, a in enumerate(args) if a.startswith("--telemetry_") and a not in extra_args]
                    self.assertTrue(positions)
                    for arg in extra_args:
                        self.assertGreater(args.index(arg), max(positions))

    def test_marketplace_metering_reaches_only_the_marketplace_server(self):
        for _, values, objects in self.each_values_set():
            for deployment in chartlib.by_kind(objects, "Deployment"):
                name = chartlib.component(deployment)
                (container,) = chartlib.pod_spec(deployment)["containers"]
                parsed = flags(container)
                extra = flags({"args": values["extraArgs"] + values[name].get("extraArgs", [])})
                for flag, key in chartlib.MARKETPLACE_FLAGS.items():
                    if flag in extra:
                        continue  # extraArgs set it; a later flag wins
                    if name == "marketplace":
                        self.assertEqual(parsed.get(flag), str(values["marketplaceMetering"][key]), flag)
                    else:
                        self.assertNotIn(flag, parsed, f"{name} gets a marketplace flag")

    def test_auth_limits_and_trusted_proxies_reach_every_server(self):
        for _, values, objects in self.each_values_set():
            server = values["server"]
            deployments = chartlib.by_kind(objects, "Deployment")
            self.assertTrue(deployments)
            for deployment in deployments:
                name = chartlib.component(deployment)
                (container,) = chartlib.pod_spec(deployment)["containers"]
                parsed = flags(container)
                extra = flags({"args": values["extraArgs"] + values[name].get("extraArgs", [])})
                for flag, key in chartlib.AUTH_LIMIT_FLAGS.items():
                    self.assertEqual(parsed.get(flag), extra.get(flag, str(server[key])), f"{name}: --{flag}")
                if "trusted_proxies" in extra:
                    continue  # extraArgs set it; a later flag wins
                if server["trustedProxies"]:
                    self.assertEqual(parsed.get("trusted_proxies"), ",".join(server["trustedProxies"]), name)
                    (arg,) = [a for a in container["args"] if a.startswith("--trusted_proxies=")]
                    self.assertEqual(arg, "--trusted_proxies=" + ",".join(server["trustedProxies"]),
                                     "one flag, comma-joined, read back as a string")
                else:
                    self.assertNotIn("trusted_proxies", parsed, f"{name}: --trusted_proxies without proxies")

    def test_trusted_proxies_are_passed_only_when_listed(self):
        proxies = ["10.244.0.0/16", "fd00::/8", "2001:db8::"]
        for listed in ([], proxies[:1], proxies):
            with self.subTest(listed=listed):
                args = ["server.trustedProxies={" + ",".join(listed) + "}"] if listed else []  # {} is [""]
                for deployment in chartlib.by_kind(chartlib.render(set_values=args), "Deployment"):
                    parsed = flags(chartlib.pod_spec(deployment)["containers"][0])
                    if listed:
                        self.assertEqual(parsed["trusted_proxies"], ",".join(listed))
                    else:
                        self.assertNotIn("trusted_proxies", parsed)

    def test_tracing_reaches_every_server_and_the_gateway(self):
        for _, values, objects in self.each_values_set():
            tracing = values["tracing"]
            for deployment in chartlib.by_kind(objects, "Deployment"):
                parsed = flags(chartlib.pod_spec(deployment)["containers"][0])
                name = chartlib.component(deployment)
                if tracing["endpoint"]:
                    self.assertEqual(parsed.get("otlp_traces_endpoint"), tracing["endpoint"], name)
                else:
                    self.assertNotIn("otlp_traces_endpoint", parsed, f"{name}: an endpoint nobody set")
                self.assertEqual(float(parsed["trace_sample_ratio"]), float(tracing["sampleRatio"]), name)

    def test_probes_are_grpc_on_the_plaintext_health_port(self):
        for _, values, objects in self.each_values_set():
            health = values["ports"]["health"]
            for deployment in chartlib.by_kind(objects, "Deployment"):
                name = chartlib.component(deployment)
                (container,) = chartlib.pod_spec(deployment)["containers"]
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    self.assertEqual(container[probe]["grpc"]["port"], health, probe)
                for probe in ("startupProbe", "readinessProbe"):
                    self.assertEqual(container[probe]["grpc"]["service"], values[name]["healthService"])
                self.assertEqual(container["livenessProbe"]["grpc"].get("service"), "liveness",
                                 "liveness asks only whether the process is alive, not its dependencies")
                declared = {p["name"]: p["containerPort"] for p in container["ports"]}
                self.assertEqual(declared, {"grpc": values["ports"]["grpc"], "grpc-health": health,
                                            "http-metrics": values["ports"]["metrics"]})

    def test_tls_comes_from_the_secret(self):
        for _, values, objects in self.each_values_set():
            tls = values["tls"]
            for deployment in chartlib.by_kind(objects, "Deployment"):
                pod = chartlib.pod_spec(deployment)
                (container,) = pod["containers"]
                parsed = flags(container)
                volumes = {v["name"]: v for v in pod["volumes"]}
                mounts = {m["name"]: m for m in container["volumeMounts"]}
                if tls["enabled"]:
                    self.assertEqual(volumes["tls"]["secret"]["secretName"], tls["secretName"])
                    mount = mounts["tls"]
                    self.assertTrue(mount["readOnly"])
                    self.assertEqual(parsed["tls_cert_file"], mount["mountPath"] + "/tls.crt")
                    self.assertEqual(parsed["tls_key_file"], mount["mountPath"] + "/tls.key")
                    self.assertNotEqual(values["ports"]["health"], values["ports"]["grpc"])
                else:
                    self.assertNotIn("tls", volumes)
                    self.assertNotIn("tls_cert_file", parsed)
                    self.assertNotIn("tls_key_file", parsed)
                if tls["enabled"] and tls["clientCASecretName"]:
                    # Only ca.crt: a CA Secret may also hold the CA's private key.
                    self.assertEqual(volumes["tls-client-ca"]["secret"]["secretName"], tls["clientCASecretName"])
                    self.assertEqual(volumes["tls-client-ca"]["secret"]["items"], [{"key": "ca.crt", "path": "ca.crt"}])
                    mount = mounts["tls-client-ca"]
                    self.assertTrue(mount["readOnly"])
                    self.assertNotEqual(mount["mountPath"], mounts["tls"]["mountPath"])
                    self.assertEqual(parsed["tls_client_ca_file"], mount["mountPath"] + "/ca.crt")
                else:
                    self.assertNotIn("tls-client-ca", volumes)
                    self.assertNotIn("tls-client-ca", mounts)
                    self.assertNotIn("tls_client_ca_file", parsed)

    def test_mutual_tls_is_a_values_set(self):
        sets = {name: merged_values(path) for name, path in chartlib.values_sets()}
        self.assertTrue(any(v["tls"]["enabled"] and v["tls"]["clientCASecretName"] for v in sets.values()),
                        "no values set in tests/chart/values turns mutual TLS on")
        self.assertTrue(any(v["server"]["trustedProxies"] for v in sets.values()),
                        "no values set in tests/chart/values lists trusted proxies")

    def test_client_ca_without_tls_is_refused_even_without_the_schema(self):
        # values.schema.json refuses it first (invalid/client-ca-without-tls.yaml); the template's own check keeps
        # `--skip-schema-validation` from installing servers that silently accept clients without certificates.
        result = chartlib.helm_template(set_values=["tls.clientCASecretName=parkbase-client-ca"], check=False,
                                        extra=["--skip-schema-validation"])
        self.assertNotEqual(result.returncode, 0, "rendered a client CA without TLS")
        self.assertRegex(result.stderr, r'tls\.clientCASecretName \("parkbase-client-ca"\) needs tls\.enabled')

    def test_services_and_autoscalers_point_at_their_deployment(self):
        for _, values, objects in self.each_values_set():
            deployments = {chartlib.component(d): d for d in chartlib.by_kind(objects, "Deployment")}
            for service in chartlib.by_kind(objects, "Service"):
                deployment = deployments[chartlib.component(service)]
                pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
                self.assertLessEqual(service["spec"]["selector"].items(), pod_labels.items())
                self.assertEqual(deployment["spec"]["selector"]["matchLabels"], service["spec"]["selector"])
                (container,) = chartlib.pod_spec(deployment)["containers"]
                names = {p["name"] for p in container["ports"]}
                for port in service["spec"]["ports"]:
                    self.assertIn(port["targetPort"], names)
                    self.assertEqual(port["name"], port["targetPort"])
            for hpa in chartlib.by_kind(objects, "HorizontalPodAutoscaler"):
                target = deployments[chartlib.component(hpa)]
                self.assertEqual(hpa["spec"]["scaleTargetRef"],
                                 {"apiVersion": "apps/v1", "kind": "Deployment", "name": target["metadata"]["name"]})

    def test_migrations_run_first_as_the_owner(self):
        for _, values, objects in self.each_values_set():
            (job,) = chartlib.by_kind(objects, "Job")
            self.assertEqual(chartlib.hook(job), "pre-install,pre-upgrade")
            (container,) = chartlib.pod_spec(job)["containers"]
            self.assertEqual(container["command"], ["/usr/local/bin/parkbase"])
            self.assertEqual(container["args"][0], "migrate")
            self.assertLessEqual(set(flags(container)), chartlib.SERVER_FLAGS)
            (env,) = container["env"]
            migrations = values["migrations"]
            self.assertEqual(env["name"], "PARKBASE_DATABASE_URL")
            self.assertEqual(env["valueFrom"]["secretKeyRef"], {
                "name": migrations["existingSecret"] or values["database"]["existingSecret"],
                "key": migrations["key"] or values["database"]["key"]})
            self.assertEqual(chartlib.pod_spec(job)["restartPolicy"], "Never")

    def test_migrations_use_the_serving_role_only_when_allowed(self):
        for name, values, objects in self.each_values_set():
            (job,) = chartlib.by_kind(objects, "Job")
            (container,) = chartlib.pod_spec(job)["containers"]
            (env,) = container["env"]
            if name == "default":
                self.assertEqual(env["valueFrom"]["secretKeyRef"], {"name": "parkbase-database-owner", "key": "url"},
                                 "by default the migrations Job logs in as the owner, never as the services' role")
            database = values["database"]
            serving = env["valueFrom"]["secretKeyRef"] == {"name": database["existingSecret"], "key": database["key"]}
            self.assertEqual(serving, values["migrations"]["allowServingRoleAsOwner"],
                             "the migrations Job logs in as the services' role exactly when that is allowed")

    def test_notes_warn_when_the_serving_role_owns_the_tables(self):
        for name, values, objects in self.each_values_set():
            (job,) = chartlib.by_kind(objects, "Job")
            (env,) = chartlib.pod_spec(job)["containers"][0]["env"]
            database = values["database"]
            serving = env["valueFrom"]["secretKeyRef"] == {"name": database["existingSecret"], "key": database["key"]}
            path = dict(chartlib.values_sets())[name]
            notes = chartlib.render_notes([path] if path else [])
            if not serving:
                self.assertNotIn("WARNING", notes)
                continue
            first_lines = "\n".join(notes.splitlines()[:3])
            self.assertIn("WARNING: THE SERVICES' DATABASE ROLE OWNS EVERY PARKBASE TABLE", first_lines,
                          "the warning opens the notes")
            flat = " ".join(notes.split())
            self.assertIn(f"(Secret {database['existingSecret']}, key {database['key']})", flat)
            self.assertIn("can switch its row-level security off", flat)
            self.assertIn("The servers refuse to start when their role owns a tenant table", flat)
            self.assertIn("set migrations.existingSecret", flat)

    def test_helm_test_pod_checks_every_enabled_service(self):
        for _, values, objects in self.each_values_set():
            (pod,) = [o for o in chartlib.by_kind(objects, "Pod") if chartlib.hook(o) == "test"]
            services = {s["metadata"]["name"]: s for s in chartlib.by_kind(objects, "Service")}
            checked = set()
            port = values["ports"]["health" if values["tls"]["enabled"] else "grpc"]
            for container in pod["spec"]["containers"]:
                self.assertEqual(container["command"], ["/usr/local/bin/parkbase"])
                self.assertEqual(container["args"][0], "health")
                parsed = flags(container)
                host, _, address_port = parsed["address"].partition(":")
                self.assertIn(host, services)
                self.assertEqual(int(address_port), port)
                name = chartlib.component(services[host])
                self.assertEqual(parsed["service"], values[name]["healthService"])
                checked.add(name)
            self.assertEqual(checked, {s for s in chartlib.SERVICES if values[s]["enabled"]})

    def test_service_monitor_scrapes_the_metrics_port(self):
        for _, values, objects in self.each_values_set():
            for monitor in chartlib.by_kind(objects, "ServiceMonitor"):
                self.assertEqual(monitor["apiVersion"], "monitoring.coreos.com/v1")
                settings = values["metrics"]["serviceMonitor"]
                self.assertLessEqual(settings.get("labels", {}).items(), monitor["metadata"]["labels"].items())
                (endpoint,) = monitor["spec"]["endpoints"]
                self.assertEqual(endpoint, {"port": "http-metrics", "path": "/metrics", "scheme": "http",
                                            "interval": settings["interval"],
                                            "scrapeTimeout": settings["scrapeTimeout"]})
                selector = monitor["spec"]["selector"]["matchLabels"]
                for service in chartlib.by_kind(objects, "Service"):
                    self.assertLessEqual(selector.items(), service["metadata"]["labels"].items())
                    self.assertIn("http-metrics", {p["name"] for p in service["spec"]["ports"]})

    def test_metrics_are_open_only_to_the_monitoring_namespace(self):
        for name, values, objects in self.each_values_set():
            np = values["networkPolicy"]
            for policy in chartlib.by_kind(objects, "NetworkPolicy"):
                (rule,) = [r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "http-metrics"]
                self.assertEqual(rule["ports"], [{"port": "http-metrics", "protocol": "TCP"}])
                # A rule without `from` admits every source: /metrics would tell anyone every tenant id.
                if name == "default":
                    self.assertEqual(rule.get("from"), [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": "monitoring"}}}], "by default only the monitoring namespace")
                monitoring = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name":
                                                                      np["monitoringNamespace"]}}}]
                self.assertEqual(rule.get("from"), np["metricsFrom"] or monitoring)

    def test_network_policy_opens_only_the_servers_ports(self):
        for _, values, objects in self.each_values_set():
            for policy in chartlib.by_kind(objects, "NetworkPolicy"):
                ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
                self.assertEqual(ports, {"grpc", "grpc-health", "http-metrics"})
                egress = values["networkPolicy"]["egress"]["enabled"]
                self.assertEqual("Egress" in policy["spec"]["policyTypes"], egress)

    def test_the_gateway_routes_every_enabled_service_and_nothing_else(self):
        for _, values, objects in self.each_values_set():
            deployments = chartlib.gateway_objects(objects, "Deployment")
            if not values["gateway"]["enabled"]:
                self.assertEqual([o for o in objects if chartlib.component_or_none(o) == "gateway"], [])
                continue
            (deployment,) = deployments
            (container,) = chartlib.pod_spec(deployment)["containers"]
            self.assertEqual(container["command"], ["/usr/local/bin/parkbase"])
            self.assertEqual(container["args"][0], "gateway")
            parsed = flags(container)
            self.assertLessEqual(set(parsed), chartlib.GATEWAY_FLAGS, "a flag parkbase gateway does not have")
            self.assertNotIn("env", container, "the gateway needs no secret")
            enabled = [s for s in chartlib.SERVICES if values[s]["enabled"]]
            services = {chartlib.component(o): o["metadata"]["name"] for o in chartlib.by_kind(objects, "Service")}
            expected = ",".join(f"{s}={services[s]}:{values['ports']['grpc']}" for s in enabled)
            self.assertEqual(parsed["gateway_backends"], expected)
            self.assertEqual(parsed["http_listen"], f"0.0.0.0:{values['ports']['http']}")
            (service,) = chartlib.gateway_objects(objects, "Service")
            self.assertEqual({p["name"]: p["port"] for p in service["spec"]["ports"]},
                             {"http": values["ports"]["http"], "http-metrics": values["ports"]["metrics"]})
            self.assertEqual(service["spec"]["selector"],
                             deployment["spec"]["selector"]["matchLabels"])

    def test_the_gateway_serves_the_console_from_the_images_folder_unless_turned_off(self):
        for _, values, objects in self.each_values_set():
            for deployment in chartlib.gateway_objects(objects, "Deployment"):
                (container,) = chartlib.pod_spec(deployment)["containers"]
                console = values["gateway"]["console"]
                self.assertEqual(flags(container).get("console_dir"), console["dir"] if console["enabled"] else None)
        # The default is where deploy/Dockerfile copies the built console.
        dockerfile = (chartlib.REPO_ROOT / "deploy" / "Dockerfile").read_text()
        (deployment,) = chartlib.gateway_objects(chartlib.render(), "Deployment")
        (container,) = chartlib.pod_spec(deployment)["containers"]
        default_dir = flags(container)["console_dir"]
        self.assertIn(f"COPY --from=console /console/dist/ {default_dir}/", dockerfile)
        (deployment,) = chartlib.gateway_objects(chartlib.render(set_values=["gateway.console.enabled=false"]),
                                                 "Deployment")
        (container,) = chartlib.pod_spec(deployment)["containers"]
        self.assertNotIn("console_dir", flags(container))

    def test_the_gateway_probes_its_healthz_and_speaks_tls_with_the_servers(self):
        for _, values, objects in self.each_values_set():
            for deployment in chartlib.gateway_objects(objects, "Deployment"):
                (container,) = chartlib.pod_spec(deployment)["containers"]
                tls = values["tls"]["enabled"]
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    self.assertEqual(container[probe]["httpGet"],
                                     {"path": "/healthz", "port": "http", "scheme": "HTTPS" if tls else "HTTP"})
                parsed = flags(container)
                self.assertEqual("tls_cert_file" in parsed, tls)
                self.assertEqual("gateway_backend_ca_file" in parsed, tls)

    def test_the_gateway_is_refused_with_mutual_tls(self):
        result = chartlib.helm_template(set_values=["tls.enabled=true", "tls.secretName=t",
                                                    "tls.clientCASecretName=ca"], check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("gateway.enabled with tls.clientCASecretName", result.stderr)
        objects = chartlib.render(set_values=["tls.enabled=true", "tls.secretName=t", "tls.clientCASecretName=ca",
                                              "gateway.enabled=false"])
        self.assertEqual(chartlib.gateway_objects(objects, "Deployment"), [])

    def test_the_gateway_network_policy_opens_http_and_metrics_and_the_servers_admit_it(self):
        for _, values, objects in self.each_values_set():
            for policy in chartlib.gateway_objects(objects, "NetworkPolicy"):
                ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
                self.assertEqual(ports, {"http", "http-metrics"})
            if values["gateway"]["enabled"] and values["networkPolicy"]["grpcFrom"]:
                for policy in chartlib.by_kind(objects, "NetworkPolicy"):
                    sources = [peer for rule in policy["spec"]["ingress"] for peer in rule.get("from", [])
                               if rule["ports"][0]["port"] == "grpc"]
                    self.assertTrue(any(peer.get("podSelector", {}).get("matchLabels", {}).get(
                        "app.kubernetes.io/component") == "gateway" for peer in sources), "gateway may call grpc")


if __name__ == "__main__":
    unittest.main(verbosity=2)
