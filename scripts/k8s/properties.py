#!/usr/bin/env python3
"""Property tests over the rendered Kubernetes manifests (`kubectl kustomize k8s/overlays/X`).

Usage: properties.py OVERLAY RENDERED.yaml [--self-test]

Each property returns the list of its violations. `--self-test` breaks a copy of the rendered
objects in one way per property (a missing env var, a probe on the wrong port, a pod without a
policy, ...) and fails unless the matching property catches it: a property that cannot fail
proves nothing.
"""

import base64
import copy
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "astrobookings"
SERVICES = ["system", "agency", "booking", "finance", "notify"]
WORKLOADS = SERVICES + ["gateway"]
# Addresses outside the cluster, the only URLs allowed not to name a rendered Service.
EXTERNAL_URLS = {"ASTRO_FINANCE_STRIPE_URL", "ASTRO_NOTIFY_PUBLIC_BASE_URL"}
# Secrets and ConfigMaps the prod overlay expects to exist (k8s/README.md, "Secrets").
PROD_EXTERNAL = {
    "Secret": {f"{s}-identity" for s in SERVICES}
    | {"jwt-signing-key", "admin", "operations-db", "system-db", "cache-db", "stripe", "smtp",
       "redis-config", "system-db-password"},
    "ConfigMap": {"service-public-keys"},
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "StorageClass", "PriorityClass"}
POD_KINDS = {"Deployment", "StatefulSet", "Job", "DaemonSet"}
# The datastore behind each connection-URL Secret the prod overlay does not render (its URL
# names an operator-made Service): the pods' name label and port.
PROD_SECRET_PEERS = {"operations-db": ("postgres", 5432), "system-db": ("mongodb", 27017),
                     "cache-db": ("redis", 6379)}
HEALTH_NAMES = {s: f"astrobookings.{s}.v1.{s.capitalize()}Service" for s in SERVICES}


def load(path):
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def name(doc):
    return doc["metadata"]["name"]


def pod_spec(doc):
    return doc["spec"]["template"]["spec"]


def pod_labels(doc):
    return doc["spec"]["template"]["metadata"].get("labels", {})


def selects(selector, labels):
    """A label selector (matchLabels and matchExpressions In/NotIn/Exists) matches labels."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def generated_name(docs, kind, base):
    """kustomize appends a content hash to generated ConfigMaps and Secrets."""
    for doc in by_kind(docs, kind):
        if name(doc) == base or re.fullmatch(re.escape(base) + r"-[a-z0-9]{10}", name(doc)):
            return doc
    return None


def config_map_data(docs, ref):
    doc = next((d for d in by_kind(docs, "ConfigMap") if name(d) == ref), None)
    return None if doc is None else doc.get("data", {})


def container_env(docs, doc):
    """The environment one pod's first container gets from envFrom and env (values as set)."""
    container = pod_spec(doc)["containers"][0]
    env = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        data = config_map_data(docs, ref)
        if data is not None:
            env.update(data)
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", "(from valueFrom)")
    return env


def deployments(docs, names=WORKLOADS):
    return [d for d in by_kind(docs, "Deployment") if name(d) in names]


# ---------------------------------------------------------------------------------------------
# The variables each process's Config requires, read from its source: `env.required("X")` and
# `env.required_secret("X")` (X or X_FILE), with the service-identity settings for the services
# that build a ServiceAuthConfig.

REQUIRED = re.compile(r'env\.required(?:_secret)?(?:::<[^>]*>)?\("([A-Z0-9_]+)"\)')
SECRET = re.compile(r'env\.required_secret\("([A-Z0-9_]+)"\)')


def required_variables(workload):
    crate = REPO / ("gateway" if workload == "gateway" else f"services/{workload}") / "src" / "lib.rs"
    source = crate.read_text()
    names = {(n, bool(SECRET.search(f'env.required_secret("{n}")')) and
              f'required_secret("{n}")' in source) for n in REQUIRED.findall(source)}
    if "ServiceAuthConfig::from_env" in source:
        shared = (REPO / "shared/src/service_auth.rs").read_text()
        names |= {(n, False) for n in REQUIRED.findall(shared)}
    prefix = f"ASTRO_{workload.upper()}_"
    return {(prefix + n, secret) for n, secret in names}


