#!/usr/bin/env python3
"""Generates docs/openapi.json, the OpenAPI 3 document of the REST/JSON door, from proto/parkbase.

The servers embed the checked-in file and answer it at GET /openapi.json, so neither the C++ build nor the image
needs these tools. The steps (docs/api.md, "OpenAPI document", says why these tools):
  1. protoc compiles the protos into a descriptor set;
  2. streaming methods lose their google.api.http binding: OpenAPI describes one JSON answer to one request, and
     the generator refuses a client stream with path variables (tests/lint/openapi_coverage.py lists them, with
     how they are served instead);
  3. grpc-gateway's protoc-gen-openapiv2 (pinned in scripts/install-tools.sh) writes one Swagger 2 document from
     every file, with scripts/openapi/openapiv2.yaml for what the protos do not say (title, the error body);
  4. swagger2openapi (pinned in scripts/openapi/package-lock.json) converts it to OpenAPI 3.0;
  5. this script names the key scheme (HTTP bearer, which Swagger 2 cannot say), drops the schemas no operation
     uses, has swagger2openapi's oas-validate check the result, and writes the JSON with two-space indents. Each
     step's output depends only on its input, so the file is the same from run to run.

  scripts/gen_openapi.py                 write docs/openapi.json
  scripts/gen_openapi.py --check         exit 1 (printing a diff) if docs/openapi.json is not up to date
  scripts/gen_openapi.py --output=FILE   write elsewhere (--check compares against FILE)

Needs protoc, the Python `protobuf` package ("$PB_PYTHON"), protoc-gen-openapiv2 on PATH or in ~/go/bin, and
node with scripts/openapi/node_modules: scripts/gen_openapi.sh installs the pinned tools and runs this script.
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_api_docs  # noqa: E402  (its protoc call and google.api.http decoding)

ROOT = gen_api_docs.ROOT
DEFAULT_OUTPUT = ROOT / "docs" / "openapi.json"
OPENAPI_DIR = ROOT / "scripts" / "openapi"
PLUGIN = "protoc-gen-openapiv2"
CONVERTER = OPENAPI_DIR / "node_modules" / ".bin" / "swagger2openapi"
INSTALL_HINT = "scripts/gen_openapi.sh installs the pinned tools (or scripts/test.sh)"

PLUGIN_OPTIONS = [
    "allow_merge=true", "merge_file_name=parkbase",
    # /v1/{name=tenants/*/devices/*} becomes /v1/tenants/{tenant}/devices/{device}: a name variable holds slashes,
    # which an OpenAPI path parameter cannot (clients would escape them).
    "expand_slashed_path_patterns=true",
    # The door takes update_mask as given and never infers it from the body, so PATCH must show it.
    "allow_patch_feature=false",
    # The default error is HttpErrorBody (openapiv2.yaml), not google.rpc.Status.
    "disable_default_errors=true",
]

SCHEMA_REF = "#/components/schemas/"
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "A Parkbase API key (park admin, tenant admin, developer, device or app credential): "
                   "`Authorization: Bearer <key>`. Never put a key in a URL.",
}


def fail(message):
    sys.exit(f"gen_openapi.py: {message}")


def pinned_plugin_version():
    text = (ROOT / "scripts" / "install-tools.sh").read_text(encoding="utf-8")
    found = re.search(r"\[" + re.escape(PLUGIN) + r"\]=(v[0-9.]+)", text)
    if not found:
        fail(f"scripts/install-tools.sh pins no version of {PLUGIN}")
    return found.group(1)


def plugin_path():
    """The pinned protoc-gen-openapiv2: from ~/go/bin, where scripts/install-tools.sh puts it, or from PATH."""
    pinned = pinned_plugin_version()
    seen = []
    for path in (shutil.which(PLUGIN, path=os.path.expanduser("~/go/bin")), shutil.which(PLUGIN)):
        if path is None:
            continue
        version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
        if f"Version {pinned}," in version:
            return path
        seen.append(f"{path} says {version.strip()!r}")
    fail(f"no {PLUGIN} {pinned} in ~/go/bin or on PATH ({'; '.join(seen) or 'none found'}): {INSTALL_HINT}")


def go_package_options(fds):
    """The plugin asks each file for a Go package, which matters only to Go code; ours name none and the gogo
    googleapis files an invalid one ("api"), so each gets a placeholder, the same for the files of one folder."""
    return [f"M{file.name}=parkbase.invalid/{os.path.dirname(file.name)}" for file in fds.file
            if not re.search(r"[./]", file.options.go_package)]


def without_stream_bindings(fds):
    """Takes the google.api.http binding off every streaming method of `fds` (step 2)."""
    rules = gen_api_docs.HttpRules(fds)
    for file in fds.file:
        for service in file.service:
            for method in service.method:
                if (method.client_streaming or method.server_streaming) and rules.value(method) is not None:
                    options = rules.options_class.FromString(method.options.SerializeToString())
                    options.ClearExtension(rules.extension)
                    method.options.ParseFromString(options.SerializeToString())
    return fds


def run(cmd, what):
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        fail(f"{cmd[0]} not found ({what}): {INSTALL_HINT}")
    if result.returncode != 0:
        fail(f"{what} failed:\n{result.stdout}{result.stderr}")


def swagger2(files, tmp):
    """Steps 1 to 3: the Swagger 2 document of `files`, as parsed JSON."""
    fds = without_stream_bindings(gen_api_docs.compile_protos(files))
    descriptors = os.path.join(tmp, "api.binpb")
    with open(descriptors, "wb") as f:
        f.write(fds.SerializeToString())
    options = PLUGIN_OPTIONS + go_package_options(fds) + [
        f"openapi_configuration={OPENAPI_DIR / 'openapiv2.yaml'}"]
    run(["protoc", f"--descriptor_set_in={descriptors}", f"--plugin=protoc-gen-openapiv2={plugin_path()}",
         f"--openapiv2_out={tmp}", f"--openapiv2_opt={','.join(options)}"] + files, PLUGIN)
    with open(os.path.join(tmp, "parkbase.swagger.json"), encoding="utf-8") as f:
        return json.load(f)


def openapi3(swagger, tmp):
    """Step 4: `swagger` converted to OpenAPI 3.0 by swagger2openapi."""
    if not CONVERTER.exists():
        fail(f"{CONVERTER.relative_to(ROOT)} is missing: {INSTALL_HINT}")
    source, target = os.path.join(tmp, "swagger.json"), os.path.join(tmp, "openapi.json")
    with open(source, "w", encoding="utf-8") as f:
        json.dump(swagger, f)
    run(["node", str(CONVERTER), "--outfile", target, source], "swagger2openapi")
    with open(target, encoding="utf-8") as f:
        return json.load(f)


def validate(text, tmp):
    """oas-validate (swagger2openapi's validator) must find `text` a valid OpenAPI 3 document."""
    path = os.path.join(tmp, "final.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    run(["node", str(CONVERTER.parent / "oas-validate"), "--quiet", path], "oas-validate of the OpenAPI document")


def refs(node):
    """The names of the schemas `node` refers to."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF):
                yield value[len(SCHEMA_REF):]
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def finish(doc):
    """Step 5: the bearer key scheme, and only the schemas something refers to."""
    components = doc.setdefault("components", {})
    components["securitySchemes"] = {"apiKey": BEARER}
    doc["security"] = [{"apiKey": []}]
    schemas = components.get("schemas", {})
    pending = list(refs({key: value for key, value in doc.items() if key != "components"}))
    pending += refs({key: value for key, value in components.items() if key != "schemas"})
    used = set()
    while pending:
        name = pending.pop()
        if name not in used:
            used.add(name)
            pending += refs(schemas.get(name, {}))
    components["schemas"] = {name: schema for name, schema in schemas.items() if name in used}
    return doc


def generate():
    files = gen_api_docs.proto_files()
    if not files:
        fail(f"no .proto files under {gen_api_docs.PROTO_DIR / 'parkbase'}")
    with tempfile.TemporaryDirectory() as tmp:
        text = json.dumps(finish(openapi3(swagger2(files, tmp), tmp)), indent=2, ensure_ascii=False) + "\n"
        validate(text, tmp)
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff if the output file is stale")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="the JSON file (default: %(default)s)")
    args = parser.parse_args()
    return gen_api_docs.write_or_check(generate(), pathlib.Path(args.output).resolve(), args.check,
                                       "scripts/gen_openapi.sh")


if __name__ == "__main__":
    sys.exit(main())
