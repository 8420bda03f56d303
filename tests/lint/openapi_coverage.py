#!/usr/bin/env python3
"""lint.openapi: docs/openapi.json has an operation with the same verb and path for every google.api.http binding
(additional_bindings too) of every method in proto/parkbase, and no operation that no binding has. Paths compare
with their variables unnamed: /v1/{name=tenants/*/devices/*}:disable and /v1/tenants/{tenant}/devices/{device}:disable
are both /v1/tenants/{}/devices/{}:disable. The only methods allowed to be missing are EXCEPTIONS, each with the reason
OpenAPI cannot describe it; an exception that no longer applies fails too, so the list stays true.

  openapi_coverage.py                 check proto/parkbase against docs/openapi.json
  openapi_coverage.py --openapi=FILE  check another document
  openapi_coverage.py --self-test     plant omissions in a copy of the document and fail unless each is reported

Needs protoc and the Python `protobuf` package: run it with "$PB_PYTHON".
"""

import argparse
import copy
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import gen_api_docs  # noqa: E402  (its protoc call and google.api.http decoding)

DEFAULT_OPENAPI = ROOT / "docs" / "openapi.json"

# Methods served over HTTP that OpenAPI cannot describe: it gives one JSON answer to one request.
EXCEPTIONS = {
    "parkbase.telemetry.v1.TelemetryService.Subscribe":
        "a server stream, served as Server-Sent Events (text/event-stream, one JSON message an event, heartbeats)",
    "parkbase.device.v1.DeviceService.ImportDevices":
        "a client stream, uploaded as newline-delimited JSON (application/x-ndjson, one device a line)",
}


def unnamed(path):
    """A path with each variable as {}: a template's {var=a/*/b/*} becomes a/{}/b/{}, an OpenAPI {var} becomes {}."""
    def segment(match):
        pattern = match.group(2)
        return re.sub(r"\*\*?", "{}", pattern) if pattern else "{}"
    return re.sub(r"\{([^}=]*)(?:=([^}]*))?\}", segment, path)


def bindings():
    """{method full name: [(VERB, unnamed path), ...]} of every method with a google.api.http binding."""
    fds = gen_api_docs.compile_protos(gen_api_docs.proto_files())
    rules = gen_api_docs.HttpRules(fds)
    out = {}
    for file in fds.file:
        if not file.name.startswith("parkbase/"):
            continue
        for service in file.service:
            for method in service.method:
                rule = rules.value(method)
                if rule is None:
                    continue
                found = []
                for binding in [rule] + list(rule.additional_bindings):
                    kind = binding.WhichOneof("pattern")
                    if kind == "custom":
                        found.append((binding.custom.kind.upper(), unnamed(binding.custom.path)))
                    elif kind:
                        found.append((kind.upper(), unnamed(getattr(binding, kind))))
                out[f"{file.package}.{service.name}.{method.name}"] = found
    return out


def operations(doc):
    """{(VERB, unnamed path)} of the document's operations."""
    verbs = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(verb.upper(), unnamed(path)) for path, item in doc.get("paths", {}).items() for verb in item
            if verb in verbs}


def problems(methods, doc, exceptions):
    """What is wrong with `doc` against `methods` (bindings()) and `exceptions`; empty when nothing is."""
    out = []
    described = operations(doc)
    for method, found in sorted(methods.items()):
        present = [binding for binding in found if binding in described]
        if method in exceptions:
            if present:
                out.append(f"{method} is listed as an exception but the document describes {present}: drop it "
                           "from EXCEPTIONS")
            continue
        for verb, path in found:
            if (verb, path) not in present:
                out.append(f"{method}: no operation {verb} {path} in the document")
    for method in sorted(set(exceptions) - set(methods)):
        out.append(f"{method} is listed as an exception but has no google.api.http binding: drop it from "
                   "EXCEPTIONS")
    known = {binding for found in methods.values() for binding in found}
    for verb, path in sorted(described - known):
        out.append(f"the document has {verb} {path}, which no method's google.api.http binding has")
    return out


def report(found, document):
    for problem in found:
        print(f"openapi coverage: {problem}")
    if found:
        print(f"{len(found)} problems in {document}: run scripts/gen_openapi.sh, or list a method OpenAPI cannot "
              f"describe in EXCEPTIONS of {pathlib.Path(__file__).relative_to(ROOT)} with the reason")
    return 1 if found else 0


def self_test(methods, doc):
    """Each planted fault must be reported, and the untouched document must pass."""
    failures = []

    def expect(name, planted, exceptions, needle):
        found = problems(methods, planted, exceptions)
        if not any(needle in problem for problem in found):
            failures.append(f"{name}: expected a problem naming {needle!r}, got {found}")

    if problems(methods, doc, EXCEPTIONS):
        failures.append("the untouched document has problems (is it stale? run scripts/gen_openapi.sh)")
    # An omission: the first described method's operation is removed.
    method = next(m for m in sorted(methods) if m not in EXCEPTIONS)
    verb, path = methods[method][0]
    planted = copy.deepcopy(doc)
    for doc_path, item in planted["paths"].items():
        if unnamed(doc_path) == path:
            del item[verb.lower()]
    expect("omitted operation", planted, EXCEPTIONS, method)
    # The same path under another verb is not the method's operation.
    planted = copy.deepcopy(doc)
    for doc_path, item in planted["paths"].items():
        if unnamed(doc_path) == path:
            item["put" if verb != "PUT" else "post"] = item.pop(verb.lower())
    expect("wrong verb", planted, EXCEPTIONS, method)
    # An exception dropped from the list is reported as missing; one that the document describes is stale.
    exception = sorted(EXCEPTIONS)[0]
    expect("unlisted streaming method", doc, {k: v for k, v in EXCEPTIONS.items() if k != exception}, exception)
    planted = copy.deepcopy(doc)
    exception_verb, exception_path = methods[exception][0]
    planted["paths"].setdefault(exception_path, {})[exception_verb.lower()] = {"responses": {}}
    expect("stale exception", planted, EXCEPTIONS, exception)
    expect("unknown exception", doc, dict(EXCEPTIONS, **{"parkbase.none.v1.NoService.Nothing": "-"}),
           "parkbase.none.v1.NoService.Nothing")
    # An operation no binding has.
    planted = copy.deepcopy(doc)
    planted["paths"]["/v1/nowhere/{thing}"] = {"get": {"responses": {}}}
    expect("extra operation", planted, EXCEPTIONS, "/v1/nowhere/{}")

    for failure in failures:
        print(f"openapi coverage self-test: {failure}")
    if not failures:
        print("openapi coverage self-test: every planted fault was reported, the real document passes")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openapi", default=str(DEFAULT_OPENAPI), help="the document (default: %(default)s)")
    parser.add_argument("--self-test", action="store_true", help="check that planted omissions are reported")
    args = parser.parse_args()
    with open(args.openapi, encoding="utf-8") as f:
        doc = json.load(f)
    methods = bindings()
    if args.self_test:
        return self_test(methods, doc)
    status = report(problems(methods, doc, EXCEPTIONS), args.openapi)
    if status == 0:
        described = sum(len(found) for method, found in methods.items() if method not in EXCEPTIONS)
        print(f"openapi coverage: all {described} bindings of {len(methods) - len(EXCEPTIONS)} methods are "
              f"described; not described: {', '.join(f'{m} ({why})' for m, why in sorted(EXCEPTIONS.items()))}")
    return status


if __name__ == "__main__":
    sys.exit(main())
