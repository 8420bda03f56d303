"""deploy/Dockerfile, checked as far as a machine without a container engine can: the build stage's packages exist
in this Debian bookworm and its build context holds what CMake reads (configured here from a copy of the context
that deploy/Dockerfile.dockerignore lets through, with the Dockerfile's own cmake options); the runtime stage's
package list, made by deploy/runtime-packages.sh from the built binaries, names only runtime libraries; the image
runs as uid 65532 with every binary the chart starts in /usr/local/bin.
"""

import fnmatch
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import chartlib

DEPLOY = chartlib.REPO_ROOT / "deploy"


def stages(text):
    """[(base image, [instructions...])] of a Dockerfile's C++ build and runtime stages (the console's node stage is
    console_stage's), continuation lines joined, comments dropped."""
    return [stage for stage in all_stages(text) if stage[2] != "console"]


def console_stage(text):
    (stage,) = [stage for stage in all_stages(text) if stage[2] == "console"]
    return stage


def all_stages(text):
    """[(base image, [instructions...], name)] of a Dockerfile."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    result = []
    for line in filter(None, (l.strip() for l in joined.splitlines())):
        if line.upper().startswith("FROM "):
            words = line.split()
            result.append((words[1], [], words[3] if len(words) > 3 and words[2].upper() == "AS" else ""))
        elif result:
            result[-1][1].append(line)
    return result


def allowed_by_dockerignore(relative, patterns):
    """Docker's rule: the last matching pattern wins; '!' re-includes. Patterns here are simple paths/globs."""
    included = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = Path(relative).parts
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            included = negate
    return included


