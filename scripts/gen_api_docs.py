#!/usr/bin/env python3
"""Generates docs/api-reference.md from the comments of proto/parkbase/**/*.proto.

The protos are the API's documentation; this page is their comments laid out for reading: per package, each
service with its methods (comment, request, response, HTTP mapping), each message with a table of its fields (with
their google.api.field_behavior and resource_reference, and a resource's name pattern) and each enum with its
values. The output depends only on the protos, so it is stable from run to run.

  scripts/gen_api_docs.py                 write docs/api-reference.md
  scripts/gen_api_docs.py --check         exit 1 (printing a diff) if docs/api-reference.md is not up to date
  scripts/gen_api_docs.py --missing       list every service, method, message, field and enum value without a
                                          leading comment; exit 1 if there is any
  scripts/gen_api_docs.py --output=FILE   write elsewhere (--check compares against FILE)

Needs `protoc` (Debian's protobuf-compiler) and the Python `protobuf` package (scripts/test.sh installs it into
the project venv; run the script with "$PB_PYTHON").
"""

import argparse
import difflib
import os
import pathlib
import subprocess
import sys
import tempfile

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError:  # pragma: no cover - environment problem, explained to the user
    sys.exit("gen_api_docs.py: the Python 'protobuf' package is missing; run it with \"$PB_PYTHON\" after "
             "scripts/test.sh (or pb_python_venv) has installed it")

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
DEFAULT_OUTPUT = ROOT / "docs" / "api-reference.md"
# Where Debian keeps google/api/annotations.proto (golang-github-gogo-googleapis-dev) and the well-known types
# (libprotobuf-dev); the same paths the build passes to protoc. The google/api protos Debian lacks
# (resource.proto, field_behavior.proto, field_info.proto) are in the folder include_dirs() finds.
SYSTEM_INCLUDE_DIRS = ["/usr/share/gocode/src/github.com/gogo/googleapis", "/usr/include"]


def include_dirs():
    """The protoc include folders: Debian's, and the pinned google/api protos of scripts/googleapis-protos.sh
    (PB_GOOGLEAPIS_COMMON_DIR when the caller already has them, as the build's lint tests do)."""
    common = os.environ.get("PB_GOOGLEAPIS_COMMON_DIR", "")
    if not common:
        result = subprocess.run(["bash", str(ROOT / "scripts" / "googleapis-protos.sh")], capture_output=True,
                                text=True, check=False)
        if result.returncode != 0:
            sys.exit(f"gen_api_docs.py: scripts/googleapis-protos.sh failed:\n{result.stderr}")
        common = result.stdout.strip()
    return [SYSTEM_INCLUDE_DIRS[0], common, SYSTEM_INCLUDE_DIRS[1]]

# Field numbers of descriptor.proto, as used in SourceCodeInfo.Location.path.
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM = 2, 3, 4
ENUM_VALUE = 2
SERVICE_METHOD = 2

FDP = descriptor_pb2.FieldDescriptorProto
SCALAR_NAMES = {
    FDP.TYPE_DOUBLE: "double", FDP.TYPE_FLOAT: "float", FDP.TYPE_INT64: "int64", FDP.TYPE_UINT64: "uint64",
    FDP.TYPE_INT32: "int32", FDP.TYPE_FIXED64: "fixed64", FDP.TYPE_FIXED32: "fixed32", FDP.TYPE_BOOL: "bool",
    FDP.TYPE_STRING: "string", FDP.TYPE_BYTES: "bytes", FDP.TYPE_UINT32: "uint32", FDP.TYPE_SFIXED32: "sfixed32",
    FDP.TYPE_SFIXED64: "sfixed64", FDP.TYPE_SINT32: "sint32", FDP.TYPE_SINT64: "sint64",
}
HTTP_VERBS = ("get", "put", "post", "delete", "patch")


def proto_files():
    return sorted(p.relative_to(PROTO_DIR).as_posix() for p in (PROTO_DIR / "parkbase").rglob("*.proto"))


