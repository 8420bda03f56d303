"""A rollout of the chart, simulated with local processes: proves that the commands, flags, environment and probes
the chart renders make the real binaries work together as Kubernetes would run them.

For each mode (plaintext, TLS on the API port):
 1. render the chart with the services it deploys by default (all four: tenant, device, telemetry, marketplace),
    each of which must have its binary in the build folder;
 2. run the pre-install hook Job's container (`parkbase migrate`) against a fresh database made as docs/operations.md
    says (UTF-8 with a UTF-8 LC_CTYPE, owned by a schema owner that is not a superuser, so the migrations must manage
    with the owner's privileges, e.g. to create the trusted extension pg_trgm), then again as a pre-upgrade hook
    would (it must be idempotent);
 3. start each Deployment's container as a process: its command (/usr/local/bin/X -> <build>/bin/X), its args with
    listen ports moved to free loopback ports, its env with secretKeyRefs resolved from a simulated Secret store
    (the services' DSN logs in as parkbase_service, a member of parkbase_app) and secret volumes as local folders;
 4. run its startup, readiness and liveness probes the way the kubelet does: grpc.health.v1 Check on the probe's
    port, plaintext, no credentials, the probe's `service`, its timeout, period and failure threshold; scrape
    /metrics on the http-metrics port; with TLS, check the API port speaks only TLS;
 5. run the `helm test` Pod's containers, with Service addresses resolved to the pods' local ports;
 6. send SIGTERM: health must turn NOT_SERVING while draining, and the process must exit 0 within the pod's
    terminationGracePeriodSeconds.

Needs: <build>/bin/parkbase and <build>/bin/parkbase-<service> for every service the chart deploys by default
(<build>: $PARKBASE_BUILD_DIR, else $PB_BUILD_DIR, else the CMake build folder, else build/),
PARKBASE_TEST_PG_ADMIN_URL (superuser), PARKBASE_TEST_REDIS_URL, and helm, grpcurl, psql, openssl on PATH. Nothing is
skipped: a missing piece fails the test.
"""

import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

import chartlib

# The health protocol from proto/, given to grpcurl directly: the kubelet does not use reflection either.
HEALTH_PROTO_DIR = chartlib.REPO_ROOT / "proto"
IMAGE_BIN = "/usr/local/bin/"
# Names of the simulated Secrets the values point at: (name, key).
DATABASE_SECRET = ("sim-database", "url")
OWNER_SECRET = ("sim-database-owner", "owner-url")
REDIS_SECRET = ("sim-redis", "url")
PAGE_TOKEN_SECRET = ("sim-page-token", "secret")
TLS_SECRET = "sim-grpc-tls"
ADDRESS_ARG = re.compile(r"^(--[a-z_]+=)(0\.0\.0\.0|\[::\]|):(\d+)$")


def required_env(name):
    value = os.environ.get(name)
    if not value:
        raise AssertionError(f"{name} is not set: run the chart tests through scripts/test.sh, which starts "
                             "PostgreSQL and Redis")
    return value


_handed_out_ports = set()


def free_port():
    """A port free on 127.0.0.1 now, below the kernel's ephemeral range and never handed out twice. A port from
    bind(0) lies in that range, where any outgoing connection (other tests run beside this one) may take it before
    the pod binds it: that made a pod fail "cannot listen" once."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(max(1024, low - 12000), low)
        if port in _handed_out_ports:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out_ports.add(port)
        return port
    raise AssertionError(f"no free port below {low} on 127.0.0.1")


def with_database(url, database, user=None):
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        netloc = f"{user}@{netloc.rpartition('@')[2]}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, path="/" + database))


def psql(url, sql):
    chartlib.run([chartlib.tool("psql"), "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-qAt", url, "-c", sql])


# The schema owner of the simulated install: a login role that owns the database and nothing else (no superuser,
# CREATEDB, CREATEROLE or BYPASSRLS), as docs/operations.md (Install, step 1) makes parkbase_owner.
OWNER_ROLE = "parkbase_chart_owner"
ROLES_SQL = f"""
DO $$
BEGIN
  BEGIN
    CREATE ROLE parkbase_app NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
  BEGIN
    CREATE ROLE parkbase_service LOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
  BEGIN
    CREATE ROLE {OWNER_ROLE} LOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