def prop_required_env(docs):
    errors = []
    for doc in deployments(docs):
        env = container_env(docs, doc)
        for variable, secret in sorted(required_variables(name(doc))):
            if variable in env or (secret and variable + "_FILE" in env):
                continue
            errors.append(f"Deployment {name(doc)}: {variable} is required by its Config but not set")
    return errors


def mounted_file(docs, doc, path):
    """Whether `path` is a key of a Secret/ConfigMap volume (or inside a mounted directory)."""
    spec = pod_spec(doc)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for mount in spec["containers"][0].get("volumeMounts", []):
        root = mount["mountPath"].rstrip("/")
        if path != root and not path.startswith(root + "/"):
            continue
        volume = volumes.get(mount["name"], {})
        key = path[len(root) + 1:]
        for kind, field, ref in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
            if field in volume:
                object_name = volume[field][ref]
                obj = next((d for d in by_kind(docs, kind) if name(d) == object_name), None)
                if obj is None:
                    return object_name in PROD_EXTERNAL[kind]
                return key == "" or key in (obj.get("data") or {})
        return "emptyDir" not in volume
    return False


# Directories the image itself holds rather than a volume: the built web apps the gateway
# serves. Each must be a COPY destination of the Dockerfile.
IMAGE_DIRS = {"/usr/share/astrobookings/web"}


def in_image(path):
    if path not in IMAGE_DIRS:
        return False
    dockerfile = (REPO / "Dockerfile").read_text()
    return re.search(rf"^COPY --from=\S+ \S+ {re.escape(path)}/?$", dockerfile, re.M) is not None


def prop_files_mounted(docs):
    errors = []
    for doc in [d for d in by_kind(docs, "Deployment") + by_kind(docs, "Job")]:
        for variable, value in container_env(docs, doc).items():
            if variable.endswith(("_FILE", "_DIR")) and not (mounted_file(docs, doc, value) or in_image(value)):
                errors.append(f"{doc['kind']} {name(doc)}: {variable}={value} is not a mounted key")
    return errors


# ---------------------------------------------------------------------------------------------
# URLs name rendered Services and their ports.

URL = re.compile(r"^(?:[a-z]+://)?(?:[^@/]*@)?([a-z0-9.-]+):(\d+)")


def service_ports(docs):
    return {name(s): {p["port"] for p in s["spec"].get("ports", [])} for s in by_kind(docs, "Service")}


def url_targets(docs, doc):
    """(variable, host, port) for every URL-valued setting of a pod, secrets' URLs included."""
    found = []
    for variable, value in container_env(docs, doc).items():
        if variable.endswith("_URL") and variable not in EXTERNAL_URLS:
            match = URL.match(value)
            found.append((variable, match.group(1) if match else value, int(match.group(2)) if match else None))
    return found


def secret_urls(docs):
    """The URL secrets the dev overlay renders (prod creates its own out of band)."""
    found = []
    for secret in by_kind(docs, "Secret"):
        for key, value in (secret.get("data") or {}).items():
            if key == "url":
                text = base64.b64decode(value).decode()
                match = URL.match(text)
                found.append((name(secret), match.group(1) if match else text,
                              int(match.group(2)) if match else None))
    return found


def prop_urls_name_services(docs):
    services = service_ports(docs)
    errors = []
    targets = [(f"Deployment {name(d)}: {v}", h, p) for d in deployments(docs) for v, h, p in url_targets(docs, d)]
    targets += [(f"Secret {s}", h, p) for s, h, p in secret_urls(docs)]
    for where, host, port in targets:
        if host not in services or port not in services[host]:
            errors.append(f"{where} names {host}:{port}, which no rendered Service serves")
    return errors


def prop_target_ports(docs):
    errors = []
    workloads = [d for d in docs if d.get("kind") in POD_KINDS]
    for service in by_kind(docs, "Service"):
        pods = [w for w in workloads if selects({"matchLabels": service["spec"].get("selector", {})}, pod_labels(w))]
        if not pods:
            errors.append(f"Service {name(service)} selects no rendered pod")
            continue
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            for pod in pods:
                ports = [p for c in pod_spec(pod)["containers"] for p in c.get("ports", [])]
                if not any(target in (p.get("name"), p["containerPort"]) for p in ports):
                    errors.append(f"Service {name(service)} port {port['port']}: targetPort {target} "
                                  f"is not a port of {pod['kind']} {name(pod)}")
    return errors


