"""The alerts and the dashboard the chart ships (metrics.prometheusRule, metrics.grafanaDashboard).

- The PrometheusRule holds exactly the rules of deploy/prometheus/parkbase-rules.yaml (a link to the chart's
  files/parkbase-rules.yaml), and `promtool check rules` and `promtool test rules` pass on its rendered spec.
- kubeconform has no schema for the Prometheus Operator's CRDs, so the PrometheusRule's shape is checked here
  against the fields of monitoring.coreos.com/v1.
- Every metric an alert or a dashboard query names is one the C++ sources register (prometheus-cpp's
  Build<Type>().Name("...")) or one of ALLOWED_FOREIGN_METRICS; the dashboard's queries parse (promtool).

    test_monitoring.py                     the checks
    test_monitoring.py --names EXPR...     prints the metrics EXPR names that Parkbase does not export (exit 1 if any)
"""

import json
import re
import sys
import unittest

import yaml

import chartlib
from test_render import merged_values

RULES_FILE = chartlib.REPO_ROOT / "deploy" / "prometheus" / "parkbase-rules.yaml"
RULES_TESTS = chartlib.REPO_ROOT / "deploy" / "prometheus" / "parkbase-rules.test.yaml"
DASHBOARD_FILE = chartlib.CHART / "files" / "parkbase-dashboard.json"
SOURCES = chartlib.REPO_ROOT / "services"

# Series Parkbase does not export but its alerts may name: Prometheus' own, and kube-state-metrics' (listed one by
# one, so a misspelt kube_* name still fails).
ALLOWED_FOREIGN_METRICS = frozenset({
    "up",
    "kube_deployment_status_replicas_available",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
    "kube_pod_container_status_restarts_total",
    "kube_job_status_failed",
})

# prometheus-cpp registers a family with Build<Type>().Name("..."), possibly over several lines.
FAMILY = re.compile(r'Build(Counter|Gauge|Histogram|Summary)\(\)\s*\.Name\("([a-zA-Z_:][a-zA-Z0-9_:]*)"\)')
SUFFIXES = {"Counter": ("",), "Gauge": ("",), "Histogram": ("_bucket", "_sum", "_count"),
            "Summary": ("", "_sum", "_count")}
PROMQL_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                             "group_left", "group_right", "atan2", "inf", "nan"})
# The fields of monitoring.coreos.com/v1 PrometheusRule's spec.groups[] and rules[].
GROUP_FIELDS = {"name", "interval", "rules", "partial_response_strategy", "limit", "query_offset", "labels"}
RULE_FIELDS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
# What Grafana substitutes before a query reaches Prometheus, for parsing the dashboard's queries with promtool.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$namespace": ".*"}


def exported_metrics():
    """Every series name the C++ services register."""
    names = set()
    for source in sorted(SOURCES.rglob("*")):
        if source.suffix not in (".cc", ".h"):
            continue
        for kind, name in FAMILY.findall(source.read_text(errors="replace")):
            names.update(name + suffix for suffix in SUFFIXES[kind])
    return names


