#!/usr/bin/env python3
"""Starts the real binaries with exactly the configuration the rendered dev overlay gives
their pods, and waits until each reaches SERVING through its own readiness probe.

Usage: serving.py RENDERED-DEV.yaml ENV_FILE [--bins DIR] [--print-config-only]

What is the manifests' and what is substituted, so that a pass means "the manifests'
configuration is complete and accepted":
- from the manifests, unchanged: every env var (envFrom ConfigMaps + env, with $(VAR)
  expanded as the kubelet does), every mounted Secret and ConfigMap key as a file, the
  container's command, the readiness probe (grpc service name, or the gateway's HTTP path);
- substituted, because there is no cluster: in-cluster addresses (`system:50051`,
  `postgres:5432`, ...) become local ports; mount paths live under a temporary directory;
  the datastores are ./dev test's servers (PostgreSQL: a fresh database, owned by the role
  and password of the operations-db Secret; Redis: a private redis-server started here with
  the redis-config Secret's requirepass; MongoDB: SecantusDB, which has no SCRAM, so the
  URL's credentials are dropped and the database name is made unique; SMTP and Stripe: the
  local catcher and emulator);
- OTLP goes to a closed local port (export failures must not stop a service).
"""

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ORDER = ["system", "finance", "booking", "agency", "notify", "gateway"]
# Where the Dockerfile puts the built web apps that the gateway serves.
IMAGE_WEB_DIR = "/usr/share/astrobookings/web"
HOST_PORT = re.compile(r"(?P<scheme>[a-z]+://)?(?P<auth>[^@/\s]*@)?(?P<host>[a-z][a-z0-9-]*):(?P<port>\d+)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_env_file(path):
    values = {}
    for line in Path(path).read_text().splitlines():
        match = re.match(r"export (\w+)=(.*)", line)
        if match:
            values[match.group(1)] = match.group(2).strip("'")
    return values


class Cluster:
    """The rendered objects, with what a kubelet would do to hand them to one container."""

    def __init__(self, rendered):
        self.docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]

    def get(self, kind, name):
        return next(d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == name)

    def pod(self, kind, name):
        return self.get(kind, name)["spec"]["template"]["spec"]

    def secret_text(self, prefix, key):
        for doc in self.docs:
            if doc["kind"] == "Secret" and re.fullmatch(re.escape(prefix) + r"(-[a-z0-9]{10})?", doc["metadata"]["name"]):
                return base64.b64decode(doc["data"][key]).decode()
        raise KeyError(f"Secret {prefix}")

    def materialize(self, kind, name, root, rewrite_file):
        """The container's command and environment; its Secret/ConfigMap volumes written under root."""
        spec = self.pod(kind, name)
        container = spec["containers"][0]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        paths = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            target = root / mount["mountPath"].lstrip("/")
            target.mkdir(parents=True, exist_ok=True)
            paths[mount["mountPath"]] = target
            if "secret" in volume:
                obj = self.get("Secret", volume["secret"]["secretName"])
                items = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            elif "configMap" in volume:
                obj = self.get("ConfigMap", volume["configMap"]["name"])
                items = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
            else:
                continue
            for key, value in items.items():
                (target / key).write_bytes(rewrite_file(volume, key, value))
        env = {}
        for source in container.get("envFrom", []):
            env.update(self.get("ConfigMap", source["configMapRef"]["name"]).get("data") or {})
        field_values = {"metadata.name": f"{name}-k8s-serving", "metadata.namespace": "astrobookings"}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"])
            else:
                env[item["name"]] = field_values[item["valueFrom"]["fieldRef"]["fieldPath"]]
        for variable, value in list(env.items()):
            for mount_path, local in sorted(paths.items(), key=lambda p: -len(p[0])):
                if value == mount_path or value.startswith(mount_path + "/"):
                    env[variable] = str(local) + value[len(mount_path):]
                    break
        return container["command"], env, container.get("readinessProbe")