def compile_protos(files):
    """Runs protoc and returns the FileDescriptorSet (with imports, so the HTTP annotation can be decoded)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "api.pb")
        cmd = ["protoc", "--include_source_info", "--include_imports", f"--descriptor_set_out={out}",
               f"-I{PROTO_DIR}"] + [f"-I{d}" for d in include_dirs()] + files
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            sys.exit("gen_api_docs.py: protoc not found (apt-get install protobuf-compiler)")
        if result.returncode != 0:
            sys.exit(f"gen_api_docs.py: protoc failed:\n{result.stderr}")
        with open(out, "rb") as f:
            return descriptor_pb2.FileDescriptorSet.FromString(f.read())


class OptionReader:
    """Decodes one extension of an options message (MethodOptions, FieldOptions, MessageOptions) through a
    descriptor pool built from the compiled set."""

    def __init__(self, fds, extension_name, options_name="google.protobuf.MethodOptions", pool=None):
        self.extension = None
        if pool is None:
            pool = descriptor_pool.DescriptorPool()
            for f in fds.file:
                pool.Add(f)
        try:
            self.extension = pool.FindExtensionByName(extension_name)
        except KeyError:
            return
        classes = message_factory.GetMessageClassesForFiles([f.name for f in fds.file], pool)
        self.options_class = classes[options_name]

    def value(self, element):
        """The option's value on `element` (a method, field or message), or None when it is not set."""
        if self.extension is None or not element.HasField("options"):
            return None
        options = self.options_class.FromString(element.options.SerializeToString())
        if self.extension.label == self.extension.LABEL_REPEATED:
            return list(options.Extensions[self.extension]) or None
        if not options.HasExtension(self.extension):
            return None
        return options.Extensions[self.extension]


class ResourceAnnotations:
    """google.api.resource on messages, and google.api.field_behavior and resource_reference on fields: what the
    reference shows as a resource's name pattern and as each field's behaviour."""

    BEHAVIOUR_NAMES = {1: "optional", 2: "required", 3: "output only", 4: "input only", 5: "immutable",
                       6: "unordered list", 7: "non-empty default", 8: "identifier"}

    def __init__(self, fds):
        pool = descriptor_pool.DescriptorPool()
        for f in fds.file:
            pool.Add(f)
        self.resource = OptionReader(fds, "google.api.resource", "google.protobuf.MessageOptions", pool)
        self.behaviour = OptionReader(fds, "google.api.field_behavior", "google.protobuf.FieldOptions", pool)
        self.reference = OptionReader(fds, "google.api.resource_reference", "google.protobuf.FieldOptions", pool)

    def of_message(self, message):
        """"Resource `type`, named `pattern`." or ""."""
        resource = self.resource.value(message)
        if resource is None:
            return ""
        patterns = " or ".join(f"`{p}`" for p in resource.pattern)
        return f"Resource `{resource.type}`, named {patterns}."

    def of_field(self, field):
        """The field's behaviours and the resource it names, e.g. "required; names a `parkbase.io/Device`"."""
        parts = [self.BEHAVIOUR_NAMES.get(b, str(b)) for b in self.behaviour.value(field) or []]
        reference = self.reference.value(field)
        if reference is not None and reference.type:
            parts.append(f"names a `{reference.type}`")
        elif reference is not None and reference.child_type:
            parts.append(f"names the parent of a `{reference.child_type}`")
        return "; ".join(parts)


class HttpRules(OptionReader):
    """The google.api.http option of methods."""

    def __init__(self, fds):
        super().__init__(fds, "google.api.http")

    def of(self, method):
        rule = self.value(method)
        if rule is None:
            return []
        rules = [rule]
        rules += list(rules[0].additional_bindings)
        out = []
        for rule in rules:
            verb = rule.WhichOneof("pattern")
            if verb in HTTP_VERBS:
                text = f"`{verb.upper()} {getattr(rule, verb)}`"
            elif verb == "custom":
                text = f"`{rule.custom.kind} {rule.custom.path}`"
            else:
                continue
            if rule.body:
                text += f", body `{rule.body}`"
            out.append(text)
        return out