def metric_names(expr):
    """The metric names a PromQL expression selects (not functions, label names, keywords or variables)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        word, call = match.groups()
        if not call and word.lower() not in PROMQL_KEYWORDS:
            names.add(word)
    return names


def unknown_metrics(exprs, exported):
    """{name: [expr, ...]} for each metric the expressions name that is neither exported nor allowed."""
    unknown = {}
    for expr in exprs:
        for name in metric_names(expr) - exported - ALLOWED_FOREIGN_METRICS:
            unknown.setdefault(name, []).append(expr)
    return unknown


def rules_file():
    return yaml.safe_load(RULES_FILE.read_text())


def dashboard():
    return json.loads(DASHBOARD_FILE.read_text())


def dashboard_exprs(board):
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def rule_exprs(groups):
    return [rule["expr"] for group in groups for rule in group["rules"]]


class Monitoring(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = chartlib.work_dir() / "monitoring"
        cls.work.mkdir(parents=True, exist_ok=True)
        cls.exported = exported_metrics()

    def render_rule(self, set_values=()):
        objects = chartlib.render(set_values=["metrics.prometheusRule.enabled=true", *set_values])
        (rule,) = [o for o in objects if o["kind"] == "PrometheusRule"]
        return rule

    def test_objects_appear_only_when_enabled(self):
        for name, path in chartlib.values_sets():
            with self.subTest(name):
                objects = chartlib.render([path] if path else [])
                metrics = merged_values(path)["metrics"]
                rules = [o for o in objects if o["kind"] == "PrometheusRule"]
                self.assertEqual(len(rules), 1 if metrics["prometheusRule"]["enabled"] else 0)
                maps = [o for o in objects if o["kind"] == "ConfigMap" and chartlib.component(o) == "metrics"]
                self.assertEqual(len(maps), 1 if metrics["grafanaDashboard"]["enabled"] else 0)
        self.assertFalse(chartlib.default_values()["metrics"]["prometheusRule"]["enabled"], "off by default")
        self.assertFalse(chartlib.default_values()["metrics"]["grafanaDashboard"]["enabled"], "off by default")

    def test_the_rule_holds_the_rules_file(self):
        # deploy/prometheus's file is the chart's (a link), so both name the same rules; a copy would drift.
        self.assertTrue(RULES_FILE.is_symlink(), f"{RULES_FILE} must stay a link to the chart's file")
        self.assertEqual(RULES_FILE.resolve(), (chartlib.CHART / "files" / "parkbase-rules.yaml").resolve())
        rule = self.render_rule(["metrics.prometheusRule.labels.release=kps"])
        self.assertEqual(rule["apiVersion"], "monitoring.coreos.com/v1")
        self.assertEqual(rule["metadata"]["labels"]["release"], "kps")
        self.assertEqual(rule["spec"], {"groups": rules_file()["groups"]})

    def test_additional_rule_labels_go_on_every_rule_without_replacing_its_own(self):
        rule = self.render_rule(["metrics.prometheusRule.additionalRuleLabels.team=iot",
                                 "metrics.prometheusRule.additionalRuleLabels.severity=low"])
        expected = rules_file()["groups"]
        for group, want in zip(rule["spec"]["groups"], expected, strict=True):
            for got, own in zip(group["rules"], want["rules"], strict=True):
                self.assertEqual(got["labels"], {"team": "iot", **own["labels"]}, got["alert"])
                self.assertIn(got["labels"]["severity"], ("page", "ticket"))

    def test_the_rule_has_the_prometheus_operators_shape(self):
        rule = self.render_rule()
        self.assertEqual(rule["kind"], "PrometheusRule")
        self.assertEqual(set(rule), {"apiVersion", "kind", "metadata"} | {"spec"})
        self.assertEqual(set(rule["spec"]), {"groups"})
        names = set()
        for group in rule["spec"]["groups"]:
            self.assertLessEqual(set(group), GROUP_FIELDS, group.get("name"))
            self.assertIsInstance(group["name"], str)
            self.assertNotIn(group["name"], names, "group names must be unique")
            names.add(group["name"])
            self.assertTrue(group["rules"], group["name"])
            for item in group["rules"]:
                what = item.get("alert") or item.get("record")
                self.assertLessEqual(set(item), RULE_FIELDS, what)
                self.assertEqual(("alert" in item) + ("record" in item), 1, f"{what}: alert or record, not both")
                self.assertIsInstance(item["expr"], str, what)
                for key in ("for", "keep_firing_for"):
                    if key in item:
                        self.assertRegex(item[key], DURATION, what)
                for key in ("labels", "annotations"):
                    for name, value in item.get(key, {}).items():
                        self.assertIsInstance(value, str, f"{what}: {key}.{name}")
                if "alert" in item:
                    self.assertIn(item["labels"]["severity"], ("page", "ticket"), what)
                    self.assertTrue(item["annotations"]["summary"], what)
                    self.assertRegex(item["annotations"]["runbook"], r"^docs/operations\.md#[-a-z0-9]+$", what)

    def test_every_runbook_anchor_exists(self):
        anchors, fenced = set(), False
        for line in (chartlib.REPO_ROOT / "docs" / "operations.md").read_text().splitlines():
            fenced ^= line.startswith("```")
            if line.startswith("#") and not fenced:
                # GitHub's anchors: lower case, punctuation dropped, spaces to hyphens.
                anchors.add(re.sub(r"[^-a-z0-9 ]", "", line.lstrip("#").strip().lower()).replace(" ", "-"))
        for group in rules_file()["groups"]:
            for item in group["rules"]:
                anchor = item["annotations"]["runbook"].split("#", 1)[1]
                self.assertIn(anchor, anchors, f"{item['alert']}: no section #{anchor} in docs/operations.md")

    def test_promtool_checks_and_tests_the_rendered_rules(self):
        promtool = chartlib.tool("promtool")
        rendered = self.work / "parkbase-rules.yaml"
        rendered.write_text(yaml.safe_dump({"groups": self.render_rule()["spec"]["groups"]}, sort_keys=False))
        chartlib.run([promtool, "check", "rules", str(rendered)])
        # The unit tests of deploy/prometheus, run against the rendered rules (their rule_files names the file).
        (self.work / RULES_TESTS.name).write_text(RULES_TESTS.read_text())
        chartlib.run([promtool, "test", "rules", RULES_TESTS.name], cwd=self.work)

    def test_the_dashboard_config_map(self):
        objects = chartlib.render(set_values=[
            "metrics.grafanaDashboard.enabled=true", "metrics.grafanaDashboard.sidecarLabel=dashboards",
            "metrics.grafanaDashboard.sidecarLabelValue=parkbase", "metrics.grafanaDashboard.namespace=monitoring",
            "metrics.grafanaDashboard.annotations.grafana_folder=Parkbase"])
        (config_map,) = [o for o in objects if o["kind"] == "ConfigMap" and chartlib.component(o) == "metrics"]
        self.assertEqual(config_map["metadata"]["labels"]["dashboards"], "parkbase")
        self.assertEqual(config_map["metadata"]["namespace"], "monitoring")
        self.assertEqual(config_map["metadata"]["annotations"], {"grafana_folder": "Parkbase"})
        self.assertEqual(list(config_map["data"]), ["parkbase.json"])
        self.assertEqual(json.loads(config_map["data"]["parkbase.json"]), dashboard(), "shipped as written")
        default = chartlib.render(set_values=["metrics.grafanaDashboard.enabled=true"])
        (config_map,) = [o for o in default if o["kind"] == "ConfigMap" and chartlib.component(o) == "metrics"]
        self.assertEqual(config_map["metadata"]["labels"]["grafana_dashboard"], "1", "the Grafana chart's default")
        self.assertNotIn("namespace", config_map["metadata"], "the release's namespace")

    def test_the_dashboard_covers_what_operators_look_at(self):
        board = dashboard()
        self.assertEqual(board["uid"], "parkbase-overview")
        panels = [p for p in board["panels"] if p["type"] != "row"]
        self.assertEqual(len({p["id"] for p in board["panels"]}), len(board["panels"]), "panel ids are unique")
        for panel in panels:
            self.assertEqual(panel["datasource"]["uid"], "${datasource}", panel["title"])
            self.assertTrue(panel["targets"], panel["title"])
        rows = {p["title"] for p in board["panels"] if p["type"] == "row"}
        self.assertLessEqual({"Calls", "Telemetry ingest", "Backlog", "Connection pools", "Tenants"}, rows)
        named = set().union(*(metric_names(e) for e in dashboard_exprs(board)))
        for metric in ("grpc_server_handled_total", "grpc_server_handling_seconds_bucket",
                       "parkbase_points_ingested_total", "parkbase_telemetry_ingest_backlog_points",
                       "parkbase_pool_connections_in_use", "parkbase_pool_acquire_timeouts_total",
                       "parkbase_telemetry_compaction_failures_total", "parkbase_grpc_server_open_streams"):
            self.assertIn(metric, named)

    def test_the_dashboards_queries_parse(self):
        records = []
        for number, expr in enumerate(dashboard_exprs(dashboard())):
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            self.assertNotIn("$", expr, "a Grafana variable GRAFANA_VARIABLES does not know")
            records.append({"record": f"parkbase:dashboard_query:{number}", "expr": expr})
        path = self.work / "dashboard-queries.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
        chartlib.run([chartlib.tool("promtool"), "check", "rules", str(path)])

    def test_every_metric_named_is_exported(self):
        self.assertIn("grpc_server_handling_seconds_bucket", self.exported, "the source scan found no histogram")
        self.assertIn("parkbase_telemetry_ingest_backlog_points", self.exported)
        exprs = rule_exprs(rules_file()["groups"]) + dashboard_exprs(dashboard())
        self.assertEqual(unknown_metrics(exprs, self.exported), {})

    def test_an_unknown_metric_is_caught(self):
        # The check above must be able to fail: names planted in real expressions are reported, allowed ones not.
        planted = ['sum by (tenant) (rate(parkbase_points_ingestd_total{tenant="t"}[5m])) > 0',
                   'kube_deployment_status_replicas_availible{deployment=~".*parkbase.*"} == 0',
                   'histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds[5m])))',
                   'up == 0 and on (instance) kube_job_status_failed > 0']
        self.assertEqual(set(unknown_metrics(planted, self.exported)),
                         {"parkbase_points_ingestd_total", "kube_deployment_status_replicas_availible",
                          "grpc_server_handling_seconds"})
        self.assertEqual(metric_names('sum by (grpc_code) (rate(x_total{a="b(c)"}[$__rate_interval])) / 1e3'),
                         {"x_total"})


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--names":
        missing = unknown_metrics(sys.argv[2:], exported_metrics())
        for name in sorted(missing):
            print(name)
        sys.exit(1 if missing else 0)
    unittest.main(verbosity=2)
