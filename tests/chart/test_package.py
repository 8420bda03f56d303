"""scripts/package-chart.sh: the packaged chart carries the Artifact Hub metadata given at release time (home,
sources, icon, maintainers), still lints and renders, and the script refuses metadata that is missing or not
https (exit 2, naming the option). Chart.yaml in the repository sets none of it: it cannot know where a park
publishes its build, and invented URLs would be worse than none.
"""

import tarfile
import tempfile
import unittest
from pathlib import Path

import yaml

import chartlib

SCRIPT = chartlib.REPO_ROOT / "scripts" / "package-chart.sh"
GOOD = ["--home", "https://parkbase.example/docs", "--source", "https://git.example/park/parkbase",
        "--source", "https://git.example/park/parkbase-chart", "--icon", "https://parkbase.example/icon.svg",
        "--maintainer", "Park Platform Team <platform@parkbase.example>", "--maintainer", "Li Wei <li.wei@example.cn>"]


def package(args, out):
    return chartlib.run(["bash", str(SCRIPT), *args, "--out", str(out)], check=False)


class Package(unittest.TestCase):
    def test_the_repository_chart_invents_no_metadata(self):
        chart = yaml.safe_load((chartlib.CHART / "Chart.yaml").read_text())
        for key in ("home", "sources", "icon", "maintainers"):
            self.assertNotIn(key, chart, f"Chart.yaml sets {key}: give it to scripts/package-chart.sh instead")

    def test_packaged_chart_carries_the_metadata_and_renders(self):
        out = Path(tempfile.mkdtemp(dir=chartlib.work_dir(), prefix="package-"))
        result = package(GOOD, out)
        self.assertEqual(result.returncode, 0, result.stderr)
        (archive,) = out.glob("parkbase-*.tgz")
        with tarfile.open(archive) as tar:
            chart = yaml.safe_load(tar.extractfile("parkbase/Chart.yaml").read())
        self.assertEqual(chart["home"], "https://parkbase.example/docs")
        self.assertEqual(chart["sources"], ["https://git.example/park/parkbase",
                                            "https://git.example/park/parkbase-chart"])
        self.assertEqual(chart["icon"], "https://parkbase.example/icon.svg")
        self.assertEqual(chart["maintainers"], [{"name": "Park Platform Team", "email": "platform@parkbase.example"},
                                                {"name": "Li Wei", "email": "li.wei@example.cn"}])
        repository = yaml.safe_load((chartlib.CHART / "Chart.yaml").read_text())
        for key in ("name", "version", "appVersion", "kubeVersion", "description"):
            self.assertEqual(chart[key], repository[key], key)
        rendered = chartlib.run([chartlib.tool("helm"), "template", chartlib.RELEASE, str(archive),
                                 *chartlib.helm_values_args()]).stdout
        self.assertIn("kind: Deployment", rendered)

    def test_missing_or_plain_http_metadata_is_refused(self):
        cases = {
            "--home": ["--home", "http://parkbase.example/docs"],
            "--icon": ["--icon", ""],
            "--source": ["--source", "git@git.example:park/parkbase.git"],
            "--maintainer": ["--maintainer", "nobody"],
        }
        for option, replacement in cases.items():
            with self.subTest(option):
                args = list(GOOD)
                index = args.index(option)
                args[index:index + 2] = replacement
                out = Path(tempfile.mkdtemp(dir=chartlib.work_dir(), prefix="package-"))
                result = package(args, out)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(option, result.stderr)
                self.assertEqual(list(out.glob("*.tgz")), [])
        for option in ("--source", "--maintainer"):
            with self.subTest(f"no {option}"):
                args = [a for i, a in enumerate(GOOD) if option not in (a, GOOD[i - 1] if i else "")]
                result = package(args, Path(tempfile.mkdtemp(dir=chartlib.work_dir(), prefix="package-")))
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(option, result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