def cmake_files():
    """The CMakeLists.txt files the image's build reads: the top one and every one under services/."""
    return [chartlib.REPO_ROOT / "CMakeLists.txt", *(chartlib.REPO_ROOT / "services").rglob("CMakeLists.txt")]


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = (DEPLOY / "Dockerfile").read_text()
        cls.args = dict(re.findall(r"^ARG (\w+)=(\S+)$", cls.text, re.M))
        cls.stages = stages(cls.text)

    def build_packages(self):
        (run,) = [i for i in self.stages[0][1] if "apt-get install" in i]
        words = run.split("apt-get install", 1)[1].split("&&")[0].split()
        return [w for w in words if not w.startswith("-")]

    def test_two_bookworm_stages(self):
        self.assertEqual(len(self.stages), 2)
        images = [self.args.get(image.strip("${}"), image) for image, _, _ in self.stages]
        self.assertEqual(images, ["debian:bookworm", "debian:bookworm-slim"])

    def test_console_is_built_from_its_lock_file_into_the_image(self):
        image, instructions, _ = console_stage(self.text)
        self.assertEqual(self.args.get(image.strip("${}")), "node:22-bookworm-slim")
        self.assertIn("COPY services/console/package.json services/console/package-lock.json ./", instructions)
        self.assertIn("RUN npm ci --ignore-scripts --no-audit --no-fund", instructions)
        self.assertIn("RUN npm run build", instructions)
        self.assertIn("COPY --from=console /console/dist/ /usr/share/parkbase/console/", self.stages[1][1])
        patterns = [l.strip() for l in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
                    if l.strip() and not l.startswith("#")]
        self.assertTrue(allowed_by_dockerignore("services/console/package-lock.json", patterns))
        self.assertTrue(allowed_by_dockerignore("services/console/src/main.ts", patterns))
        self.assertFalse(allowed_by_dockerignore("services/console/node_modules/vite/package.json", patterns))
        self.assertFalse(allowed_by_dockerignore("services/console/dist/index.html", patterns))

    def test_runtime_stage_is_non_root_with_every_binary(self):
        runtime = self.stages[1][1]
        self.assertIn("USER 65532:65532", runtime)
        self.assertIn("COPY --from=build /out/usr/local/bin/ /usr/local/bin/", runtime)
        self.assertTrue(any("useradd --uid 65532 --gid 65532" in i for i in runtime))
        build = " ".join(self.stages[0][1])
        self.assertIn("--target-directory=/out/usr/local/bin /build/bin/parkbase*", build)
        # Every binary the chart can start is one the build stage copies.
        objects = chartlib.render(set_values=[f"{s}.enabled=true" for s in chartlib.SERVICES])
        for obj in objects:
            if obj["kind"] in ("Deployment", "Job", "Pod"):
                for container in chartlib.pod_spec(obj)["containers"]:
                    self.assertTrue(fnmatch.fnmatchcase(container["command"][0], "/usr/local/bin/parkbase*"))

    def test_every_binary_the_chart_starts_is_a_build_target(self):
        # The build stage copies bin/parkbase*, so a Deployment's binary is in the image exactly when CMake builds it.
        targets = {name for path in cmake_files()
                   for name in re.findall(r"add_executable\(\s*([A-Za-z0-9_.+-]+)", path.read_text())}
        objects = chartlib.render(set_values=[f"{s}.enabled=true" for s in chartlib.SERVICES])
        commands = {Path(container["command"][0]).name
                    for obj in objects if obj["kind"] in ("Deployment", "Job", "Pod")
                    for container in chartlib.pod_spec(obj)["containers"]}
        self.assertEqual(commands, {"parkbase", *(f"parkbase-{s}" for s in chartlib.SERVICES)})
        for binary in sorted(commands):
            with self.subTest(binary):
                self.assertIn(binary, targets, f"no add_executable({binary} ...) under services/")

    def test_build_packages_exist_in_this_bookworm(self):
        for package in self.build_packages():
            with self.subTest(package):
                result = chartlib.run(["dpkg-query", "-W", "-f=${Status}", package], check=False)
                self.assertEqual(result.stdout, "install ok installed", f"{package} is not a package here")

    def test_build_stage_has_every_pkg_config_module_cmake_asks_for(self):
        # cmake configures on this machine whatever the image lacks; the image's build would then fail, so each
        # pkg_check_modules() module must come from a package the build stage installs.
        packages = set(self.build_packages())
        modules = set()
        for path in cmake_files():
            for args in re.findall(r"pkg_check_modules\(([^)]*)\)", path.read_text()):
                words = args.split()[1:]
                modules.update(w for w in words if w not in ("REQUIRED", "QUIET", "IMPORTED_TARGET", "GLOBAL"))
        self.assertTrue(modules)
        for module in sorted(modules):
            with self.subTest(module):
                pc = chartlib.run(["pkg-config", "--path", module]).stdout.strip()
                # "pkg-a:amd64, pkg-b:amd64: /usr/lib/.../x.pc"
                owners = chartlib.run(["dpkg-query", "-S", pc]).stdout.strip().rsplit(": ", 1)[0].split(", ")
                self.assertTrue({o.split(":")[0] for o in owners} & packages,
                                f"{module} ({pc}, from {owners}) is in no package of the build stage")

    def test_build_context_configures(self):
        patterns = [l.strip() for l in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
                    if l.strip() and not l.startswith("#")]
        context = Path(tempfile.mkdtemp(prefix="parkbase-docker-context-"))
        try:
            for top in chartlib.REPO_ROOT.iterdir():
                # Walk only top-level entries the ignore file can let anything through from.
                if not (allowed_by_dockerignore(top.name, patterns)
                        or any(p.lstrip("!").startswith(top.name + "/") for p in patterns)):
                    continue
                for path in [top] if top.is_file() else top.rglob("*"):
                    relative = path.relative_to(chartlib.REPO_ROOT)
                    if path.is_file() and allowed_by_dockerignore(str(relative), patterns):
                        (context / relative).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, context / relative)
            self.assertTrue((context / "deploy" / "runtime-packages.sh").is_file())
            self.assertFalse((context / "tests").exists(), "tests/ should stay out of the image's context")
            (cmake_line,) = [i for i in self.stages[0][1] if i.startswith("RUN cmake ")]
            options = re.findall(r"(-D\S+|-G \S+)", cmake_line.split("&&")[0])
            # The build stage's own RUN steps that put files outside the context (the pinned google/api protos):
            # run them from the context as the image does, into a folder of the test's instead of the image's.
            for instruction in self.stages[0][1]:
                fetched = re.match(r"RUN bash (scripts/googleapis-protos\.sh) (\S+)$", instruction)
                if not fetched:
                    continue
                folder = context / "_fetched" / fetched.group(2).strip("/").replace("/", "_")
                chartlib.run(["bash", str(context / fetched.group(1)), str(folder)])
                options = [o.replace(fetched.group(2), str(folder)) for o in options]
            configure = chartlib.run([chartlib.tool("cmake"), "-S", str(context), "-B", str(context / "_build"),
                                      *[o for opt in options for o in opt.split(" ", 1)]], check=False)
            self.assertEqual(configure.returncode, 0,
                             f"cmake could not configure the image's context:\n{configure.stdout}\n{configure.stderr}")
        finally:
            shutil.rmtree(context, ignore_errors=True)

    def test_runtime_packages_of_the_built_binaries(self):
        binaries = sorted((chartlib.build_dir() / "bin").glob("parkbase*"))
        self.assertTrue(binaries, f"no {chartlib.build_dir()}/bin/parkbase* was built")
        # The list must cover every binary the chart starts by default, or the image would lack their libraries.
        wanted = {"parkbase", *(f"parkbase-{s}" for s in chartlib.services_enabled_by_default())}
        self.assertEqual(sorted(wanted - {b.name for b in binaries}), [], f"not built in {chartlib.build_dir()}/bin")
        result = chartlib.run(["sh", str(DEPLOY / "runtime-packages.sh"), *map(str, binaries)])
        packages = result.stdout.split()
        self.assertIn("libc6", packages)
        for package in packages:
            with self.subTest(package):
                self.assertFalse(package.endswith("-dev"), "a build-only package would land in the image")
                status = chartlib.run(["dpkg-query", "-W", "-f=${Status}", package], check=False).stdout
                self.assertEqual(status, "install ok installed")
        # Every library a binary loads comes from one of those packages (asked of dpkg in one call: it is slow).
        libraries = set()
        for binary in binaries:
            ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
            libraries.update(Path(path).name for path in re.findall(r"=> (/\S+)", ldd))
        owners = {}
        search = chartlib.run(["dpkg-query", "-S", *sorted(libraries)], check=False).stdout
        for line in search.splitlines():
            if line.startswith("diversion"):
                continue
            package, _, path = line.partition(": ")
            owners.setdefault(Path(path).name, set()).add(package.split(":")[0])
        for library in sorted(libraries):
            self.assertTrue(owners.get(library, set()) & set(packages), f"{library} is in no listed package")

if __name__ == "__main__":
    unittest.main(verbosity=2)