class AccessRules(OptionReader):
    """The parkbase.access.v1.rule option of methods: who may call them."""

    ROLE_NAMES = {1: "park admin", 2: "tenant admin", 3: "developer", 4: "device", 5: "provider"}

    def __init__(self, fds):
        super().__init__(fds, "parkbase.access.v1.rule")

    def of(self, method):
        """A sentence saying who may call `method`, or "" when it declares no rule."""
        rule = self.value(method)
        if rule is None:
            return ""
        if rule.any_tenant:
            return "any authenticated caller of any tenant"
        who = []
        roles = [self.ROLE_NAMES.get(r, str(r)) for r in rule.roles]
        where = f"the tenant named by `{rule.tenant_field}`" if rule.tenant_field else "their own tenant"
        if roles:
            text = ", ".join(roles) + f" keys of {where}"
            if rule.device_field:
                text += f" (a device key only for its own device, named by `{rule.device_field}`)"
            who.append(text)
        if rule.park_admin:
            who.append("the park admin, for any tenant")
        return "; ".join(who)


class Comments:
    """Leading and trailing comments of one file, by source path."""

    def __init__(self, file):
        self.leading = {}
        self.trailing = {}
        for loc in file.source_code_info.location:
            key = tuple(loc.path)
            if loc.leading_comments:
                self.leading[key] = loc.leading_comments
            if loc.trailing_comments:
                self.trailing[key] = loc.trailing_comments

    def has_leading(self, path):
        return bool(self.leading.get(tuple(path), "").strip())

    def text(self, path):
        """The comment as one paragraph-preserving string: lines joined, blank lines kept as breaks."""
        raw = self.leading.get(tuple(path), "") + "\n" + self.trailing.get(tuple(path), "")
        paragraphs, current = [], []
        for line in raw.splitlines():
            line = line.strip()
            if line:
                current.append(line)
            elif current:
                paragraphs.append(" ".join(current))
                current = []
        if current:
            paragraphs.append(" ".join(current))
        return "\n\n".join(paragraphs)


def short(type_name, package):
    """A fully qualified type name, shortened inside its own package, as Markdown code."""
    name = type_name.lstrip(".")
    if name.startswith(package + "."):
        name = name[len(package) + 1:]
    return name


def anchor(full_name):
    return full_name.lstrip(".").replace(".", "").lower()


def link(type_name, package, local):
    """A type reference: a link when the type is documented on this page, plain code otherwise."""
    full = type_name.lstrip(".")
    text = f"`{short(type_name, package)}`"
    return f"[{text}](#{anchor(full)})" if full in local else text


def cell(text):
    return text.replace("|", "\\|").replace("\n\n", "<br><br>").replace("\n", " ")


