"""Vigil on a fleet of three nodes, against a real Prometheus server, a Prometheus agent and a central
Prometheus that receives the agent's remote writes.

Each node has its own loopback address (127.0.0.2-4) and runs:
  - `vigil serve` (job "vigil", the DaemonSet's sidecar): plugin "worker", one process of its own
    (`vigil hog` run through a per-node link, so that its comm is the node's own name and only
    that node's sidecar matches it), with a 64 MiB memory limit. Node 127.0.0.2 holds about 26 MB, 127.0.0.3 about 42 MB, and 127.0.0.4
    about 90 MB: over its limit.
  - `vigil demo --fast --no-hungry-child` (job "vigil-host"): a plugin host with phases and a
    breaker that trips.
Both targets of a node carry instance="<its address>", as a Kubernetes relabeling to the node would.
Node 127.0.0.2 leaves vigil_plugin_io_bytes_total out (exclude_families).

Checks, each one line: every target up; every scrape's vigil_exported_series adds up to the samples
Prometheus scraped from it, and the excluded family is gone; every dashboard query (panels, variables, annotations) runs
and returns data with $instance at "All" and with the over-limit node (the other nodes' queries must
run; which are empty there is printed); no panel but those marked as totals shows a figure above
the largest a single node shows for the same series; VigilPluginLimitExceeded fires for the node
over its limit, naming it, and for no other; the central Prometheus holds every node's plugin series
through remote write, and evaluates the recording rules on them. Ends "fleet: N passed, M failed"."""
import functools
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e.d"))
import waiting  # noqa: E402  (scripts/e2e.d/waiting.py)

ROOT = Path(__file__).resolve().parents[2]
VIGIL = ROOT / ".build/debug/vigil"
DEADLINE = time.time() + 240  # the whole run, set-up included; normally about 150 s
TOTAL = "Summed over the selected nodes."
ALERT = "VigilPluginLimitExceeded"
# Panels that may be empty here, and why: they must still run.
NO_DATA_HERE = {"vigil_plugin_cgroup_": "no plugin is matched by cgroup", "vigil_push_total": "the nodes push nowhere"}
LIMIT_MIB = 64
# MiB each node's worker holds on top of `vigil hog`'s own (about 17 MiB in a debug build).
NODES = {"127.0.0.2": 8, "127.0.0.3": 24, "127.0.0.4": 72}
OVER = "127.0.0.4"
# One node leaves a family out of its scrapes (exclude_families).
QUIET, EXCLUDED = "127.0.0.2", "vigil_plugin_io_bytes_total"
work = Path(tempfile.mkdtemp(prefix="vigil-fleet."))
tag = work.name.split(".")[-1].lower()
processes = []
results = {"passed": 0, "failed": 0}


def free_port(address):
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def start(args, log, **kwargs):
    p = subprocess.Popen(args, stdout=open(work / f"{log}.log", "w"), stderr=subprocess.STDOUT, cwd=work, **kwargs)
    processes.append(p)
    return p


def http(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode()


# Every wait ends by the fleet test's own DEADLINE at the latest.
wait_for = functools.partial(waiting.wait_for, deadline=DEADLINE)


def check(name, body):
    started = time.time()
    try:
        body()
        results["passed"] += 1
        print(f"fleet: ok   {name} ({time.time() - started:.0f}s)", flush=True)
    except Exception as error:
        results["failed"] += 1
        print(f"fleet: FAIL {name}: {error}", flush=True)


def query(prometheus, promql, at=None):
    params = {"query": promql}
    if at is not None:
        params["time"] = f"{at:.3f}"
    _, body = http(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode(params), timeout=15)
    answer = json.loads(body)
    if answer["status"] != "success":
        raise RuntimeError(f"query {promql!r} failed: {answer}")
    return answer["data"]["result"]


def key(labels):
    return tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))


