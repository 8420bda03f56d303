"""The values that fit the chart into a real cluster, after Bitnami's and Grafana's charts: the Kubernetes versions
it accepts, a registry mirror (global.imageRegistry), extra volumes (a private CA) and environment.
"""

import unittest

import yaml

import chartlib
import test_kubeconform


def pods(objects):
    """Every pod spec the chart renders: the Deployments', the migrations Job's and the `helm test` Pod's."""
    return [(obj, chartlib.pod_spec(obj)) for obj in objects if obj["kind"] in ("Deployment", "Job", "Pod")]


class ClusterFit(unittest.TestCase):
    def test_kubernetes_older_than_the_chart_supports_is_refused(self):
        old = chartlib.helm_template(extra=["--kube-version", "1.26.9"], check=False)
        self.assertNotEqual(old.returncode, 0)
        self.assertIn("chart requires kubeVersion: >=1.27.0-0", old.stderr)
        self.assertEqual(chartlib.helm_template(extra=["--kube-version", "1.27.0"]).returncode, 0)

    def test_the_image_registry_goes_in_front_of_every_image(self):
        for registry, digest, want in (
                ("", "", "parkbase/parkbase:0.1.0"),
                ("registry.example.com:5000/mirror", "", "registry.example.com:5000/mirror/parkbase/parkbase:0.1.0"),
                ("registry.example.com", "sha256:" + "a" * 64, "registry.example.com/parkbase/parkbase@sha256:" + "a" * 64)):
            with self.subTest(registry=registry, digest=digest):
                objects = chartlib.render(set_values=[f"global.imageRegistry={registry}", f"image.digest={digest}",
                                                      "image.tag=0.1.0"])
                images = {c["image"] for _, spec in pods(objects)
                          for c in spec["containers"] + spec.get("initContainers", [])}
                self.assertEqual(images, {want})

    def test_extra_volumes_reach_the_servers_and_the_migrations_and_env_from_only_the_servers(self):
        values = chartlib.VALUES_DIR / "private-ca.yaml"
        extra = yaml.safe_load(values.read_text())
        objects = chartlib.render([values])
        servers = chartlib.by_kind(objects, "Deployment")
        (job,) = [o for o in objects if o["kind"] == "Job"]
        self.assertTrue(servers)
        for obj in servers + [job]:
            spec = chartlib.pod_spec(obj)
            (container,) = spec["containers"]
            what = f"{obj['kind']} {obj['metadata']['name']}"
            for volume in extra["extraVolumes"]:
                self.assertIn(volume, spec["volumes"], what)
            for mount in extra["extraVolumeMounts"]:
                self.assertIn(mount, container["volumeMounts"], what)
            # The chart's own volumes stay.
            self.assertIn({"name": "tmp", "mountPath": "/tmp"}, container["volumeMounts"], what)
            if obj["kind"] == "Deployment":
                self.assertEqual(container["envFrom"], extra["extraEnvFrom"], what)
            else:
                self.assertNotIn("envFrom", container, "a server flag in it would stop `parkbase migrate`")
        for obj in chartlib.gateway_objects(objects, "Deployment"):
            self.assertNotIn("envFrom", chartlib.pod_spec(obj)["containers"][0])
        plain = chartlib.render()
        for obj in chartlib.by_kind(plain, "Deployment"):
            self.assertNotIn("envFrom", chartlib.pod_spec(obj)["containers"][0])
            self.assertEqual([v["name"] for v in chartlib.pod_spec(obj)["volumes"]], ["tmp"])

    def test_common_labels_and_annotations_are_on_every_object_and_never_in_a_selector(self):
        values = chartlib.VALUES_DIR / "common-metadata.yaml"
        extra = yaml.safe_load(values.read_text())
        labels, annotations = extra["commonLabels"], extra["commonAnnotations"]
        objects = chartlib.render([values])
        kinds = {o["kind"] for o in objects}
        self.assertLessEqual({"Deployment", "Service", "Job", "Pod", "ServiceAccount", "PrometheusRule",
                              "ServiceMonitor", "ConfigMap", "NetworkPolicy", "PodDisruptionBudget",
                              "HorizontalPodAutoscaler"}, kinds)
        for obj in objects:
            what = f"{obj['kind']} {obj['metadata']['name']}"
            metadata = obj["metadata"]
            self.assertLessEqual(labels.items(), metadata["labels"].items(), what)
            own = {"example.com/tier": "edge"} if obj["kind"] == "Service" else {}
            self.assertLessEqual({**annotations, **own}.items(), metadata["annotations"].items(), what)
            if obj["kind"] in ("Deployment", "Job"):
                self.assertLessEqual(labels.items(), obj["spec"]["template"]["metadata"]["labels"].items(), what)
            for selector in selectors(obj):
                self.assertFalse(labels.keys() & selector.keys(), f"{what}: a common label in a selector")
        hooks = {chartlib.hook(o) for o in objects if chartlib.hook(o)}
        self.assertEqual(hooks, {"pre-install,pre-upgrade", "test"}, "the hooks' own annotations stay")
        for obj in chartlib.render():
            if chartlib.hook(obj) is None:
                self.assertNotIn("annotations", obj["metadata"], f"{obj['kind']}: annotations from nothing")

    def test_each_component_runs_where_its_values_or_the_global_ones_say(self):
        path = chartlib.VALUES_DIR / "scheduling.yaml"
        values = yaml.safe_load(path.read_text())
        objects = chartlib.render([path])
        workloads = [o for o in objects if o["kind"] in ("Deployment", "Job")]
        self.assertEqual(sorted(component_of(o) for o in workloads),
                         sorted(chartlib.SERVICES + ("gateway", "migrations")))
        for obj in workloads:
            name = component_of(obj)
            own = values.get(name, {})
            spec = chartlib.pod_spec(obj)
            with self.subTest(name):
                selector = obj["spec"]["template"]["metadata"]["labels"]
                selector = {k: selector[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                                                     "app.kubernetes.io/component")}
                for key in ("nodeSelector", "tolerations", "affinity"):
                    self.assertEqual(spec[key], own.get(key) or values[key], key)
                want = [{**c, "labelSelector": {"matchLabels": selector}}
                        for c in own.get("topologySpreadConstraints") or values["topologySpreadConstraints"]]
                if name != "migrations":
                    # The chart's own soft spread over nodes follows; a Job's pods are not replicas to spread.
                    want.append({"topologyKey": "kubernetes.io/hostname", "maxSkew": 1,
                                 "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector}})
                self.assertEqual(spec["topologySpreadConstraints"], want)
                self.assertEqual(obj["spec"]["template"]["metadata"]["annotations"],
                                 {**values["podAnnotations"], **own.get("podAnnotations", {})})

    def test_without_scheduling_values_pods_carry_none(self):
        for obj in chartlib.render():
            if obj["kind"] not in ("Deployment", "Job"):
                continue
            spec = chartlib.pod_spec(obj)
            for key in ("nodeSelector", "tolerations", "affinity"):
                self.assertNotIn(key, spec, f"{obj['metadata']['name']}: {key}")
            self.assertNotIn("annotations", obj["spec"]["template"]["metadata"])
            spread = spec.get("topologySpreadConstraints", [])
            self.assertEqual([c["topologyKey"] for c in spread],
                             [] if obj["kind"] == "Job" else ["kubernetes.io/hostname"])

    def test_servers_get_init_containers_and_sidecars_and_the_job_native_sidecars(self):
        init = [{"name": "wait-for-db", "image": "busybox:1.36", "command": ["true"]}]
        sidecar = [{"name": "log-shipper", "image": "fluent-bit:3"}]
        job_init = [{"name": "fetch-ca", "image": "busybox:1.36", "command": ["true"]}]
        job_sidecar = [{"name": "db-proxy", "image": "cloud-sql-proxy:2", "args": ["--port=5432"]}]
        overrides = {"initContainers": init, "sidecars": sidecar,
                     "migrations": {"initContainers": job_init, "sidecars": job_sidecar}}
        path = chartlib.work_dir() / "containers.yaml"
        path.write_text(yaml.safe_dump(overrides))
        objects = chartlib.render([path])
        servers = chartlib.by_kind(objects, "Deployment")
        self.assertTrue(servers)
        for obj in servers:
            spec = chartlib.pod_spec(obj)
            self.assertEqual(spec["initContainers"], init)
            self.assertEqual([c["name"] for c in spec["containers"]], [component_of(obj), "log-shipper"],
                             "the server first, then its sidecars")
            self.assertEqual(spec["containers"][1:], sidecar)
        for obj in chartlib.gateway_objects(objects, "Deployment"):
            self.assertNotIn("initContainers", chartlib.pod_spec(obj))
            self.assertEqual(len(chartlib.pod_spec(obj)["containers"]), 1)
        (job,) = [o for o in objects if o["kind"] == "Job"]
        spec = chartlib.pod_spec(job)
        self.assertEqual([c["name"] for c in spec["containers"]], ["migrate"], "nothing that outlives migrate")
        self.assertEqual(spec["initContainers"], [{**job_sidecar[0], "restartPolicy": "Always"}, *job_init],
                         "native sidecars first, so the init containers can use them")
        kubeconform(self, chartlib.helm_template([path]).stdout)

    def test_job_sidecars_need_kubernetes_1_29(self):
        sidecar = ["migrations.sidecars[0].name=db-proxy", "migrations.sidecars[0].image=cloud-sql-proxy:2"]
        old = chartlib.helm_template(set_values=sidecar, extra=["--kube-version", "1.28.9"], check=False)
        self.assertNotEqual(old.returncode, 0)
        self.assertIn("migrations.sidecars need native sidecar containers (Kubernetes 1.29 or newer", old.stderr)
        chartlib.helm_template(set_values=sidecar, extra=["--kube-version", "1.29.0"])
        chartlib.helm_template(extra=["--kube-version", "1.28.9"])
        chartlib.helm_template(set_values=[*sidecar, "migrations.enabled=false"], extra=["--kube-version", "1.28.9"])

    def test_the_grpc_route_sends_each_service_its_calls(self):
        path = chartlib.VALUES_DIR / "grpc-route.yaml"
        values = yaml.safe_load(path.read_text())["grpcRoute"]
        objects = chartlib.render([path])
        (route,) = [o for o in objects if o["kind"] == "GRPCRoute"]
        services = {o["metadata"]["name"]: o for o in chartlib.by_kind(objects, "Service")}
        # The shape of gateway.networking.k8s.io/v1 GRPCRoute, which kubeconform has no schema for.
        self.assertEqual(route["apiVersion"], "gateway.networking.k8s.io/v1")
        self.assertEqual(set(route), {"apiVersion", "kind", "metadata", "spec"})
        self.assertLessEqual(set(route["spec"]), {"parentRefs", "hostnames", "rules"})
        self.assertEqual(route["spec"]["parentRefs"], values["parentRefs"])
        self.assertEqual(route["spec"]["hostnames"], values["hostnames"])
        self.assertLessEqual(values["labels"].items(), route["metadata"]["labels"].items())
        self.assertEqual(route["metadata"]["annotations"], values["annotations"])
        routed = {}
        for rule in route["spec"]["rules"]:
            self.assertEqual(set(rule), {"matches", "backendRefs"})
            (match,) = rule["matches"]
            self.assertEqual(set(match["method"]), {"type", "service"})
            self.assertEqual(match["method"]["type"], "Exact")
            (backend,) = rule["backendRefs"]
            self.assertEqual(set(backend), {"name", "port"})
            service = services[backend["name"]]
            self.assertIn(backend["port"], [p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc"])
            routed[match["method"]["service"]] = chartlib.component(service)
        self.assertEqual(routed, {chartlib.health_service_name(s): s for s in ("tenant", "device", "telemetry")},
                         "every enabled service, and no other")
        self.assertLessEqual(len(route["spec"]["rules"]), 16, "Gateway API allows at most 16 rules")
        self.assertEqual([o for o in chartlib.render() if o["kind"] == "GRPCRoute"], [], "off by default")
        chartlib.render(set_values=["grpcRoute.enabled=true", "grpcRoute.parentRefs[0].name=edge",
                                    "grpcRoute.hostnames[0]=*.park.example.com"])

    def test_the_ingress_sends_every_path_to_the_rest_gateway(self):
        path = chartlib.VALUES_DIR / "ingress.yaml"
        values = yaml.safe_load(path.read_text())["gateway"]["ingress"]
        objects = chartlib.render([path])
        (ingress,) = [o for o in objects if o["kind"] == "Ingress"]
        (service,) = chartlib.gateway_objects(objects, "Service")
        self.assertEqual(ingress["spec"]["ingressClassName"], values["className"])
        self.assertEqual(ingress["spec"]["tls"], values["tls"])
        self.assertEqual(ingress["metadata"]["annotations"], values["annotations"])
        self.assertEqual([r["host"] for r in ingress["spec"]["rules"]], values["hosts"])
        backend = {"service": {"name": service["metadata"]["name"], "port": {"name": "http"}}}
        self.assertIn("http", [p["name"] for p in service["spec"]["ports"]])
        for rule in ingress["spec"]["rules"]:
            self.assertEqual(rule["http"]["paths"], [{"path": "/", "pathType": "Prefix", "backend": backend}])
        (rule,) = [o for o in chartlib.render(set_values=["gateway.ingress.enabled=true"])
                   if o["kind"] == "Ingress"][0]["spec"]["rules"]
        self.assertNotIn("host", rule, "no hosts: one rule for every host")
        self.assertEqual([o for o in chartlib.render() if o["kind"] == "Ingress"], [], "off by default")
        self.assertEqual([o for o in chartlib.render([path], set_values=["gateway.enabled=false"])
                          if o["kind"] == "Ingress"], [], "no gateway, nothing to route to")


def kubeconform(test, manifest):
    """Checks rendered objects against the Kubernetes schemas, as test_kubeconform does for the values sets."""
    schema_root, version = chartlib.kubeconform_schema_dir()
    location = (str(schema_root) + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/"
                "{{ .ResourceKind }}{{ .KindSuffix }}.json")
    path = chartlib.work_dir() / "cluster-fit-manifest.yaml"
    path.write_text(manifest)
    result = chartlib.run([chartlib.tool("kubeconform"), "-strict", "-summary", "-kubernetes-version", version,
                           "-schema-location", location, "-skip", ",".join(test_kubeconform.SKIPPED_KINDS), str(path)],
                          check=False)
    test.assertEqual(result.returncode, 0, result.stdout + result.stderr)


def component_of(obj):
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def selectors(obj):
    """The label selectors of an object: what must never change after install."""
    spec = obj.get("spec", {})
    found = []
    if obj["kind"] in ("Deployment", "PodDisruptionBudget", "ServiceMonitor"):
        found.append(spec["selector"]["matchLabels"])
    if obj["kind"] == "Service":
        found.append(spec["selector"])
    if obj["kind"] == "NetworkPolicy":
        found.append(spec["podSelector"].get("matchLabels", {}))
    if obj["kind"] == "Deployment":
        for constraint in spec["template"]["spec"].get("topologySpreadConstraints", []):
            found.append(constraint["labelSelector"]["matchLabels"])
    return found


if __name__ == "__main__":
    unittest.main(verbosity=2)