# ---------------------------------------------------------------------------------------------
# Probes and graceful shutdown.

def prop_probes(docs):
    errors = []
    for doc in deployments(docs):
        container = pod_spec(doc)["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            spec = container.get(probe)
            if spec is None:
                errors.append(f"Deployment {name(doc)}: no {probe}")
                continue
            if name(doc) == "gateway":
                action = spec.get("httpGet", {})
                if action.get("port") not in ports and action.get("port") not in ports.values():
                    errors.append(f"Deployment gateway: {probe} port {action.get('port')} is not a container port")
                continue
            grpc = spec.get("grpc")
            if grpc is None or grpc.get("port") != ports.get("grpc"):
                errors.append(f"Deployment {name(doc)}: {probe} is not grpc on the grpc port {ports.get('grpc')}")
            elif probe == "readinessProbe" and grpc.get("service") != HEALTH_NAMES[name(doc)]:
                errors.append(f"Deployment {name(doc)}: readiness names {grpc.get('service')!r}, "
                              f"not {HEALTH_NAMES[name(doc)]}")
        env = container_env(docs, doc)
        listen = env.get(f"ASTRO_{name(doc).upper()}_LISTEN_ADDR", "")
        if not listen.startswith("0.0.0.0:") or int(listen.split(":")[1]) not in ports.values():
            errors.append(f"Deployment {name(doc)}: LISTEN_ADDR {listen!r} is not 0.0.0.0 on a container port")
        sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        prefix = f"ASTRO_{name(doc).upper()}_"
        drain = (int(env.get(prefix + "DRAIN_DELAY_MS", 1000)) + int(env.get(prefix + "DRAIN_TIMEOUT_MS", 10000))) / 1000
        grace = pod_spec(doc).get("terminationGracePeriodSeconds", 30)
        if sleep <= 0 or grace < sleep + drain:
            errors.append(f"Deployment {name(doc)}: grace {grace}s < preStop sleep {sleep}s + drain {drain}s")
    return errors


def prop_hardening(docs):
    errors = []
    for doc in [d for d in docs if d.get("kind") in POD_KINDS]:
        spec = pod_spec(doc)
        pod = spec.get("securityContext", {})
        if spec.get("automountServiceAccountToken") is not False:
            errors.append(f"{doc['kind']} {name(doc)}: automountServiceAccountToken is not false")
        if pod.get("runAsNonRoot") is not True or pod.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            errors.append(f"{doc['kind']} {name(doc)}: pod is not runAsNonRoot with seccomp RuntimeDefault")
        for container in spec["containers"]:
            context = container.get("securityContext", {})
            if not (context.get("readOnlyRootFilesystem") is True
                    and context.get("allowPrivilegeEscalation") is False
                    and context.get("capabilities", {}).get("drop") == ["ALL"]):
                errors.append(f"{doc['kind']} {name(doc)}: container {container['name']} is not hardened")
            resources = container.get("resources", {})
            if not all(k in resources.get(s, {}) for s in ("requests", "limits") for k in ("cpu", "memory")):
                errors.append(f"{doc['kind']} {name(doc)}: container {container['name']} lacks requests/limits")
        if name(doc) in WORKLOADS + ["migrate"] and (pod.get("runAsUser"), pod.get("runAsGroup")) != (65532, 65532):
            errors.append(f"{doc['kind']} {name(doc)}: not uid/gid 65532")
    return errors


# ---------------------------------------------------------------------------------------------
# PDB, HPA, namespaces.

def prop_pdb_hpa(docs, overlay):
    errors = []
    deploys = {name(d): d for d in by_kind(docs, "Deployment")}
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        if not any(selects(pdb["spec"].get("selector"), pod_labels(d)) for d in deploys.values()):
            errors.append(f"PodDisruptionBudget {name(pdb)} selects no Deployment")
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        if target.get("kind") != "Deployment" or target.get("name") not in deploys:
            errors.append(f"HorizontalPodAutoscaler {name(hpa)} targets {target}, not a rendered Deployment")
        if hpa.get("apiVersion") != "autoscaling/v2" or hpa["spec"].get("minReplicas", 1) < 2:
            errors.append(f"HorizontalPodAutoscaler {name(hpa)}: not autoscaling/v2 with minReplicas >= 2")
    if overlay == "prod":
        for workload in WORKLOADS:
            if not any(hpa["spec"]["scaleTargetRef"].get("name") == workload for hpa in by_kind(docs, "HorizontalPodAutoscaler")):
                errors.append(f"prod: Deployment {workload} has no HorizontalPodAutoscaler")
            if not any(selects(p["spec"].get("selector"), pod_labels(deploys[workload]))
                       for p in by_kind(docs, "PodDisruptionBudget") if workload in deploys):
                errors.append(f"prod: Deployment {workload} has no PodDisruptionBudget")
    elif by_kind(docs, "PodDisruptionBudget") or by_kind(docs, "HorizontalPodAutoscaler"):
        errors.append(f"{overlay}: has a PDB or HPA")
    return errors


def prop_namespace(docs):
    errors = []
    for doc in docs:
        if doc["kind"] in CLUSTER_SCOPED:
            continue
        namespace = doc["metadata"].get("namespace")
        if namespace != NAMESPACE:
            errors.append(f"{doc['kind']} {name(doc)} lands in {namespace or 'default'!r}, not {NAMESPACE}")
    return errors


def prop_references_exist(docs, overlay):
    """Every Secret and ConfigMap a pod refers to is rendered (prod: or created out of band)."""
    errors = []
    for doc in [d for d in docs if d.get("kind") in POD_KINDS]:
        spec = pod_spec(doc)
        refs = [("Secret", v["secret"]["secretName"]) for v in spec.get("volumes", []) if "secret" in v]
        refs += [("ConfigMap", v["configMap"]["name"]) for v in spec.get("volumes", []) if "configMap" in v]
        refs += [("ConfigMap", s["configMapRef"]["name"]) for c in spec["containers"] for s in c.get("envFrom", []) if "configMapRef" in s]
        for kind, ref in refs:
            if any(name(d) == ref for d in by_kind(docs, kind)):
                continue
            if overlay == "prod" and ref in PROD_EXTERNAL[kind]:
                continue
            errors.append(f"{doc['kind']} {name(doc)} refers to {kind} {ref}, which is not rendered")
    return errors


# ---------------------------------------------------------------------------------------------
# Network policies: default deny both ways, one policy of its own for every pod, and the
# reachability they allow is exactly what the *_URL settings need.

def pods(docs):
    """(kind, name, labels, container ports) of every pod template, operator-made pods included."""
    found = [(d["kind"], name(d), pod_labels(d), [p for c in pod_spec(d)["containers"] for p in c.get("ports", [])])
             for d in docs if d.get("kind") in POD_KINDS]
    for cluster in [d for d in docs if d.get("kind") == "Cluster"]:
        labels = cluster["spec"].get("inheritedMetadata", {}).get("labels", {})
        found.append(("Cluster", name(cluster), labels, [{"name": "postgresql", "containerPort": 5432}]))
    for replica_set in [d for d in docs if d.get("kind") == "MongoDBCommunity"]:
        labels = replica_set["spec"].get("statefulSet", {}).get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
        found.append(("MongoDBCommunity", name(replica_set), labels, [{"name": "mongodb", "containerPort": 27017}]))
    return found


def prop_network_policies(docs):
    errors = []
    policies = by_kind(docs, "NetworkPolicy")
    deny = [p for p in policies if p["spec"].get("podSelector") == {}
            and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    if not deny:
        errors.append("no default-deny NetworkPolicy for both Ingress and Egress")
    for kind, pod_name, labels, _ in pods(docs):
        own = [p for p in policies if p["spec"].get("podSelector") and selects(p["spec"]["podSelector"], labels)]
        if not own:
            errors.append(f"{kind} {pod_name}: no NetworkPolicy of its own selects its pods")
    return errors


def allowed(policies, source, target, port, direction):
    """Whether one direction's policies selecting the pod let `source` labels reach `target` on port."""
    subject, peer = (target, source) if direction == "ingress" else (source, target)
    peer_key = "from" if direction == "ingress" else "to"
    for policy in policies:
        selector = policy["spec"].get("podSelector")
        if not selects(selector, subject) and selector != {}:
            continue
        for rule in policy["spec"].get(direction) or []:
            ports = rule.get("ports")
            if ports and not any(p.get("port") == port for p in ports):
                continue
            peers = rule.get(peer_key)
            if peers is None or any("podSelector" in p and "namespaceSelector" not in p and selects(p["podSelector"], peer) for p in peers):
                return True
    return False


def prop_reachability(docs):
    errors = []
    policies = by_kind(docs, "NetworkPolicy")
    services = {name(s): s for s in by_kind(docs, "Service")}
    all_pods = pods(docs)
    for doc in deployments(docs) + [d for d in by_kind(docs, "Job")]:
        source = pod_labels(doc)
        env = container_env(docs, doc)
        needed = {(h, p) for _, h, p in url_targets(docs, doc)}
        volumes = {v["secret"]["secretName"] for v in pod_spec(doc).get("volumes", []) if "secret" in v}
        needed |= {(h, p) for s, h, p in secret_urls(docs) if s in volumes}
        if "OTEL_EXPORTER_OTLP_ENDPOINT" in env:
            match = URL.match(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
            needed.add((match.group(1), int(match.group(2))))
        smtp = env.get("ASTRO_NOTIFY_SMTP_HOST")
        if smtp in services:
            needed.add((smtp, int(env.get("ASTRO_NOTIFY_SMTP_PORT", 25))))
        reachable_targets = set()
        rendered = {name(s) for s in by_kind(docs, "Secret")}
        for secret in sorted(volumes - rendered):
            if secret in PROD_SECRET_PEERS:
                label, port = PROD_SECRET_PEERS[secret]
                reachable_targets.add(label)
                for kind, pod_name, labels, _ in all_pods:
                    if labels.get("app.kubernetes.io/name") != label:
                        continue
                    for direction in ("egress", "ingress"):
                        if not allowed(policies, source, labels, port, direction):
                            errors.append(f"{doc['kind']} {name(doc)} -> {label}:{port} ({pod_name}): "
                                          f"{direction} is denied by the network policies")
        for host, port in needed:
            service = services.get(host)
            if service is None:
                continue
            spec_port = next((p for p in service["spec"]["ports"] if p["port"] == port), None)
            for kind, pod_name, labels, ports in all_pods:
                if not selects({"matchLabels": service["spec"]["selector"]}, labels):
                    continue
                target_port = spec_port.get("targetPort", port) if spec_port else port
                number = next((p["containerPort"] for p in ports if target_port in (p.get("name"), p["containerPort"])), target_port)
                reachable_targets.add(labels.get("app.kubernetes.io/name"))
                for direction in ("egress", "ingress"):
                    if not allowed(policies, source, labels, number, direction):
                        errors.append(f"{doc['kind']} {name(doc)} -> {host}:{port} ({pod_name}): "
                                      f"{direction} is denied by the network policies")
        # Only real callees: every pod the policies let it reach is one it needs.
        for policy in policies:
            if not policy["spec"].get("podSelector") or not selects(policy["spec"]["podSelector"], source):
                continue
            for rule in policy["spec"].get("egress") or []:
                for peer in rule.get("to") or []:
                    target = (peer.get("podSelector") or {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                    if target and target not in reachable_targets:
                        errors.append(f"NetworkPolicy {name(policy)} lets {name(doc)} reach {target}, which it never calls")
    return errors


def run(docs, overlay):
    properties = {
        "required env": prop_required_env(docs),
        "files mounted": prop_files_mounted(docs),
        "urls name services": prop_urls_name_services(docs),
        "target ports": prop_target_ports(docs),
        "probes and shutdown": prop_probes(docs),
        "hardening": prop_hardening(docs),
        "pdb and hpa": prop_pdb_hpa(docs, overlay),
        "namespace": prop_namespace(docs),
        "references exist": prop_references_exist(docs, overlay),
        "network policies": prop_network_policies(docs),
        "reachability": prop_reachability(docs),
    }
    return properties


# ---------------------------------------------------------------------------------------------
# Self-test: one deliberate break per property.

def find(docs, kind, object_name):
    return next(d for d in docs if d["kind"] == kind and name(d) == object_name)


def drop_config(docs, variable):
    for doc in by_kind(docs, "ConfigMap"):
        (doc.get("data") or {}).pop(variable, None)


def break_probe_port(docs):
    pod_spec(find(docs, "Deployment", "booking"))["containers"][0]["readinessProbe"]["grpc"]["port"] = 50052


def break_policy(docs):
    extra = copy.deepcopy(find(docs, "Deployment", "agency"))
    extra["metadata"]["name"] = "agency-canary"
    extra["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "agency-canary"
    docs.append(extra)


def break_url(docs):
    for doc in by_kind(docs, "ConfigMap"):
        if "ASTRO_BOOKING_FINANCE_URL" in (doc.get("data") or {}):
            doc["data"]["ASTRO_BOOKING_FINANCE_URL"] = "http://finance:50052"


def break_target_port(docs):
    find(docs, "Service", "system")["spec"]["ports"][0]["targetPort"] = "grpc-web"


def break_grace(docs):
    pod_spec(find(docs, "Deployment", "notify"))["terminationGracePeriodSeconds"] = 10


def break_hardening(docs):
    pod_spec(find(docs, "Deployment", "finance"))["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False


def break_namespace(docs):
    find(docs, "Service", "gateway")["metadata"].pop("namespace")


def break_egress(docs):
    policy = find(docs, "NetworkPolicy", "notify")
    policy["spec"]["egress"] = [r for r in policy["spec"]["egress"]
                                if r.get("to", [{}])[0].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") != "booking"]


def break_extra_egress(docs):
    find(docs, "NetworkPolicy", "agency")["spec"]["egress"].append(
        {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mongodb"}}}], "ports": [{"port": 27017, "protocol": "TCP"}]})


def break_pdb(docs):
    find(docs, "PodDisruptionBudget", "booking")["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "bookings"


def break_reference(docs):
    pod_spec(find(docs, "Deployment", "system"))["volumes"].append({"name": "extra", "secret": {"secretName": "not-rendered"}})


BREAKS = [
    ("a missing env var (ASTRO_SYSTEM_JWT_PRIVATE_KEY_FILE)", "required env", lambda d: drop_config(d, "ASTRO_SYSTEM_JWT_PRIVATE_KEY_FILE"), None),
    ("a *_FILE pointing at no mounted key", "files mounted",
     lambda d: config_map_data(d, next(name(c) for c in by_kind(d, "ConfigMap") if name(c).startswith("agency-config"))).__setitem__(
         "ASTRO_AGENCY_SERVICE_KEY_FILE", "/var/run/secrets/astro/agency-identity/wrong.pem"), "dev"),
    ("a URL on a port no Service serves", "urls name services", break_url, None),
    ("a Service targetPort no pod has", "target ports", break_target_port, None),
    ("a readiness probe on a wrong port", "probes and shutdown", break_probe_port, None),
    ("a grace period shorter than preStop + drain", "probes and shutdown", break_grace, None),
    ("a writable root filesystem", "hardening", break_hardening, None),
    ("an object in default", "namespace", break_namespace, None),
    ("a pod without a policy", "network policies", break_policy, None),
    ("a caller whose egress to its callee is denied", "reachability", break_egress, None),
    ("a policy letting a workload reach what it never calls", "reachability", break_extra_egress, None),
    ("a Secret that is not rendered", "references exist", break_reference, None),
    ("a PDB selecting no Deployment", "pdb and hpa", break_pdb, "prod"),
]


def self_test(docs, overlay):
    failures = 0
    for description, prop, mutate, only in BREAKS:
        if only and only != overlay:
            continue
        broken = copy.deepcopy(docs)
        mutate(broken)
        caught = run(broken, overlay)[prop]
        status = "caught" if caught else "MISSED"
        failures += not caught
        print(f"  self-test {overlay}: {description}: {status}" + (f" ({caught[0]})" if caught else ""))
    return failures


def main():
    overlay, rendered = sys.argv[1], sys.argv[2]
    docs = load(rendered)
    failed = 0
    for prop, errors in run(docs, overlay).items():
        print(f"  {overlay}: {prop}: {'ok' if not errors else 'FAIL'}")
        for error in errors:
            print(f"    {error}")
        failed += bool(errors)
    if "--self-test" in sys.argv:
        failed += self_test(docs, overlay)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
