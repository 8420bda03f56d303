#!/usr/bin/env python3
"""lint.dockerfile: deploy/Dockerfile cannot drift from what the build and the servers need.

- Its build stage installs every package of PB_APT_PACKAGES (scripts/lib.sh, what developers and CI install)
  that the C++ build needs: each -dev package, the protobuf and gRPC compilers, the build tools, and python3-pip
  (scripts/googleapis-protos.sh fetches the pinned google/api protos with it).
- It EXPOSEs the default port of every *_listen flag that has one (services/common/config.cc).

  tests/lint/dockerfile_check.py              check the repository
  tests/lint/dockerfile_check.py --self-test  check that a Dockerfile missing a package or a port is refused
"""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
# Packages of PB_APT_PACKAGES without -dev in their names that the image's C++ build uses.
BUILD_TOOLS = {"cmake", "ninja-build", "pkg-config", "protobuf-compiler", "protobuf-compiler-grpc", "python3-pip"}


def apt_packages():
    """PB_APT_PACKAGES, as bash itself reads scripts/lib.sh."""
    result = subprocess.run(["bash", "-c", 'source scripts/lib.sh && printf "%s\\n" "${PB_APT_PACKAGES[@]}"'],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        sys.exit(f"dockerfile_check.py: could not read PB_APT_PACKAGES from scripts/lib.sh:\n{result.stderr}")
    return result.stdout.split()


def needed_by_build(packages):
    return sorted(p for p in packages if p.endswith("-dev") or p in BUILD_TOOLS)


def build_stage_packages(dockerfile):
    """The packages `apt-get install` names in the stage `FROM ... AS build` (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", dockerfile)
    stage, in_build = [], False
    for line in text.splitlines():
        if re.match(r"^FROM\s", line):
            in_build = re.search(r"\sAS\s+build\s*$", line, re.IGNORECASE) is not None
        elif in_build:
            stage.append(line)
    packages = set()
    for line in stage:
        for command in re.split(r"&&|;", line):
            words = command.split()
            if "apt-get" in words and "install" in words:
                packages.update(w for w in words[words.index("install") + 1:] if not w.startswith("-"))
    return packages


def exposed_ports(dockerfile):
    ports = set()
    for line in dockerfile.splitlines():
        if line.startswith("EXPOSE"):
            ports.update(p.split("/")[0] for p in line.split()[1:])
    return ports


def flag_ports(config_cc):
    """Default ports of the *_listen flags (those with a default address)."""
    return {m.group(2): m.group(1) for m in
            re.finditer(r'ABSL_FLAG\(std::string,\s*(\w*listen),\s*"[^"]*:(\d+)"', config_cc)}


def problems(packages, dockerfile, ports):
    out = []
    installed = build_stage_packages(dockerfile)
    if not installed:
        out.append("deploy/Dockerfile: no `apt-get install` in a stage `FROM ... AS build`")
    for p in needed_by_build(packages):
        if p not in installed:
            out.append(f"deploy/Dockerfile: the build stage does not install {p} (in PB_APT_PACKAGES, scripts/lib.sh; "
                       f"the C++ build needs it)")
    exposed = exposed_ports(dockerfile)
    for port, flag in sorted(ports.items()):
        if port not in exposed:
            out.append(f"deploy/Dockerfile: EXPOSE lacks {port}, the default of --{flag} (services/common/config.cc)")
    return out


def self_test():
    packages = ["cmake", "libfoo-dev", "libboost-dev", "redis-server", "python3-pip"]
    good = ("FROM debian AS build\nRUN apt-get update \\\n && apt-get install -y --no-install-recommends \\\n"
            "      cmake libfoo-dev libboost-dev python3-pip \\\n && rm -rf /var/lib/apt/lists/*\n"
            "FROM debian\nRUN apt-get install -y libfoo1\nEXPOSE 50051 8080\n")
    ports = {"50051": "listen", "8080": "http_listen"}
    assert problems(packages, good, ports) == [], problems(packages, good, ports)
    missing = good.replace(" libboost-dev", "").replace("EXPOSE 50051 8080", "EXPOSE 50051")
    found = problems(packages, missing, ports)
    assert any("libboost-dev" in p for p in found) and any("8080" in p for p in found), found
    # A package installed only by the runtime stage does not count.
    runtime_only = good.replace(" libfoo-dev", "").replace("libfoo1", "libfoo-dev")
    assert any("libfoo-dev" in p for p in problems(packages, runtime_only, ports))
    assert flag_ports('ABSL_FLAG(std::string, http_listen, "0.0.0.0:8080",\nABSL_FLAG(std::string, health_listen, "",'
                      ) == {"8080": "http_listen"}
    print("dockerfile_check.py: self-test passed")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if sys.argv[1:]:
        sys.exit("dockerfile_check.py: unknown arguments (--self-test or nothing)")
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    ports = flag_ports((ROOT / "services" / "common" / "config.cc").read_text(encoding="utf-8"))
    if not ports:
        sys.exit("dockerfile_check.py: found no *_listen flag defaults in services/common/config.cc")
    found = problems(apt_packages(), dockerfile, ports)
    for p in found:
        print(p)
    if found:
        return 1
    print(f"deploy/Dockerfile: the build stage installs the {len(needed_by_build(apt_packages()))} build packages of "
          f"PB_APT_PACKAGES and EXPOSE has ports {', '.join(sorted(ports))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
