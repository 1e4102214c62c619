"""Checks of deploy/kubernetes: each built-in resource against the Kubernetes API schemas
(kubernetes-validate, strict: an unknown field is an error), the custom resources against the
Prometheus Operator's shapes, the PrometheusRule against alerts/, the kustomizations, and how the
pieces of each pattern fit together (volumes, ports, probes, selectors, vigil's own config)."""
import re
import tempfile
from pathlib import Path

import yaml

from support import PEERS, ROOT, failed, run

KUBE = ROOT / "deploy" / "kubernetes"
PATTERNS = ("sidecar", "daemonset")
# The oldest and the newest Kubernetes the pinned kubernetes-validate knows, among those supported.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
CUSTOM_API = "monitoring.coreos.com/v1"
# The Prometheus Operator's Duration pattern (monitoring.coreos.com/v1, type Duration).
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# What Vigil may need for other users' processes (see deploy/systemd/vigil.service).
VIGIL_CAPABILITIES = {"DAC_READ_SEARCH", "SYS_PTRACE"}


def relative(path):
    return path.relative_to(ROOT)


def manifest_files():
    return sorted(p for p in KUBE.rglob("*.yaml") if p.name != "kustomization.yaml")


def documents(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def kustomized(directory):
    """(path, document) of every resource a kustomization directory builds, bases included."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    built = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            built += kustomized(target)
        else:
            built += [(target, d) for d in documents(target)]
    return built


def is_custom(document):
    return document.get("apiVersion") == CUSTOM_API


# --- the Kubernetes API schemas ------------------------------------------------------------------

def kubernetes_validate(paths):
    """{path: [problems]} from the real kubernetes-validate, strict, for each version."""
    problems = {p: [] for p in paths}
    for version in KUBERNETES_VERSIONS:
        result = run([PEERS / "kubernetes-validate", "--strict", "--kubernetes-version", version]
                     + [relative(p) for p in paths], cwd=ROOT)
        lines = (result.stdout + result.stderr).splitlines()
        for path in paths:
            name = str(relative(path))
            mine = [line for line in lines if name in line.split()]
            passed = [line for line in mine if line.startswith("INFO") and " passed " in line]
            if len(passed) != len(documents(path)) or len(mine) != len(passed):
                problems[path].append(f"Kubernetes {version}:")
                problems[path] += [f"  {line}" for line in mine if line not in passed] or ["  no verdict"]
        if result.returncode != 0 and not any(problems.values()):
            problems[paths[0]].append(failed(result))
    return problems


# --- the custom resources ------------------------------------------------------------------------

def string_map(value, where):
    if value is None:
        return []
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return [f"{where} is not a map of strings to strings"]
    return []


def duration(value, where, required=False):
    if value is None:
        return [f"{where} is missing"] if required else []
    if not isinstance(value, str) or not DURATION.match(value) or value == "":
        return [f"{where}: {value!r} is not a duration (try 30s, 5m, 1h30m)"]
    return []


def metadata_problems(document, kind):
    problems = []
    if document.get("apiVersion") != CUSTOM_API:
        problems.append(f"apiVersion is {document.get('apiVersion')!r}, not {CUSTOM_API}")
    if document.get("kind") != kind:
        problems.append(f"kind is {document.get('kind')!r}, not {kind}")
    name = (document.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not DNS_SUBDOMAIN.match(name):
        problems.append(f"metadata.name {name!r} is not a DNS subdomain name")
    problems += string_map((document.get("metadata") or {}).get("labels"), "metadata.labels")
    if not isinstance(document.get("spec"), dict):
        problems.append("spec is missing")
    return problems


RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


def prometheusrule_problems(document):
    problems = metadata_problems(document, "PrometheusRule")
    groups = (document.get("spec") or {}).get("groups")
    if not isinstance(groups, list) or not groups:
        return problems + ["spec.groups is not a non-empty list"]
    names = set()
    for g, group in enumerate(groups):
        where = f"spec.groups[{g}]"
        name = group.get("name") if isinstance(group, dict) else None
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.name is missing")
        elif name in names:
            problems.append(f"{where}.name {name!r} is used twice")
        names.add(name)
        problems += duration(group.get("interval"), f"{where}.interval")
        rules = group.get("rules") if isinstance(group, dict) else None
        if not isinstance(rules, list) or not rules:
            problems.append(f"{where}.rules is not a non-empty list")
            continue
        for r, rule in enumerate(rules):
            at = f"{where}.rules[{r}] ({rule.get('alert') or rule.get('record')})"
            unknown = set(rule) - RULE_KEYS
            if unknown:
                problems.append(f"{at}: unknown keys {sorted(unknown)}")
            if ("alert" in rule) == ("record" in rule):
                problems.append(f"{at}: has neither or both of alert and record")
            if not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
                problems.append(f"{at}: expr is missing")
            if "record" in rule and ("for" in rule or "annotations" in rule):
                problems.append(f"{at}: a recording rule has no `for` or annotations")
            problems += duration(rule.get("for"), f"{at}.for")
            problems += duration(rule.get("keep_firing_for"), f"{at}.keep_firing_for")
            problems += string_map(rule.get("labels"), f"{at}.labels")
            problems += string_map(rule.get("annotations"), f"{at}.annotations")
    return problems


def prometheusrule_promtool(document):
    """The rules as Prometheus itself reads them: `promtool check rules` on spec.groups."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as rules:
        yaml.safe_dump({"groups": document["spec"]["groups"]}, rules)
        rules.flush()
        problem = failed(run(["promtool", "check", "rules", rules.name]))
    return [problem] if problem else []


ENDPOINT_SCHEMES = {None, "http", "https"}


def servicemonitor_problems(document):
    problems = metadata_problems(document, "ServiceMonitor")
    spec = document.get("spec") or {}
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        problems.append("spec.selector selects nothing (matchLabels or matchExpressions)")
    else:
        problems += string_map(selector.get("matchLabels"), "spec.selector.matchLabels")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        return problems + ["spec.endpoints is not a non-empty list"]
    for e, endpoint in enumerate(endpoints):
        where = f"spec.endpoints[{e}]"
        if not isinstance(endpoint.get("port"), str) or not endpoint["port"]:
            problems.append(f"{where}.port (a Service port name) is missing")
        problems += duration(endpoint.get("interval"), f"{where}.interval", required=True)
        problems += duration(endpoint.get("scrapeTimeout"), f"{where}.scrapeTimeout")
        if endpoint.get("scheme") not in ENDPOINT_SCHEMES:
            problems.append(f"{where}.scheme {endpoint.get('scheme')!r} is not http or https")
        if "path" in endpoint and not str(endpoint["path"]).startswith("/"):
            problems.append(f"{where}.path does not start with /")
    return problems


# --- the kustomizations --------------------------------------------------------------------------

def kustomization_problems():
    problems = []
    listed = set()
    for path in sorted(KUBE.rglob("kustomization.yaml")):
        document = yaml.safe_load(path.read_text()) or {}
        if document.get("kind") != "Kustomization":
            problems.append(f"{relative(path)}: kind is not Kustomization")
        for entry in document.get("resources", []):
            target = (path.parent / entry).resolve()
            if target.is_dir() and (target / "kustomization.yaml").exists():
                continue
            if not target.is_file():
                problems.append(f"{relative(path)}: resource {entry} does not exist")
            listed.add(target)
    problems += [f"{relative(p)} is in no kustomization" for p in manifest_files() if p.resolve() not in listed]
    for pattern in PATTERNS:
        seen = set()
        for path, document in kustomized(KUBE / pattern):
            key = (document.get("kind"), (document.get("metadata") or {}).get("name"))
            if key in seen:
                problems.append(f"{pattern}: {key[0]} {key[1]} is built twice")
            seen.add(key)
    return problems


# --- how each pattern fits together --------------------------------------------------------------

def option(args, name):
    """The value of --name=value or --name value in a container's args."""
    for i, arg in enumerate(args):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
    return None


def vigil_config_problems(vigil, text, where):
    """vigil.yml as `vigil check` reads it, and the port it listens on."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as config:
        config.write(text)
        config.flush()
        problem = failed(run([vigil, "check", config.name]))
    if problem:
        return [f"{where}: {problem.replace(config.name, f'{where} data.vigil.yml')}"], None
    listen = (yaml.safe_load(text) or {}).get("listen", "127.0.0.1:9464")
    return [], int(str(listen).rsplit(":", 1)[1])


def hardening_problems(pod, container):
    problems = []
    context = container.get("securityContext") or {}
    pod_context = pod.get("securityContext") or {}
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    capabilities = context.get("capabilities") or {}
    if capabilities.get("drop") != ["ALL"]:
        problems.append("capabilities.drop is not [ALL]")
    added = set(capabilities.get("add") or [])
    if added - VIGIL_CAPABILITIES:
        problems.append(f"capabilities.add {sorted(added - VIGIL_CAPABILITIES)}: Vigil needs at most {sorted(VIGIL_CAPABILITIES)}")
    non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
    if non_root and added:
        problems.append("capabilities are added to a non-root container, where Kubernetes leaves them without effect")
    if not non_root and context.get("runAsUser", pod_context.get("runAsUser")) != 0:
        problems.append("neither runAsNonRoot: true nor an explicit runAsUser: 0")
    if (pod_context.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append("the pod's seccompProfile is not RuntimeDefault")
    limits = (container.get("resources") or {}).get("limits") or {}
    requests = (container.get("resources") or {}).get("requests") or {}
    if "memory" not in limits or "memory" not in requests or "cpu" not in requests:
        problems.append("resources: requests.cpu, requests.memory and limits.memory are not all set")
    return problems


def pattern_problems(pattern, vigil):
    """How the workload, its ConfigMap, its Service and the ServiceMonitor of a pattern fit."""
    built = [d for _, d in kustomized(KUBE / pattern)]
    by_kind = {}
    for document in built:
        by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document
    workloads = [d for d in built if d["kind"] in ("Deployment", "DaemonSet")]
    if len(workloads) != 1:
        return [f"{len(workloads)} workloads, not one"]
    workload = workloads[0]
    pod = workload["spec"]["template"]["spec"]
    pod_labels = workload["spec"]["template"]["metadata"].get("labels", {})
    problems = []
    if pattern == "sidecar" and pod.get("shareProcessNamespace") is not True:
        problems.append("the sidecar's pod does not set shareProcessNamespace: true")
    if pattern == "daemonset" and pod.get("hostPID") is not True:
        problems.append("the DaemonSet's pod does not set hostPID: true")
    vigils = [c for c in pod["containers"] if c["name"] == "vigil"]
    if len(vigils) != 1:
        return problems + ["no container named vigil"]
    container = vigils[0]
    problems += [f"vigil container: {p}" for p in hardening_problems(pod, container)]

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        if volume is None:
            problems.append(f"volumeMount {mount['name']} names no volume")
            continue
        for kind, key, field in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
            source = volume.get(key)
            if source and not source.get("optional") and source[field] not in by_kind.get(kind, {}):
                problems.append(f"volume {volume['name']}: {kind} {source[field]} is not in the {pattern} kustomization")

    args = container.get("args", [])
    if args[:1] != ["serve"]:
        problems.append(f"the vigil container's args do not start with serve: {args}")
    config_path = option(args, "config")
    port = None
    mounts = {m["mountPath"]: volumes.get(m["name"], {}) for m in container.get("volumeMounts", [])}
    config_map = (mounts.get(str(Path(config_path or "/").parent)) or {}).get("configMap")
    if not config_path or not config_map:
        problems.append(f"--config {config_path} is not a file in a mounted ConfigMap")
    else:
        data = (by_kind.get("ConfigMap", {}).get(config_map["name"]) or {}).get("data", {})
        key = Path(config_path).name
        if key not in data:
            problems.append(f"ConfigMap {config_map['name']} has no key {key} (--config {config_path})")
        else:
            config_problems, port = vigil_config_problems(vigil, data[key], f"ConfigMap {config_map['name']}")
            problems += config_problems
    web_config = option(args, "web.config.file")
    if not web_config or str(Path(web_config).parent) not in mounts or "secret" not in mounts[str(Path(web_config).parent)]:
        problems.append(f"--web.config.file {web_config} is not a file in a mounted Secret")

    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    if "metrics" not in ports:
        problems.append("the vigil container has no port named metrics")
    elif port is not None and ports["metrics"] != port:
        problems.append(f"port metrics is {ports['metrics']}, but vigil.yml listens on {port}")
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path or get.get("port") != "metrics":
            problems.append(f"{probe} is not GET {path} on port metrics")

    services = list(by_kind.get("Service", {}).values())
    if len(services) != 1:
        return problems + [f"{len(services)} Services, not one"]
    service = services[0]
    selector = service["spec"].get("selector") or {}
    if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
        problems.append(f"Service {service['metadata']['name']} selects {selector}, not the pod's labels {pod_labels}")
    service_ports = {p.get("name"): p for p in service["spec"].get("ports", [])}
    if service_ports.get("metrics", {}).get("targetPort") not in ("metrics", ports.get("metrics")):
        problems.append("the Service's port metrics does not target the container's port metrics")
    for monitor in by_kind.get("ServiceMonitor", {}).values():
        wanted = monitor["spec"]["selector"].get("matchLabels", {})
        labels = service["metadata"].get("labels", {})
        if any(labels.get(k) != v for k, v in wanted.items()):
            problems.append(f"ServiceMonitor {monitor['metadata']['name']} selects {wanted}, not the Service's labels {labels}")
        for endpoint in monitor["spec"]["endpoints"]:
            if endpoint.get("port") not in service_ports:
                problems.append(f"ServiceMonitor endpoint port {endpoint.get('port')} is not a port of the Service")
    return problems


def checks(vigil):
    files = manifest_files()
    builtin = [p for p in files if not any(is_custom(d) for d in documents(p))]
    custom = {d["kind"]: (p, d) for p in files for d in documents(p) if is_custom(d)}
    validated = {}

    def validated_problems(path):
        if not validated:
            validated.update(kubernetes_validate(builtin))
        return validated[path]

    for path in builtin:
        yield f"kubernetes-validate --strict {relative(path)}", lambda path=path: validated_problems(path)
    for kind, shape in (("ServiceMonitor", servicemonitor_problems), ("PrometheusRule", prometheusrule_problems)):
        if kind not in custom:
            yield f"{kind} shape", lambda kind=kind: [f"no {kind} under {relative(KUBE)}"]
            continue
        path, document = custom[kind]
        yield f"{kind} shape {relative(path)}", lambda shape=shape, document=document: shape(document)
    if "PrometheusRule" in custom:
        yield "PrometheusRule rules under promtool check rules", lambda: prometheusrule_promtool(custom["PrometheusRule"][1])
    yield "PrometheusRule generated from alerts/vigil-alerts.yml and vigil-recording.yml", lambda: [
        p for p in [failed(run([PEERS / "python", ROOT / "scripts" / "gen-prometheusrule", "--check"]))] if p]
    yield "kustomizations list every manifest once", kustomization_problems
    for pattern in PATTERNS:
        yield f"{pattern}: workload, config, Service and ServiceMonitor fit", lambda pattern=pattern: pattern_problems(pattern, vigil)