def main():
    rendered, env_file = sys.argv[1], sys.argv[2]
    bins = Path(sys.argv[sys.argv.index("--bins") + 1]) if "--bins" in sys.argv else REPO / "target/debug"
    print_config_only = "--print-config-only" in sys.argv
    test = read_env_file(env_file)
    cluster = Cluster(rendered)
    tag = uuid.uuid4().hex[:8]
    root = Path(tempfile.mkdtemp(prefix="astro-k8s-serving-"))
    processes = []
    failures = []

    # Local stand-ins for every in-cluster address the manifests name.
    ports = {name: free_port() for name in ORDER}
    pg = urllib.parse.urlparse(test["ASTRO_TEST_PG_ADMIN_URL"])
    mongo = urllib.parse.urlparse(test["ASTRO_TEST_MONGO_URL"])
    stripe = test["ASTRO_TEST_STRIPE_URL"]
    redis_port = free_port()
    addresses = {
        **{(n, 50051): ("127.0.0.1", ports[n]) for n in ORDER},
        ("gateway", 80): ("127.0.0.1", ports["gateway"]),
        ("postgres", 5432): (pg.hostname, pg.port),
        ("mongodb", 27017): (mongo.hostname, mongo.port),
        ("redis", 6379): ("127.0.0.1", redis_port),
        ("mailpit", 1025): (test["ASTRO_TEST_SMTP_HOST"], int(test["ASTRO_TEST_SMTP_PORT"])),
        ("otel-collector", 4317): ("127.0.0.1", free_port()),
    }
    database = f"k8s_serving_{tag}"

    def local(text):
        def replace(match):
            key = (match.group("host"), int(match.group("port")))
            if key not in addresses:
                return match.group(0)
            host, port = addresses[key]
            auth = match.group("auth") or ""
            if key[0] == "mongodb":
                auth = ""  # SecantusDB has no SCRAM (see the module doc)
            return f"{match.group('scheme') or ''}{auth}{host}:{port}"
        text = HOST_PORT.sub(replace, text)
        text = re.sub(r"(postgres://[^/]+/)astro\b", rf"\g<1>{database}", text)
        if text.startswith("mongodb://127.0.0.1"):
            text = re.sub(r"[?&]authSource=admin", "", text)
            text += ("&" if "?" in text else "?") + "directConnection=true"
        return text

    def rewrite_file(volume, key, value):
        return local(value.decode()).encode() if key == "url" else value

    def env_for(kind, name):
        command, env, probe = cluster.materialize(kind, name, root / name, rewrite_file)
        env = {k: local(v) if not k.endswith(("_FILE", "_DIR")) else v for k, v in env.items()}
        listen = next((k for k in env if k.endswith("_LISTEN_ADDR")), None)
        if listen:
            env[listen] = f"127.0.0.1:{ports[name]}"
        if env.get("ASTRO_NOTIFY_SMTP_HOST") == "mailpit":
            env["ASTRO_NOTIFY_SMTP_HOST"], smtp_port = addresses[("mailpit", int(env["ASTRO_NOTIFY_SMTP_PORT"]))]
            env["ASTRO_NOTIFY_SMTP_PORT"] = str(smtp_port)
        for variable in ("ASTRO_FINANCE_STRIPE_URL",):
            if variable in env:
                env[variable] = stripe
        # The image holds the web apps built from web/ (Dockerfile, stage web); here, the same
        # build that ./dev test made.
        if env.get("ASTRO_GATEWAY_WEB_DIR") == IMAGE_WEB_DIR:
            env["ASTRO_GATEWAY_WEB_DIR"] = str(REPO / "web" / "dist")
        if "ASTRO_SYSTEM_MONGO_DB" in env or "ASTRO_NOTIFY_MONGO_DB" in env:
            for variable in ("ASTRO_SYSTEM_MONGO_DB", "ASTRO_NOTIFY_MONGO_DB"):
                if variable in env:
                    env[variable] = f"k8s_serving_{tag}"
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "ASTRO_LOG_FORMAT": "json"}
        binary = bins / Path(command[0]).name
        return [str(binary), *command[1:]], {**base, **env}, probe

    try:
        if print_config_only:
            for name in ORDER:
                argv, env, _ = env_for("Deployment", name)
                result = subprocess.run([*argv, "--print-config"], env=env, capture_output=True, text=True, timeout=30)
                status = "ok" if result.returncode == 0 else "FAIL"
                print(f"  print-config {name}: {status}")
                if result.returncode:
                    failures.append(f"{name}: {result.stderr.strip().splitlines()[-1]}")
            return report(failures)

        # CacheDB: a private Redis with the redis-config Secret's requirepass.
        password = re.search(r"requirepass (\S+)", cluster.secret_text("redis-config", "redis.conf")).group(1)
        processes.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--requirepass", password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # OperationsDB: the Secret's role and password own a fresh database.
        url = urllib.parse.urlparse(cluster.secret_text("operations-db", "url"))
        admin = ["psql", "-h", pg.hostname, "-p", str(pg.port), "-U", pg.username or "postgres", "-d", "postgres",
                 "-v", "ON_ERROR_STOP=1", "-q"]
        subprocess.run([*admin, "-c",
                        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{url.username}') THEN "
                        f"CREATE ROLE {url.username} LOGIN PASSWORD '{url.password}'; END IF; END$$"], check=True)
        subprocess.run([*admin, "-c", f"CREATE DATABASE {database} OWNER {url.username}"], check=True)
        wait_port("127.0.0.1", redis_port, 10)

        started = time.monotonic()
        argv, env, _ = env_for("Job", "migrate")
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        print(f"  migrate Job: {'ok' if result.returncode == 0 else 'FAIL'}")
        if result.returncode:
            failures.append(f"migrate: {result.stderr.strip()[-400:]}")
            return report(failures)

        for name in ORDER:
            argv, env, probe = env_for("Deployment", name)
            log = open(root / f"{name}.log", "w")
            processes.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
            ok, detail = wait_ready(name, probe, ports[name], processes[-1], 60)
            print(f"  {name}: {'SERVING' if ok else 'NOT READY'} ({detail}, {time.monotonic() - started:.1f} s)")
            if not ok:
                failures.append(f"{name}: {detail}; last log lines:\n" + "\n".join(
                    (root / f"{name}.log").read_text().splitlines()[-8:]))
                break
        return report(failures)
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if not print_config_only:
            subprocess.run(["psql", "-h", pg.hostname, "-p", str(pg.port), "-U", pg.username or "postgres",
                            "-d", "postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"],
                           capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def wait_port(host, port, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{host}:{port} did not open")


def wait_ready(name, probe, port, process, seconds):
    """Runs the manifest's own readiness probe against the local port until it passes."""
    deadline = time.monotonic() + seconds
    detail = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False, f"exited with {process.returncode}"
        if "grpc" in probe:
            ok, detail = grpc_health(port, probe["grpc"].get("service", ""))
        else:
            ok, detail = http_probe(port, probe["httpGet"]["path"])
        if ok:
            return True, detail
        time.sleep(0.25)
    return False, detail


def grpc_health(port, service):
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=2)
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            return reply.status == health_pb2.HealthCheckResponse.SERVING, f"grpc health {service!r}: {status}"
    except grpc.RpcError as error:
        return False, f"grpc health {service!r}: {error.code().name}"


def http_probe(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
            return 200 <= reply.status < 400, f"GET {path}: {reply.status}"
    except OSError as error:
        return False, f"GET {path}: {error}"


def report(failures):
    for failure in failures:
        print(f"    {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