class Generator:
    def __init__(self, fds, files):
        self.fds = fds
        self.files = [f for f in fds.file if f.name in files]
        self.http = HttpRules(fds)
        self.access = AccessRules(fds)
        self.resources = ResourceAnnotations(fds)
        self.local = set()
        self.maps = {}  # full name of a map entry message -> (key field, value field)
        for f in self.files:
            self._index(f.package, f.message_type, f.enum_type)
        self.missing = []

    def _index(self, prefix, messages, enums):
        for e in enums:
            self.local.add(f"{prefix}.{e.name}")
        for m in messages:
            full = f"{prefix}.{m.name}"
            if m.options.map_entry:
                self.maps[full] = (m.field[0], m.field[1])
                continue
            self.local.add(full)
            self._index(full, m.nested_type, m.enum_type)

    def _require(self, comments, path, what):
        if not comments.has_leading(path):
            self.missing.append(what)

    def field_type(self, field, package):
        if field.type in (FDP.TYPE_MESSAGE, FDP.TYPE_ENUM):
            full = field.type_name.lstrip(".")
            if full in self.maps:
                key, value = self.maps[full]
                return f"map&lt;{self.field_type(key, package)}, {self.field_type(value, package)}&gt;"
            name = link(field.type_name, package, self.local)
        else:
            name = f"`{SCALAR_NAMES[field.type]}`"
        if field.label == FDP.LABEL_REPEATED:
            return f"repeated {name}"
        if field.proto3_optional:
            return f"optional {name}"
        return name

    def render(self):
        out = ["# Parkbase API reference", "",
               "Generated by `scripts/gen_api_docs.py` from the comments in `proto/parkbase/`; do not edit by hand",
               "(run the script after changing a proto; `tests/lint/api_docs_check.sh` fails while this page is",
               "stale). The guide to using the API is [api.md](api.md).", ""]
        out.append("## Contents")
        out.append("")
        for f in self.files:
            out.append(f"- [`{f.package}`](#{anchor(f.package)}) (`proto/{f.name}`)")
            for s in f.service:
                out.append(f"  - [{s.name}](#{anchor(f.package + '.' + s.name)})")
        out.append("")
        for f in self.files:
            out += self.render_file(f)
        while out and out[-1] == "":
            out.pop()
        return "\n".join(out) + "\n"

    def render_file(self, f):
        c = Comments(f)
        pkg = f.package
        out = [f"## {pkg}", "", f"Source: `proto/{f.name}`.", ""]
        # The package comment is the one on the `package` statement (FileDescriptorProto field 2).
        intro = c.text([2])
        if intro:
            out += [intro, ""]
        for si, service in enumerate(f.service):
            out += self.render_service(c, pkg, f.name, service, [FILE_SERVICE, si])
        for mi, message in enumerate(f.message_type):
            out += self.render_message(c, pkg, f.name, message, [FILE_MESSAGE, mi], pkg)
        for ei, enum in enumerate(f.enum_type):
            out += self.render_enum(c, f.name, enum, [FILE_ENUM, ei], pkg)
        return out

    def render_service(self, c, pkg, file_name, service, path):
        full = f"{pkg}.{service.name}"
        self._require(c, path, f"{file_name}: service {full}")
        out = [f"### service {service.name}", f'<a id="{anchor(full)}"></a>', ""]
        if c.text(path):
            out += [c.text(path), ""]
        out += ["| method | request | response | HTTP |", "| --- | --- | --- | --- |"]
        for method in service.method:
            req = link(method.input_type, pkg, self.local)
            resp = link(method.output_type, pkg, self.local)
            if method.client_streaming:
                req = f"stream {req}"
            if method.server_streaming:
                resp = f"stream {resp}"
            http = "<br>".join(self.http.of(method)) or "-"
            out.append(f"| [{method.name}](#{anchor(full + '.' + method.name)}) | {req} | {resp} | {cell(http)} |")
        out.append("")
        for mi, method in enumerate(service.method):
            mpath = path + [SERVICE_METHOD, mi]
            self._require(c, mpath, f"{file_name}: method {full}.{method.name}")
            req = link(method.input_type, pkg, self.local)
            resp = link(method.output_type, pkg, self.local)
            stream_in = "stream " if method.client_streaming else ""
            stream_out = "stream " if method.server_streaming else ""
            out += [f"#### {service.name}.{method.name}", f'<a id="{anchor(full + "." + method.name)}"></a>', "",
                    f"`rpc {method.name}({stream_in}{short(method.input_type, pkg)}) returns "
                    f"({stream_out}{short(method.output_type, pkg)})`", ""]
            if c.text(mpath):
                out += [c.text(mpath), ""]
            out.append(f"- Request: {stream_in}{req}")
            out.append(f"- Response: {stream_out}{resp}")
            for h in self.http.of(method):
                out.append(f"- HTTP: {h}")
            who = self.access.of(method)
            if who:
                out.append(f"- Who may call: {who}")
            elif pkg.startswith("parkbase."):
                self.missing.append(f"{file_name}: method {full}.{method.name} declares no (parkbase.access.v1.rule)")
            out.append(f"- gRPC: `/{full}/{method.name}`")
            out.append("")
        return out

    def render_message(self, c, pkg, file_name, message, path, prefix):
        if message.options.map_entry:
            return []
        full = f"{prefix}.{message.name}"
        self._require(c, path, f"{file_name}: message {full}")
        out = [f"### message {short(full, pkg)}", f'<a id="{anchor(full)}"></a>', ""]
        if c.text(path):
            out += [c.text(path), ""]
        resource = self.resources.of_message(message)
        if resource:
            out += [resource, ""]
        if message.field:
            # The behaviour column is google.api.field_behavior (and resource_reference): what a client must
            # send, and what only the server sets. Request messages and resources carry it; responses do not.
            out += ["| field | number | type | behaviour | description |", "| --- | --- | --- | --- | --- |"]
            for fi, field in enumerate(message.field):
                fpath = path + [MESSAGE_FIELD, fi]
                self._require(c, fpath, f"{file_name}: field {full}.{field.name}")
                text = c.text(fpath)
                if field.HasField("oneof_index") and not field.proto3_optional:
                    oneof = message.oneof_decl[field.oneof_index].name
                    text = f"(one of `{oneof}`) {text}".strip()
                behaviour = self.resources.of_field(field)
                out.append(f"| `{field.name}` | {field.number} | {self.field_type(field, pkg)} | {cell(behaviour)} | "
                           f"{cell(text)} |")
            out.append("")
        else:
            out += ["No fields.", ""]
        for ni, nested in enumerate(message.nested_type):
            out += self.render_message(c, pkg, file_name, nested, path + [MESSAGE_NESTED, ni], full)
        for ei, enum in enumerate(message.enum_type):
            out += self.render_enum(c, file_name, enum, path + [MESSAGE_ENUM, ei], full, pkg)
        return out

    def render_enum(self, c, file_name, enum, path, prefix, pkg=None):
        pkg = pkg or prefix
        full = f"{prefix}.{enum.name}"
        self._require(c, path, f"{file_name}: enum {full}")
        out = [f"### enum {short(full, pkg)}", f'<a id="{anchor(full)}"></a>', ""]
        if c.text(path):
            out += [c.text(path), ""]
        out += ["| value | number | description |", "| --- | --- | --- |"]
        for vi, value in enumerate(enum.value):
            vpath = path + [ENUM_VALUE, vi]
            self._require(c, vpath, f"{file_name}: enum value {full}.{value.name}")
            out.append(f"| `{value.name}` | {value.number} | {cell(c.text(vpath))} |")
        out.append("")
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff if the output file is stale")
    parser.add_argument("--missing", action="store_true", help="list elements without a leading comment")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="the Markdown file (default: %(default)s)")
    args = parser.parse_args()

    files = proto_files()
    if not files:
        sys.exit(f"gen_api_docs.py: no .proto files under {PROTO_DIR / 'parkbase'}")
    generator = Generator(compile_protos(files), set(files))
    text = generator.render()
    output = pathlib.Path(args.output).resolve()

    if args.missing:
        for what in generator.missing:
            print(f"missing comment: {what}")
        if generator.missing:
            print(f"{len(generator.missing)} proto elements have no leading comment; every service, method, "
                  "message, field and enum value needs one (what it means, its units, its limits)")
            return 1
        return 0

    return write_or_check(text, output, args.check, "scripts/gen_api_docs.py")


def write_or_check(text, output, check, command):
    """Writes `text` to `output`, or with `check` compares them and prints a diff; returns the exit code."""
    shown = str(output.relative_to(ROOT)) if output.is_relative_to(ROOT) else str(output)
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current == text:
            return 0
        sys.stdout.writelines(difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                                   f"{shown} (current)", f"{shown} (generated)"))
        print(f"\n{shown} is stale: run {command} and commit the result")
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
