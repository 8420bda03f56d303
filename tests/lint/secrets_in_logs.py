#!/usr/bin/env python3
"""No secret in any log line: reads every key the test run used (tests/support records them in
$PARKBASE_TEST_SECRETS_DIR/secrets-*.txt; server_e2e.sh adds its own) and every server log line the run produced
(CTest's LastTest.log, which holds each test's output, and any extra log files given), and fails when a log line
holds the secret part of any key.

    secrets_in_logs.py --secrets-dir DIR --log FILE [--log FILE...]
    secrets_in_logs.py --self-test

Server log lines are the JSON objects the servers write to stderr (one a line, with a "msg"); other output (a test's
own printout, the dev script telling its user which key to use) is not a log line and is not read.
"""
import argparse
import glob
import json
import os
import re
import sys
import tempfile

SECRET = re.compile(r"[0-9a-f]{64}")


def secrets_in(text):
    """The 64-hex-digit secret parts of the keys in `text` (one key, or any string a test sent as one)."""
    return set(SECRET.findall(text))


def load_secrets(directory):
    secrets = set()
    for path in glob.glob(os.path.join(directory, "secrets-*.txt")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                secrets |= secrets_in(line.strip())
    return secrets


def log_lines(path):
    """The server log lines of a file: JSON objects with a "msg" field, wherever they start on the line."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            start = line.find('{"')
            if start < 0 or '"msg"' not in line:
                continue
            try:
                json.loads(line[start:])
            except ValueError:
                continue
            yield number, line


def check(secrets, logs):
    """Returns (lines read, [(file, line number, secret prefix)] of leaks)."""
    read, leaks = 0, []
    for path in logs:
        for number, line in log_lines(path):
            read += 1
            for candidate in SECRET.findall(line):
                if candidate in secrets:
                    leaks.append((path, number, candidate[:8]))
    return read, leaks


def self_test():
    """The check finds a planted secret, and passes a clean log: it is not a check that cannot fail."""
    secret = "ab" * 32
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "secrets-1.txt"), "w") as f:
            f.write(f"pbk.acme.0123456789abcdef0123456789abcdef.{secret}\n")
        clean = os.path.join(d, "clean.log")
        with open(clean, "w") as f:
            f.write('{"msg":"rpc","error":"key: unknown","payload_sha256":"' + "cd" * 32 + '"}\n')
            f.write(f"export PARKBASE_KEY=pbk.acme.0123.{secret}   # the dev script's advice, not a log line\n")
        leaky = os.path.join(d, "leaky.log")
        with open(leaky, "w") as f:
            f.write('123: {"msg":"rpc","error":"bad key pbk.acme.x.' + secret + '"}\n')
        secrets = load_secrets(d)
        assert secrets == {secret}, secrets
        read, leaks = check(secrets, [clean])
        assert read == 1 and not leaks, (read, leaks)
        read, leaks = check(secrets, [leaky])
        assert read == 1 and len(leaks) == 1, (read, leaks)
    print("secrets check self-test: a planted secret is found, a clean log passes")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secrets-dir")
    parser.add_argument("--log", action="append", default=[])
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.secrets_dir or not args.log:
        parser.error("--secrets-dir and at least one --log are required")
    secrets = load_secrets(args.secrets_dir)
    logs = [p for p in args.log if os.path.isfile(p)]
    read, leaks = check(secrets, logs)
    for path, number, prefix in leaks:
        print(f"secret {prefix}… of a key the tests used is in {path}:{number}", file=sys.stderr)
    print(f"secrets check: {len(secrets)} keys used by the tests, {read} server log lines in {len(logs)} files, "
          f"{len(leaks)} leaks")
    if not secrets or not read:
        print("secrets check: nothing to compare (no keys recorded or no log lines): the check proved nothing",
              file=sys.stderr)
        return 1
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
