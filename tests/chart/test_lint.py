"""`helm lint --strict` passes with the default values and with every values set in values/."""

import unittest

import chartlib


class Lint(unittest.TestCase):
    def test_lint_each_values_set(self):
        for name, path in chartlib.values_sets():
            with self.subTest(name):
                result = chartlib.helm_lint([path] if path else [])
                self.assertIn("0 chart(s) failed", result.stdout)
                self.assertNotIn("[WARNING]", result.stdout)
                self.assertNotIn("[ERROR]", result.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
