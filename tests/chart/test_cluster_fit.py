"""The values that fit the chart into a real cluster, after Bitnami's and Grafana's charts: the Kubernetes versions
it accepts and a registry mirror (global.imageRegistry).
"""

import unittest

import chartlib


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


if __name__ == "__main__":
    unittest.main(verbosity=2)
