"""Checks of deploy/prometheus/agent.yml, the Prometheus agent that scrapes the DaemonSet through
Kubernetes service discovery and remote-writes to a central store: promtool reads it as an agent
config, and its discovery and relabeling fit deploy/kubernetes/daemonset (the pods' labels, the port
name), so that it would find the pods the DaemonSet makes.

Debian's Prometheus (the one scripts/setup installs) is built without Kubernetes service discovery,
so its promtool does not know `kubernetes_sd_configs`: promtool checks the file with each
kubernetes_sd_configs block as a static target list instead, and the blocks themselves are checked
here against the fields Prometheus documents for them."""
import re
import tempfile

import yaml

from support import ROOT, failed, run

AGENT = ROOT / "deploy" / "prometheus" / "agent.yml"
DAEMONSET = ROOT / "deploy" / "kubernetes" / "daemonset" / "daemonset.yaml"
SD_KEYS = {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata", "basic_auth",
           "authorization", "oauth2", "tls_config", "proxy_url", "follow_redirects", "enable_http2"}
ROLES = {"pod", "endpoints", "endpointslice", "service", "node", "ingress"}


def config():
    return yaml.safe_load(AGENT.read_text())


def promtool_problems():
    document = config()
    for job in document.get("scrape_configs", []):
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["pod.example:9464"]}]
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as copy:
        yaml.safe_dump(document, copy)
        copy.flush()
        problem = failed(run(["promtool", "check", "config", "--agent", copy.name]))
    return [problem] if problem else []


def fit_problems():
    """The discovery blocks are well formed, and keep exactly the DaemonSet's metrics port."""
    document, problems = config(), []
    if "rule_files" in document or "alerting" in document:
        problems.append("an agent evaluates no rules: load alerts/*.yml in the central store")
    if not document.get("remote_write"):
        problems.append("no remote_write: the agent would keep what it scrapes")
    pods = [d for d in yaml.safe_load_all(DAEMONSET.read_text()) if d and d.get("kind") == "DaemonSet"][0]["spec"]["template"]
    labels = pods["metadata"]["labels"]
    ports = {p["name"] for c in pods["spec"]["containers"] for p in c.get("ports", [])}
    jobs = [j for j in document.get("scrape_configs", []) if j.get("kubernetes_sd_configs")]
    if not jobs:
        problems.append("no job discovers the DaemonSet's pods with kubernetes_sd_configs")
    for job in jobs:
        where = f"job {job.get('job_name')}"
        for sd in job["kubernetes_sd_configs"]:
            unknown = set(sd) - SD_KEYS
            if unknown:
                problems.append(f"{where}: kubernetes_sd_configs has unknown keys {sorted(unknown)}")
            if sd.get("role") not in ("pod", "endpoints"):
                problems.append(f"{where}: role {sd.get('role')!r}: discover pod or endpoints of the DaemonSet")
            for selector in sd.get("selectors", []):
                if selector.get("role") not in ROLES:
                    problems.append(f"{where}: selector role {selector.get('role')!r}")
                for term in (selector.get("label") or "").split(","):
                    name, _, value = term.partition("=")
                    if term and labels.get(name) != value:
                        problems.append(f"{where}: selector {term!r} does not match the DaemonSet's pods ({labels})")
        keep = [r for r in job.get("relabel_configs", []) if r.get("action") == "keep"
                and r.get("source_labels") == ["__meta_kubernetes_pod_container_port_name"]]
        if not keep or not any(re.fullmatch(r["regex"], port) for r in keep for port in ports):
            problems.append(f"{where}: no relabel keeps the DaemonSet's port ({sorted(ports)}) by __meta_kubernetes_pod_container_port_name")
        if not any(r.get("target_label") == "instance" and r.get("source_labels") == ["__meta_kubernetes_pod_node_name"]
                   for r in job.get("relabel_configs", [])):
            problems.append(f"{where}: instance is not set to the node's name (__meta_kubernetes_pod_node_name)")
    return problems


def checks(vigil):
    yield "deploy/prometheus/agent.yml under promtool check config --agent", promtool_problems
    yield "deploy/prometheus/agent.yml discovers the DaemonSet's pods and remote-writes", fit_problems
