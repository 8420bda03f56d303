"""Bad values are refused: for each file in invalid/, `helm template` must fail with an error that names what is
wrong (the file's '# expect: REGEX' line), and so must `helm lint`.

Most rules live in values.schema.json, which both commands enforce. A few compare two values, which JSON Schema
cannot, and are `fail` calls in templates/_helpers.tpl (files marked '# refused-by: template'): Helm's lint mode
turns `fail` into an INFO line by design, so for those lint must report the message and template must fail.

    test_rejects.py [invalid/NAME.yaml ...]    one case per file; all of invalid/ by default
"""

import re
import sys
import unittest
from pathlib import Path

import chartlib


def header(path, name):
    for line in path.read_text().splitlines():
        if line.startswith(f"# {name}:"):
            return line.removeprefix(f"# {name}:").strip()
    return None


class RejectsBadValues(unittest.TestCase):
    files = sorted(chartlib.INVALID_DIR.glob("*.yaml"))

    def test_each_file_is_refused(self):
        self.assertTrue(self.files, "no invalid values files to check")
        for path in self.files:
            with self.subTest(path.stem):
                expect = header(path, "expect")
                self.assertIsNotNone(expect, f"{path.name}: no '# expect: REGEX' line names the error it causes")
                pattern = re.compile(expect)
                by_template = (header(path, "refused-by") or "schema").startswith("template")

                template = chartlib.helm_template([path], check=False)
                self.assertNotEqual(template.returncode, 0, f"helm template accepted {path.name}")
                self.assertRegex(template.stderr, pattern, f"helm template refused {path.name} for another reason")

                lint = chartlib.run([chartlib.tool("helm"), "lint", "--strict", "--debug", str(chartlib.CHART),
                                     "--kube-version", chartlib.kubernetes_version(), "--values", str(path)],
                                    check=False)
                output = lint.stdout + lint.stderr
                if by_template:
                    self.assertRegex(output, r"\[INFO\] Fail: .*" + expect, f"helm lint did not report {path.name}")
                else:
                    self.assertNotEqual(lint.returncode, 0, f"helm lint accepted {path.name}:\n{output}")
                    self.assertRegex(output, pattern, f"helm lint refused {path.name} for another reason")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        RejectsBadValues.files = [Path(arg).resolve() for arg in sys.argv[1:]]
        del sys.argv[1:]
    unittest.main(verbosity=2)