def node_configs():
    """Each node's sidecar config and worker; returns {address: (sidecar port, host port)}."""
    ports = {}
    for address, mib in NODES.items():
        node = address.split(".")[-1]
        # comm is the name of the file executed: a link to vigil, named for this run and node
        # (at most 15 characters). A comm match costs a sweep one short read per process; a cmdline
        # pattern, on a machine whose compilers run with command lines of hundreds of kilobytes,
        # made a debug build's first sweep take minutes.
        marker = f"vf{tag[:8]}n{node}"
        (work / marker).symlink_to(VIGIL)
        sidecar_port, host_port = free_port(address), free_port(address)
        ports[address] = (sidecar_port, host_port)
        (work / f"node{node}.yml").write_text(
            f"listen: {address}:{sidecar_port}\n"
            "sampling_interval: 1s\n"
            "series_budget: 2000\n"
            + (f"exclude_families: [{EXCLUDED}]\n" if address == QUIET else "")
            +
            "plugins:\n"
            "  - name: worker\n"
            "    match:\n"
            f"      - comm: [{marker}]\n"
            "    smaps: true\n"
            "    limits:\n"
            f"      memory: {LIMIT_MIB}MiB\n"
            "      cpu: 1\n"
            "      open_fds: 256\n"
            "      threads: 16\n"
            "    on_limit:\n"
            "      for: 2s\n"
            "      action: signal\n"
            "      dry_run: true\n")
        checked = subprocess.run([str(VIGIL), "check", str(work / f"node{node}.yml")], capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            raise RuntimeError(f"vigil check node{node}.yml: {checked.stderr}")
        # The worker: `vigil hog` holding a constant size. It exits when this script does (it
        # watches its parent).
        start([str(work / marker), "hog", "--high-mib", str(mib), "--low-mib", str(mib), "--period-seconds", "3600"],
              f"node{node}-worker")
        start([str(VIGIL), "serve", "--config", str(work / f"node{node}.yml")], f"node{node}-sidecar")
        start([str(VIGIL), "demo", "--fast", "--no-hungry-child", "--listen", f"{address}:{host_port}",
               "--traces-file", str(work / f"node{node}-traces.jsonl")], f"node{node}-host")
    return ports


def scrape_jobs(ports):
    def job(name, index):
        return {"job_name": name, "static_configs": [
            {"targets": [f"{address}:{p[index]}"], "labels": {"instance": address}} for address, p in ports.items()]}
    return [job("vigil", 0), job("vigil-host", 1)]


def substitute(expr, instance):
    """The query Grafana sends: variables at "All" (.*), or $instance at one node, regex-escaped
    as Grafana escapes a single value in a =~ matcher."""
    values = {"$job": ".*", "$instance": re.escape(instance).replace("\\", "\\\\") if instance else ".*",
              "$plugin": ".*", "$phase": ".*", "$__rate_interval": "20s"}
    for name, value in values.items():
        expr = expr.replace(name, value)
    return expr


def exempt(expr):
    return any(name in expr for name in NO_DATA_HERE)


def dashboard_queries():
    """(board, panel title, expr, is a total) for every panel target, variable and annotation."""
    out = []
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                out.append((path.name, panel["title"], t["expr"], TOTAL in panel.get("description", "")))
        for v in board["templating"]["list"]:
            if v["type"] == "query":
                m = re.fullmatch(r"label_values\((.*), (\w+)\)", v["query"]["query"])
                out.append((path.name, f"variable {v['name']}", f"group by ({m.group(2)}) ({m.group(1)})", False))
        for a in board.get("annotations", {}).get("list", []):
            out.append((path.name, f"annotation {a['name']}", a["expr"], None))  # may be empty: nothing loaded in the last minute
    return out


def main():
    for address in NODES:
        try:
            free_port(address)
        except OSError as error:
            raise RuntimeError(f"cannot bind {address}: {error} (the fleet needs 127.0.0.2-4 on the loopback interface)")
    ports = node_configs()
    prom_port, agent_port, central_port = free_port("127.0.0.1"), free_port("127.0.0.1"), free_port("127.0.0.1")
    rules = [str(p) for p in sorted((ROOT / "alerts").glob("*.yml"))]
    server = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "rule_files": rules,
              "scrape_configs": scrape_jobs(ports)}
    central = {"global": {"evaluation_interval": "1s"}, "rule_files": rules}
    prometheus, central_url = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{central_port}"
    agent = {"global": {"scrape_interval": "1s", "external_labels": {"cluster": "fleet-test"}},
             "scrape_configs": scrape_jobs(ports),
             "remote_write": [{"url": f"{central_url}/api/v1/write", "queue_config": {"batch_send_deadline": "1s"}}]}
    for name, config in [("prometheus", server), ("central", central), ("agent", agent)]:
        (work / f"{name}.yml").write_text(json.dumps(config))  # JSON is YAML
    checked = subprocess.run(["promtool", "check", "config", "--agent", str(work / "agent.yml")], capture_output=True, text=True, timeout=30)
    if checked.returncode != 0:
        raise RuntimeError(f"promtool check config --agent: {checked.stdout}{checked.stderr}")
    common = ["--log.level=warn"]
    start(["prometheus", f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
           f"--web.listen-address=127.0.0.1:{prom_port}", *common], "prometheus")
    start(["prometheus", f"--config.file={work / 'central.yml'}", f"--storage.tsdb.path={work / 'central-data'}",
           "--web.enable-remote-write-receiver", f"--web.listen-address=127.0.0.1:{central_port}", *common], "central")
    start(["prometheus", "--enable-feature=agent", f"--config.file={work / 'agent.yml'}", f"--storage.agent.path={work / 'agent-data'}",
           f"--web.listen-address=127.0.0.1:{agent_port}", *common], "agent")
    for url in (prometheus, central_url, f"http://127.0.0.1:{agent_port}"):
        wait_for(f"{url} ready", lambda: http(f"{url}/-/ready")[0] == 200)

    def all_up():
        def up():
            series = query(prometheus, "up")
            return len(series) == 2 * len(NODES) and all(s["value"][1] == "1" for s in series)
        wait_for("all six targets up", up, timeout=60)
        instances = {s["metric"]["instance"] for s in query(prometheus, 'up{job="vigil"} == 1')}
        assert instances == set(NODES), instances
    check("all nodes up: a sidecar and a plugin host on each of 127.0.0.2-4", all_up)

    def each_sidecar_matches_only_its_own_worker():
        def figures():
            memory = {s["metric"]["instance"]: float(s["value"][1]) for s in query(prometheus, 'vigil_plugin_resident_memory_bytes{plugin="worker"}')}
            counts = {s["metric"]["instance"]: s["value"][1] for s in query(prometheus, 'vigil_plugin_processes{plugin="worker"}')}
            return (memory, counts) if len(memory) == len(NODES) and all(v > 0 for v in memory.values()) else None
        memory, counts = wait_for("the workers' memory from each node", figures, timeout=30)
        assert counts == {a: "1" for a in NODES}, f"processes matched per node: {counts}"
        limit = LIMIT_MIB << 20
        over = sorted(a for a, v in memory.items() if v > limit)
        assert over == [OVER], f"nodes over {LIMIT_MIB} MiB: {over}; memory: {memory}"
        print("fleet:      worker memory: " + ", ".join(f"{a} {v / 2**20:.0f} MiB" for a, v in sorted(memory.items())))
    check("each sidecar matches its own node's worker only; one node over its limit", each_sidecar_matches_only_its_own_worker)

    def each_scrape_counts_what_it_carries():
        at = time.time()
        scraped = {(s["metric"]["job"], s["metric"]["instance"]): float(s["value"][1]) for s in query(prometheus, "scrape_samples_scraped", at)}
        counted = {(s["metric"]["job"], s["metric"]["instance"]): float(s["value"][1])
                   for s in query(prometheus, "sum by (job, instance) (vigil_exported_series)", at)}
        assert counted and counted == scraped, f"vigil_exported_series summed {counted}, Prometheus scraped {scraped}"
        excluded = {s["metric"]["instance"] for s in query(prometheus, f'{EXCLUDED}{{job="vigil"}}')}
        assert excluded == set(NODES) - {QUIET}, f"{EXCLUDED} scraped from {sorted(excluded)}"
        assert not query(prometheus, f'vigil_exported_series{{job="vigil", instance="{QUIET}", family="{EXCLUDED}"}}'), \
            f"{QUIET} still counts {EXCLUDED} in vigil_exported_series"
        print(f"fleet:      samples scraped = sum(vigil_exported_series) on all {len(scraped)} targets; {QUIET} leaves out {EXCLUDED}")
    check("every scrape's vigil_exported_series adds up to what Prometheus scraped; exclude_families leaves a family out", each_scrape_counts_what_it_carries)

    queries = dashboard_queries()

    def dashboards_with_all_and_one_node():
        # Rates need a few scrapes, the breaker a trip, recorded series an evaluation: wait until
        # every panel query has data with "All" (but those NO_DATA_HERE names).
        def empty_with_all():
            return [f"{b}: {t} ({instance or 'All'})" for b, t, e, total in queries for instance in (None, OVER)
                    if total is not None and not exempt(e) and not query(prometheus, substitute(e, instance))]
        missing = None
        def ready():
            nonlocal missing
            missing = empty_with_all()
            return not missing
        try:
            wait_for(f"data in every panel query with All and with {OVER}", ready, timeout=60)
        except RuntimeError as error:
            raise AssertionError("queries without data:\n    " + "\n    ".join(missing or [str(error)]))
        at = time.time()
        empty_on_one, quiet = [], {}
        for board, title, expr, total in queries:
            query(prometheus, substitute(expr, None), at)  # parses (annotations and cgroup panels may be empty)
            for address in NODES:
                result = query(prometheus, substitute(expr, address), at)
                if not result and total is not None and not exempt(expr):
                    if address == OVER:
                        empty_on_one.append(f"{board}: {title}")
                    else:
                        quiet.setdefault(address, []).append(title)
        assert not empty_on_one, f"queries without data with instance={OVER}:\n    " + "\n    ".join(empty_on_one)
        print(f"fleet:      ran, no data by design: {', '.join(f'{k}* ({v})' for k, v in NO_DATA_HERE.items())}")
        for address, titles in sorted(quiet.items()):
            print(f"fleet:      ran, no data on the quiet node {address}: {sorted(set(titles))}")
    check(f"every dashboard query runs and returns data with All and with instance={OVER}", dashboards_with_all_and_one_node)

    def no_panel_aggregates_past_the_largest_node():
        at = time.time()
        problems, compared, totals = [], 0, set()
        for board, title, expr, total in queries:
            if total is None or title.startswith("variable"):
                continue
            if total:
                totals.add(title)
                continue
            largest = {}
            for address in NODES:
                for s in query(prometheus, substitute(expr, address), at):
                    v = float(s["value"][1])
                    if not math.isnan(v):
                        largest[key(s["metric"])] = max(largest.get(key(s["metric"]), -math.inf), v)
            for s in query(prometheus, substitute(expr, None), at):
                v, k = float(s["value"][1]), key(s["metric"])
                if math.isnan(v):
                    continue
                compared += 1
                if k not in largest:
                    problems.append(f"{board}: {title}: {dict(k)} = {v:g} with All, shown by no single node")
                elif v > largest[k] * (1 + 1e-9) + 1e-12:
                    problems.append(f"{board}: {title}: {dict(k)} = {v:g} with All, the largest node shows {largest[k]:g}")
        assert not problems, "\n    " + "\n    ".join(problems)
        # The issue's own case: the memory panel with All shows the worst node, not the sum.
        memory = query(prometheus, substitute('topk by (plugin) (5, max by (job, instance, plugin) (vigil_plugin_resident_memory_bytes{job=~"$job", instance=~"$instance", plugin=~"$plugin"}))', None), at)
        worst = max(float(s["value"][1]) for s in memory if s["metric"]["plugin"] == "worker")
        single = float(query(prometheus, f'vigil_plugin_resident_memory_bytes{{plugin="worker",instance="{OVER}"}}', at)[0]["value"][1])
        assert worst == single, f"the memory panel's highest worker line is {worst}, node {OVER} holds {single}"
        print(f"fleet:      {compared} series with All each at most the largest node's; totals by design: {len(totals)} panels")
    check("no panel shows a per-node figure aggregated across nodes above the largest single node's", no_panel_aggregates_past_the_largest_node)

    def central_store_holds_every_node():
        def pairs(url, selector):
            return {(s["metric"]["job"], s["metric"]["instance"], s["metric"]["plugin"])
                    for s in query(url, f"group by (job, instance, plugin) ({selector})")}
        expected = pairs(prometheus, '{__name__=~"vigil_plugin_.+"}')
        assert {i for _, i, p in expected if p == "worker"} == set(NODES), expected
        wait_for("every node's plugin series in the central store",
                 lambda: pairs(central_url, '{__name__=~"vigil_plugin_.+", cluster="fleet-test"}') == expected, timeout=60)
        families = {s["metric"]["__name__"] for s in query(prometheus, '{__name__=~"vigil_plugin_.+", plugin="worker"}')}
        for family in sorted(families):
            got = {s["metric"]["instance"] for s in query(central_url, f'{family}{{plugin="worker"}}')}
            want = set(NODES) - {QUIET} if family == EXCLUDED else set(NODES)
            assert got == want, f"{family}: the central store has {sorted(got)}"
        ratio = wait_for("the recording rules evaluated in the central store", lambda: query(
            central_url, 'job_plugin_resource:vigil_plugin_usage:max_ratio{plugin="worker", resource="memory_bytes"} > 1'), timeout=30)
        print(f"fleet:      {len(expected)} (job, instance, plugin) pairs and {len(families)} worker families through remote write; "
              f"central worst memory ratio {float(ratio[0]['value'][1]):.2f}")
    check("the central Prometheus holds every node's plugin series through the agent's remote write", central_store_holds_every_node)

    def limit_alert_names_the_node_over_its_limit():
        # for: 2m in alerts/vigil-alerts.yml, unchanged: pending from the first evaluation, firing two minutes later.
        def firing():
            _, body = http(f"{prometheus}/api/v1/alerts")
            return [a for a in json.loads(body)["data"]["alerts"] if a["labels"]["alertname"] == ALERT and a["state"] == "firing"]
        alerts = wait_for(f"{ALERT} to fire", firing, timeout=max(10, DEADLINE - time.time() - 5))
        labels = [(a["labels"]["instance"], a["labels"]["plugin"], a["labels"]["resource"]) for a in alerts]
        assert labels == [(OVER, "worker", "memory_bytes")], labels
        description = alerts[0]["annotations"]["description"]
        assert OVER in description, description
        ever = {(s["metric"]["instance"], s["metric"]["plugin"]) for s in query(prometheus, f'max_over_time(ALERTS{{alertname="{ALERT}"}}[10m])')}
        assert ever == {(OVER, "worker")}, f"{ALERT} was pending or firing for {sorted(ever)}"
        print(f"fleet:      {description}")
    check(f"{ALERT} fires for the node over its limit, names it, and no other", limit_alert_names_the_node_over_its_limit)


started = time.time()
try:
    main()
except Exception as error:
    results["failed"] += 1
    print(f"fleet: FAIL set-up: {error}")
finally:
    for p in reversed(processes):
        if p.poll() is None:
            p.terminate()
    for p in reversed(processes):
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if results["failed"]:
        for log in sorted(work.glob("*.log")):
            print(f"--- {log.name} (last lines)")
            print("\n".join(log.read_text(errors="replace").splitlines()[-15:]))
    shutil.rmtree(work, ignore_errors=True)
print(f"fleet: {results['passed']} passed, {results['failed']} failed in {time.time() - started:.0f}s")
sys.exit(1 if results["failed"] else 0)
