#!/usr/bin/env python3
"""Reads api-linter's JSON findings for tests/lint/api_linter.sh: prints them one a line and fails when any is left,
and fails on an exception of proto/api-linter.yaml that suppresses nothing.

  api_linter_report.py --findings KEPT.json --all-findings ALL.json --config proto/api-linter.yaml
  api_linter_report.py --findings ALL.json --summary
  api_linter_report.py --self-test

The config is read by a small reader of the one shape that file has (a list of entries, each with
`included_paths` and `disabled_rules` lists), so the test needs no YAML package; anything else in it is an error.
"""

import argparse
import collections
import fnmatch
import json
import re
import sys


def read_findings(path):
    """[(file, line, rule, message)] from api-linter's --output-format json."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    out = []
    for entry in data or []:
        for problem in entry.get("problems") or []:
            line = problem.get("location", {}).get("start_position", {}).get("line_number", 0)
            out.append((entry["file_path"], line, problem["rule_id"], problem["message"]))
    return out


ITEM = re.compile(r'^\s+-\s+"?([^"#]+?)"?\s*(#.*)?$')


def read_config(text):
    """[(included_paths, disabled_rules)] of api-linter.yaml; raises ValueError on any other shape."""
    entries, key = [], None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^- included_paths:\s*$", line):
            entries.append(([], []))
            key = 0
        elif re.match(r"^  disabled_rules:\s*$", line) and entries:
            key = 1
        elif re.match(r"^  included_paths:\s*$", line) and entries:
            key = 0
        elif key is not None and ITEM.match(line):
            entries[-1][key].append(ITEM.match(line).group(1))
        else:
            raise ValueError(f"line {number}: not understood: {raw!r} (entries are `- included_paths:` lists "
                             f"followed by `disabled_rules:` lists)")
    return entries


def glob_match(path, pattern):
    """api-linter matches paths with doublestar globs; ours use `**/` and `*` only."""
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
    return re.fullmatch(regex, path) is not None or fnmatch.fnmatchcase(path, pattern)


def rule_matches(rule, disabled):
    return rule == disabled or rule.startswith(disabled + "::")


def unused_exceptions(entries, all_findings):
    """Exceptions (paths, rule) that match no finding of the run without the config."""
    unused = []
    for paths, rules in entries:
        for rule in rules:
            if not any(rule_matches(f_rule, rule) and any(glob_match(f_file, p) for p in paths)
                       for f_file, _, f_rule, _ in all_findings):
                unused.append((paths, rule))
    return unused


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", help="api-linter JSON of the run with the config (or without, for --summary)")
    parser.add_argument("--all-findings", help="api-linter JSON of the run without the config")
    parser.add_argument("--config", help="proto/api-linter.yaml")
    parser.add_argument("--summary", action="store_true", help="print the findings and a count per rule; exit 0")
    parser.add_argument("--self-test", action="store_true", help="check this script's reader and matcher")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()

    findings = read_findings(args.findings)
    for file, line, rule, message in sorted(findings):
        print(f"{file}:{line}: {rule}: {message}")
    if args.summary:
        counts = collections.Counter(rule for _, _, rule, _ in findings)
        for rule, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"{count:5d} {rule}")
        print(f"api-linter: {len(findings)} findings without proto/api-linter.yaml")
        return 0

    status = 0
    if findings:
        print(f"api-linter: {len(findings)} findings (listed above): fix them, or add an exception with its reason "
              f"to proto/api-linter.yaml")
        status = 1
    with open(args.config, encoding="utf-8") as f:
        try:
            entries = read_config(f.read())
        except ValueError as e:
            print(f"{args.config}: {e}")
            return 1
    all_findings = read_findings(args.all_findings)
    for paths, rule in unused_exceptions(entries, all_findings):
        print(f"{args.config}: the exception {rule} for {', '.join(paths)} suppresses no finding: remove it")
        status = 1
    if status == 0:
        kept = sum(len(rules) for _, rules in entries)
        print(f"api-linter: no findings; {len(all_findings)} findings are kept as the {kept} exceptions of "
              f"{args.config.split('/')[-1]}, each with its reason")
    return status


def self_test():
    config = read_config('# c\n- included_paths:\n    - "parkbase/**/*.proto"\n  disabled_rules:\n'
                         '    - "core::0191::java-package"  # why\n\n- included_paths:\n'
                         '    - "parkbase/a/v1/a.proto"\n  disabled_rules:\n    - "core::0140"\n')
    assert config == [(["parkbase/**/*.proto"], ["core::0191::java-package"]),
                      (["parkbase/a/v1/a.proto"], ["core::0140"])], config
    try:
        read_config("- included_paths:\n  enabled_rules:\n    - x\n")
        raise AssertionError("an unknown key was accepted")
    except ValueError:
        pass
    assert glob_match("parkbase/a/v1/a.proto", "parkbase/**/*.proto")
    assert not glob_match("other/a.proto", "parkbase/**/*.proto")
    findings = [("parkbase/a/v1/a.proto", 3, "core::0140::abbreviations", "m")]
    assert unused_exceptions(config, findings) == [(["parkbase/**/*.proto"], "core::0191::java-package")]
    print("api_linter_report.py: self-test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
