"""Every object the chart renders, for each values set, is valid against the official Kubernetes JSON schemas of
the newest release kubernetes-validate ships, checked offline and strictly (unknown fields fail) by kubeconform.

ServiceMonitor and PrometheusRule (the Prometheus Operator's) and GRPCRoute (Gateway API's) are CRDs, not part of
Kubernetes, so no official schema exists: they are the kinds skipped (-skip), and test_render, test_monitoring and
test_cluster_fit check their shape instead. Any other kind without a schema fails the check.
"""

import json
import unittest

import chartlib

SKIPPED_KINDS = ("ServiceMonitor", "PrometheusRule", "GRPCRoute")


class Kubeconform(unittest.TestCase):
    def test_rendered_objects_match_kubernetes_schemas(self):
        kubeconform = chartlib.tool("kubeconform")
        schema_root, version = chartlib.kubeconform_schema_dir()
        location = str(schema_root) + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/" \
                                      "{{ .ResourceKind }}{{ .KindSuffix }}.json"
        # One file per values set, checked in one kubeconform run so each schema is compiled once.
        manifest_dir = chartlib.work_dir() / "manifests"
        manifest_dir.mkdir(parents=True, exist_ok=True)
        for stale in manifest_dir.glob("*.yaml"):
            stale.unlink()
        expected = {}
        for name, path in chartlib.values_sets():
            values = [path] if path else []
            manifest = manifest_dir / f"{name}.yaml"
            manifest.write_text(chartlib.helm_template(values, extra=["--kube-version", version]).stdout)
            for obj in chartlib.render(values):
                want = "statusSkipped" if obj["kind"] in SKIPPED_KINDS else "statusValid"
                expected[(str(manifest), obj["kind"], obj["metadata"]["name"])] = want

        result = chartlib.run(
            [kubeconform, "-strict", "-summary", "-verbose", "-output", "json", "-kubernetes-version", version,
             "-schema-location", location, "-skip", ",".join(SKIPPED_KINDS), str(manifest_dir)],
            check=False)
        self.assertEqual(result.returncode, 0, f"kubeconform refused rendered objects:\n{result.stdout}\n"
                                               f"{result.stderr}")
        report = json.loads(result.stdout)
        seen = {(r["filename"], r["kind"], r["name"]): r["status"] for r in report["resources"]}
        self.assertEqual(seen, expected)


if __name__ == "__main__":
    unittest.main(verbosity=2)
