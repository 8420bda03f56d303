"""The chart README lists every value of values.yaml with a type, its default and a description, and no value that
does not exist. Values whose schema is a structure (properties) are listed key by key; free-form objects, arrays,
resources and probes as one row with a JSON default. The four service blocks share one table, a column each.
"""

import json
import re
import unittest

import yaml

import chartlib

# Objects listed as one row although the schema spells out their keys.
WHOLE_OBJECTS = {"#/definitions/resources", "#/definitions/probe"}
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$")


def cells(row_rest):
    return [cell.strip() for cell in row_rest.split("|")]


class Readme(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.values = yaml.safe_load((chartlib.CHART / "values.yaml").read_text())
        cls.schema = json.loads((chartlib.CHART / "values.schema.json").read_text())
        cls.shared_rows, cls.service_rows = {}, {}
        table = None
        for line in (chartlib.CHART / "README.md").read_text().splitlines():
            if line.startswith("| Key |"):
                table = cls.service_rows if "`tenant`" in line else cls.shared_rows
                continue
            match = ROW.match(line)
            if match and table is not None:
                table[match.group(1)] = cells(match.group(2))
            elif not line.startswith("|"):
                table = None

    def resolve(self, node):
        while "$ref" in node and node["$ref"] not in WHOLE_OBJECTS:
            node = self.schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
        return node

    def leaves(self, value, node, prefix):
        node = self.resolve(node)
        if isinstance(value, dict) and "properties" in node and "$ref" not in node:
            for key, sub in value.items():
                self.assertIn(key, node["properties"], f"{'.'.join(prefix + [key])} is not in the schema")
                yield from self.leaves(sub, node["properties"][key], prefix + [key])
        else:
            yield ".".join(prefix), value

    def check_row(self, path, row, defaults):
        self.assertTrue(row[0], f"{path}: no type")
        self.assertTrue(row[-1], f"{path}: no description")
        for cell, default in zip(row[1:-1], defaults, strict=True):
            self.assertRegex(cell, r"^`.*`$", f"{path}: default not in backticks")
            self.assertEqual(json.loads(cell.strip("`")), default, f"{path}: README shows another default")

    def test_shared_values(self):
        expected = {}
        for key, value in self.values.items():
            if key in chartlib.SERVICES:
                continue
            expected.update(self.leaves(value, self.schema["properties"][key], [key]))
        self.assertEqual(sorted(expected.keys() - self.shared_rows.keys()), [], "values missing from the README")
        self.assertEqual(sorted(self.shared_rows.keys() - expected.keys()), [], "README rows for no value")
        for path, default in expected.items():
            with self.subTest(path):
                self.check_row(path, self.shared_rows[path], [default])

    def test_per_service_values(self):
        expected = {}
        for service in chartlib.SERVICES:
            for path, default in self.leaves(self.values[service], self.schema["properties"][service], []):
                expected.setdefault(path, []).append(default)
        self.assertEqual(sorted(expected.keys() - self.service_rows.keys()), [], "values missing from the README")
        self.assertEqual(sorted(self.service_rows.keys() - expected.keys()), [], "README rows for no value")
        for path, defaults in expected.items():
            with self.subTest(path):
                self.check_row(path, self.service_rows[path], defaults)


if __name__ == "__main__":
    unittest.main(verbosity=2)