END $$;
ALTER ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
GRANT parkbase_app TO parkbase_service;
"""
# The database as docs/operations.md creates it: the marketplace's search (pg_trgm) needs a UTF-8 LC_CTYPE, and
# parkbase-marketplace refuses to start without one. template0, so the cluster's default locale does not matter.
CREATE_DATABASE_SQL = ("CREATE DATABASE \"{name}\" OWNER " + OWNER_ROLE +
                       " ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.UTF-8' TEMPLATE template0")


def grpc_health(address, service, timeout, tls=False):
    """One grpc.health.v1 Check as the kubelet makes it: no credentials. Returns the status name or the error."""
    args = [chartlib.tool("grpcurl"), "-insecure" if tls else "-plaintext", "-max-time", str(timeout),
            "-import-path", str(HEALTH_PROTO_DIR), "-proto", "grpc/health/v1/health.proto",
            "-d", json.dumps({"service": service} if service else {}), address, "grpc.health.v1.Health/Check"]
    result = chartlib.run(args, check=False)
    if result.returncode != 0:
        return "error: " + (result.stderr.strip() or result.stdout.strip())
    return json.loads(result.stdout or "{}").get("status", "UNKNOWN")


class Pod:
    """One container of a rendered pod, run as a local process."""

    def __init__(self, sim, obj, container, pod_spec, run=""):
        self.sim = sim
        self.name = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}{run}"
        self.container = container
        self.pod_spec = pod_spec
        self.ports = {p["name"]: (p["containerPort"], free_port()) for p in container.get("ports", [])}
        self.local_port = {container_port: local for container_port, local in self.ports.values()}
        self.grace = pod_spec.get("terminationGracePeriodSeconds", 30)
        self.process = None
        self.log_path = sim.tmp / (re.sub(r"[^A-Za-z0-9_.-]", "_", self.name) + ".log")

    def command(self):
        argv = list(self.container["command"]) + list(self.container.get("args", []))
        self.sim.test.assertTrue(argv[0].startswith(IMAGE_BIN), f"{self.name}: {argv[0]} is not in {IMAGE_BIN}")
        binary = self.sim.bin / argv[0].removeprefix(IMAGE_BIN)
        self.sim.test.assertTrue(binary.is_file(), f"{self.name}: {binary} was not built")
        mounts = self.mounts()
        rewritten = [str(binary)]
        for arg in argv[1:]:
            match = ADDRESS_ARG.match(arg)
            if match:
                port = int(match.group(3))
                self.sim.test.assertIn(port, self.local_port, f"{self.name}: {arg} listens on an undeclared port")
                arg = f"{match.group(1)}127.0.0.1:{self.local_port[port]}"
            for mount_path, local in mounts.items():
                arg = arg.replace(mount_path + "/", str(local) + "/")
            arg = self.sim.resolve_service_addresses(arg)
            rewritten.append(arg)
        return rewritten

    def mounts(self):
        """mountPath -> local folder for each secret volume (emptyDirs need nothing: the binaries write no files)."""
        volumes = {v["name"]: v for v in self.pod_spec.get("volumes", [])}
        local = {}
        for mount in self.container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "secret" in volume:
                local[mount["mountPath"]] = self.sim.secret_folder(volume["secret"]["secretName"])
            else:
                self.sim.test.assertIn("emptyDir", volume, f"{self.name}: volume {mount['name']}")
        return local

    def environment(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for entry in self.container.get("env", []):
            if "value" in entry:
                env[entry["name"]] = entry["value"]
            else:
                ref = entry["valueFrom"]["secretKeyRef"]
                env[entry["name"]] = self.sim.secret(ref["name"], ref["key"])
        return env

    def start(self):
        command, environment = self.command(), self.environment()
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(command, env=environment, cwd=self.sim.tmp,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.sim.processes.append(self.process)

    def run_to_completion(self, timeout):
        self.start()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} did not finish within {timeout}s\n{self.log()}")

    def log(self):
        return f"--- log of {self.name}\n{self.log_path.read_text() if self.log_path.exists() else ''}"

    def address(self, port):
        return f"127.0.0.1:{self.local_port[port]}"

    def probe(self, kind):
        """Runs a probe as the kubelet does; returns None on success, else the last failure."""
        probe = self.container[kind]
        self.sim.test.assertIn("grpc", probe, f"{self.name}: {kind} is not a gRPC probe")
        address = self.address(probe["grpc"]["port"])
        service = probe["grpc"].get("service", "")
        time.sleep(probe.get("initialDelaySeconds", 0))
        last = None
        for _ in range(probe.get("failureThreshold", 3)):
            if self.process.poll() is not None:
                return f"process exited with {self.process.returncode}"
            started = time.monotonic()
            last = grpc_health(address, service, probe.get("timeoutSeconds", 1))
            if last == "SERVING":
                return None
            time.sleep(max(0.0, probe.get("periodSeconds", 10) - (time.monotonic() - started)))
        return last


class Simulation:
    def __init__(self, test, tls):
        self.test = test
        self.tls = tls
        self.bin = chartlib.build_dir() / "bin"
        self.tmp = Path(tempfile.mkdtemp(prefix="parkbase-rollout-"))
        self.processes = []
        self.secrets = {}
        self.secret_folders = {}
        self.pods = {}
        self.services = {}
        self.database = None
        self.admin_url = None

    # --- the simulated cluster: Secrets and Service DNS

    def secret(self, name, key):
        self.test.assertIn((name, key), self.secrets, f"the chart reads Secret {name} key {key}, which is not set")
        return self.secrets[(name, key)]

    def secret_folder(self, name):
        self.test.assertIn(name, self.secret_folders, f"the chart mounts Secret {name}, which is not set")
        return self.secret_folders[name]

    def resolve_service_addresses(self, arg):
        """--address=<service>:<port> -> the local port of the pod the Service sends that port to."""
        match = re.match(r"^(--address=)([a-z0-9-]+):(\d+)$", arg)
        if not match or match.group(2) not in self.services:
            return arg
        service = self.services[match.group(2)]
        port = next((p for p in service["spec"]["ports"] if p["port"] == int(match.group(3))), None)
        self.test.assertIsNotNone(port, f"Service {match.group(2)} has no port {match.group(3)}")
        pod = self.pods[chartlib.component(service)]
        self.test.assertIn(port["targetPort"], pod.ports, f"Service {match.group(2)}: no container port "
                                                          f"named {port['targetPort']}")
        return f"{match.group(1)}127.0.0.1:{pod.ports[port['targetPort']][1]}"

    # --- setup

    def services_to_roll_out(self):
        """The services a plain install deploys; each one's binary must have been built."""
        self.test.assertTrue((self.bin / "parkbase").is_file(),
                             f"{self.bin}/parkbase was not built (set PARKBASE_BUILD_DIR to the build folder)")
        services = chartlib.services_enabled_by_default()
        missing = [f"parkbase-{s}" for s in services if not (self.bin / f"parkbase-{s}").is_file()]
        self.test.assertFalse(missing, f"{self.bin} lacks {', '.join(missing)}: the chart deploys "
                                       f"{', '.join(services)} by default, so the rollout starts every one")
        return services

    def values_file(self, services):
        values = {s: {"enabled": s in services} for s in chartlib.SERVICES}
        values.update({
            "database": {"existingSecret": DATABASE_SECRET[0], "key": DATABASE_SECRET[1]},
            "migrations": {"existingSecret": OWNER_SECRET[0], "key": OWNER_SECRET[1]},
            "redis": {"existingSecret": REDIS_SECRET[0], "key": REDIS_SECRET[1]},
            "pageToken": {"existingSecret": PAGE_TOKEN_SECRET[0], "key": PAGE_TOKEN_SECRET[1]},
            "tls": {"enabled": self.tls, "secretName": TLS_SECRET if self.tls else ""},
        })
        path = self.tmp / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    def create_database(self):
        self.admin_url = required_env("PARKBASE_TEST_PG_ADMIN_URL")
        redis_url = required_env("PARKBASE_TEST_REDIS_URL")
        self.database = f"pb_chart_rollout_{os.getpid()}_{secrets.token_hex(3)}"
        psql(self.admin_url, ROLES_SQL)
        psql(self.admin_url, CREATE_DATABASE_SQL.format(name=self.database))
        self.secrets[OWNER_SECRET] = with_database(self.admin_url, self.database, user=OWNER_ROLE)
        self.secrets[DATABASE_SECRET] = with_database(self.admin_url, self.database, user="parkbase_service")
        self.secrets[REDIS_SECRET] = redis_url
        self.secrets[PAGE_TOKEN_SECRET] = secrets.token_hex(32)

    def create_tls_secret(self):
        folder = self.tmp / "secret-tls"
        folder.mkdir()
        chartlib.run([chartlib.tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                      "-keyout", str(folder / "tls.key"), "-out", str(folder / "tls.crt")])
        self.secret_folders[TLS_SECRET] = folder

    def cleanup(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        if self.database:
            psql(self.admin_url, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- the rollout

    def run(self):
        services = self.services_to_roll_out()
        self.create_database()
        if self.tls:
            self.create_tls_secret()
        objects = chartlib.render([self.values_file(services)])
        self.services = {s["metadata"]["name"]: s for s in chartlib.by_kind(objects, "Service")}

        # Hooks first, as Helm runs them: install, then the same Job again as an upgrade would.
        jobs = [o for o in chartlib.by_kind(objects, "Job") if "pre-install" in (chartlib.hook(o) or "")]
        self.test.assertTrue(jobs, "no pre-install hook Job")
        jobs.sort(key=lambda o: int(o["metadata"]["annotations"].get("helm.sh/hook-weight", "0")))
        for attempt in ("install", "upgrade"):
            for job in jobs:
                spec = chartlib.pod_spec(job)
                for container in spec["containers"]:
                    pod = Pod(self, job, container, spec, run=f" ({attempt})")
                    code = pod.run_to_completion(job["spec"].get("activeDeadlineSeconds", 600))
                    self.test.assertEqual(code, 0, f"hook {pod.name} failed on {attempt}\n{pod.log()}")

        deployments = chartlib.by_kind(objects, "Deployment")
        self.test.assertEqual({chartlib.component(d) for d in deployments}, set(services))
        for deployment in deployments:
            spec = chartlib.pod_spec(deployment)
            (container,) = spec["containers"]
            pod = Pod(self, deployment, container, spec)
            pod.start()
            self.pods[chartlib.component(deployment)] = pod

        for pod in self.pods.values():
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                failure = pod.probe(kind)
                self.test.assertIsNone(failure, f"{pod.name}: {kind} failed: {failure}\n{pod.log()}")
            self.check_metrics(pod)
            if self.tls:
                self.check_api_port_uses_tls(pod)

        (test_pod,) = [o for o in chartlib.by_kind(objects, "Pod") if chartlib.hook(o) == "test"]
        for container in test_pod["spec"]["containers"]:
            check = Pod(self, test_pod, container, test_pod["spec"])
            code = check.run_to_completion(60)
            self.test.assertEqual(code, 0, f"helm test container {check.name} failed\n{check.log()}")

        for pod in self.pods.values():
            self.stop(pod)

    def check_metrics(self, pod):
        """What the ServiceMonitor scrapes: plaintext HTTP /metrics on the http-metrics port."""
        url = f"http://{pod.address(pod.ports['http-metrics'][0])}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            self.test.assertEqual(response.status, 200, url)
            self.test.assertIn("# TYPE ", response.read().decode(), f"{url}: not the Prometheus text format")

    def check_api_port_uses_tls(self, pod):
        api = pod.address(pod.ports["grpc"][0])
        self.test.assertEqual(grpc_health(api, "", 5, tls=True), "SERVING", f"{pod.name}: no TLS on the API port")
        self.test.assertNotEqual(grpc_health(api, "", 5, tls=False), "SERVING",
                                 f"{pod.name}: the API port answers plaintext with TLS on")

    def stop(self, pod):
        """SIGTERM as the kubelet sends it; readiness must fail while draining, and the exit must be clean."""
        readiness = pod.container["readinessProbe"]
        drain_flag = next((a for a in pod.container["args"] if a.startswith("--drain_seconds=")), "=5")
        drain = int(drain_flag.partition("=")[2])
        started = time.monotonic()
        pod.process.send_signal(signal.SIGTERM)
        if drain >= 1:
            status = grpc_health(pod.address(readiness["grpc"]["port"]), readiness["grpc"].get("service", ""),
                                 readiness.get("timeoutSeconds", 1))
            self.test.assertNotEqual(status, "SERVING", f"{pod.name}: still SERVING after SIGTERM")
        try:
            code = pod.process.wait(timeout=pod.grace)
        except subprocess.TimeoutExpired:
            pod.process.kill()
            pod.process.wait()
            raise AssertionError(f"{pod.name} did not exit within terminationGracePeriodSeconds={pod.grace}\n"
                                 f"{pod.log()}")
        self.test.assertEqual(code, 0, f"{pod.name} exited with {code} after SIGTERM\n{pod.log()}")
        self.test.assertGreaterEqual(time.monotonic() - started, drain * 0.9,
                                     f"{pod.name} exited before its drain period")


class RolloutSimulation(unittest.TestCase):
    def simulate(self, tls):
        simulation = Simulation(self, tls=tls)
        try:
            simulation.run()
        finally:
            simulation.cleanup()

    def test_plaintext_rollout(self):
        self.simulate(tls=False)

    def test_tls_rollout(self):
        self.simulate(tls=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
