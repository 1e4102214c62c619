"""End-to-end checks of the vigil sidecar against a real Prometheus server and Pushgateway.

Each check prints one line; the script ends with "e2e: N passed, M failed" and fails if any did."""
import json
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
from pathlib import Path

from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
VIGIL = ROOT / ".build/debug/vigil"
work = Path(tempfile.mkdtemp(prefix="vigil-e2e."))
processes = []
results = {"passed": 0, "failed": 0}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, log):
    p = subprocess.Popen(args, stdout=open(work / f"{log}.log", "w"), stderr=subprocess.STDOUT, cwd=work)
    processes.append(p)
    return p


def http(url, method="GET", data=None):
    request = urllib.request.Request(url, method=method, data=data)
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read().decode()




def check(name, body):
    try:
        body()
        results["passed"] += 1
        print(f"e2e: ok   {name}", flush=True)
    except Exception as error:
        results["failed"] += 1
        print(f"e2e: FAIL {name}: {error}", flush=True)


def query(prometheus, promql):
    _, body = http(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    answer = json.loads(body)
    if answer["status"] != "success":
        raise RuntimeError(f"query {promql!r} failed: {answer}")
    return answer["data"]["result"]


UCUM = {"seconds": "s", "bytes": "By", "ratio": "1", "meters": "m", "volts": "V", "amperes": "A",
        "joules": "J", "grams": "g", "celsius": "Cel", "hertz": "Hz", "percent": "%"}


def otlp_name(family):
    """A scraped family's OTLP name and unit, as the OpenTelemetry-Prometheus compatibility spec maps
    them: `_total` off a counter (the OpenMetrics parser already took it), the UNIT as the unit and
    off the end of the name. Vigil's families without a UNIT take the unit their suffix names."""
    name, unit = family.name, family.unit
    if not unit:
        unit = next((u for u in ("seconds", "bytes") if name.endswith("_" + u)), "")
    if unit and name.endswith("_" + unit) and len(name) > len(unit) + 1:
        name = name[: -len(unit) - 1]
    return name, UCUM.get(unit, unit)


def scrape_series(url):
    """Every series of an OpenMetrics scrape, keyed by (OTLP name, labels): its type, unit and
    value (a histogram's: count, sum and cumulative counts by bound)."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    request = urllib.request.Request(url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    series = {}
    for family in text_string_to_metric_families(text):
        name, unit = otlp_name(family)
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k != "le"}
            key = (name, frozenset(labels.items()))
            entry = series.setdefault(key, {"type": family.type, "unit": unit, "buckets": {}})
            suffix = sample.name[len(family.name):]
            if family.type == "histogram":
                if suffix == "_bucket":
                    entry["buckets"][float(sample.labels["le"])] = sample.value
                elif suffix in ("_count", "_sum"):
                    entry[suffix[1:]] = sample.value
            elif suffix in ("", "_total"):
                entry["value"] = sample.value
    return series


def pushed_series(points):
    """The data points of one OTLP metrics push, keyed as scrape_series keys a scrape."""
    series = {}
    for p in points:
        key = (p["name"], frozenset((k, str(v)) for k, v in p["attributes"].items()))
        entry = {"type": p["type"], "unit": p["unit"], "temporality": p.get("temporality"), "monotonic": p.get("monotonic")}
        if p["type"] == "histogram":
            cumulative, total = {}, 0
            for bound, count in zip(p["bounds"] + [float("inf")], p["bucket_counts"]):
                total += count
                cumulative[bound] = total
            entry.update(count=p["count"], sum=p["sum"], buckets=cumulative)
        else:
            entry["value"] = p["value"]
        series[key] = entry
    return series


# Gauges of momentary activity: an execution or a span can come and go between two scrapes, and
# process_open_fds counts the scrape's own connection, which a push does not hold.
MOMENTARY = {"vigil_phase_in_flight", "vigil_span_queue_length", "process_open_fds"}


def compare_push_with_scrapes(earlier, before, pushed, after):
    """Checks a push read between two scrapes against them: the same series, the OTLP type and
    unit of each family, every counter and histogram between its two scraped values (they only
    grow), and every gauge that held still over all the scrapes (`earlier` ones too) equal to
    them. Returns how many series it compared, and how many gauges it held to equality."""
    kinds = {"counter": ("sum", True, 2), "gauge": ("gauge", None, None), "histogram": ("histogram", None, 2)}
    problems, exact = [], 0
    stable = before.keys() & after.keys()
    missing = sorted(f"{n}{dict(l)}" for n, l in stable - pushed.keys())
    extra = sorted(f"{n}{dict(l)}" for n, l in pushed.keys() - (before.keys() | after.keys()))
    if missing:
        problems.append(f"scraped but not pushed: {missing[:5]}")
    if extra:
        problems.append(f"pushed but never scraped: {extra[:5]}")
    for key in sorted(stable & pushed.keys(), key=str):
        a, p, b = before[key], pushed[key], after[key]
        what = f"{key[0]}{dict(key[1])}"
        kind, monotonic, temporality = kinds[a["type"]]
        if (p["type"], p["unit"]) != (kind, a["unit"]):
            problems.append(f"{what}: pushed as {p['type']} in {p['unit']!r}, scraped as {a['type']} in {a['unit']!r}")
            continue
        if monotonic is not None and p["monotonic"] is not monotonic or temporality is not None and p["temporality"] != temporality:
            problems.append(f"{what}: monotonic={p['monotonic']} temporality={p['temporality']}")
        if a["type"] == "histogram":
            fields = [("count", a["count"], p["count"], b["count"]), ("sum", a["sum"], p["sum"], b["sum"])]
            fields += [(f"le={le}", a["buckets"][le], p["buckets"].get(le), b["buckets"][le]) for le in a["buckets"]]
            for field, x, y, z in fields:
                if y is None or not x - 1e-9 <= y <= z + 1e-9:
                    problems.append(f"{what} {field}: pushed {y}, scraped {x} before and {z} after")
        elif a["type"] == "counter":
            if not a["value"] - 1e-9 <= p["value"] <= b["value"] + 1e-9:
                problems.append(f"{what}: pushed {p['value']}, scraped {a['value']} before and {b['value']} after")
        elif key[0] not in MOMENTARY and all(e.get(key, {}).get("value") == a["value"] == b["value"] for e in earlier):
            exact += 1
            if p["value"] != a["value"] and not (p["value"] != p["value"] and a["value"] != a["value"]):
                problems.append(f"{what}: pushed {p['value']}, scraped {a['value']} before and after")
    assert not problems, "\n    " + "\n    ".join(problems[:20])
    return len(stable & pushed.keys()), exact


def openssl(*args):
    subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True)


def make_certificates(directory):
    """A CA and a server certificate for 127.0.0.1 signed by it, made by openssl in `directory`."""
    directory.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", f"{directory}/ca.key", "-out", f"{directory}/ca.crt", "-days", "1",
            "-subj", "/CN=vigil e2e CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *ec, "-keyout", f"{directory}/server.key", "-out", f"{directory}/server.csr", "-subj", "/CN=vigil e2e")
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", f"{directory}/server.csr", "-CA", f"{directory}/ca.crt", "-CAkey", f"{directory}/ca.key",
            "-set_serial", "1", "-days", "1", "-extfile", f"{directory}/server.ext", "-out", f"{directory}/server.crt")


def tls_and_basic_auth():
    """vigil serve --web.config.file (TLS and a bcrypt user from htpasswd) under its own Prometheus:
    the job with the CA and the right password is up, a wrong password and plain HTTP are not."""
    make_certificates(work / "tls")
    password = "e2e-" + os.urandom(6).hex()
    hashed = subprocess.run(["htpasswd", "-nbBC", "10", "", password], check=True, capture_output=True, text=True).stdout.strip().strip(":")
    # Paths relative to the web config's directory, as an operator writes them for node_exporter.
    (work / "web.yml").write_text(f"tls_server_config:\n  cert_file: tls/server.crt\n  key_file: tls/server.key\n"
                                  f"basic_auth_users:\n  prometheus: {hashed}\n")
    checked = subprocess.run([str(VIGIL), "check", "--web.config.file", str(work / "web.yml")], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, f"vigil check --web.config.file: {checked.stderr}"
    port, prom_port = free_port(), free_port()
    (work / "tls.yml").write_text(f"listen: 127.0.0.1:{port}\nplugins:\n  - name: e2e-self\n    match:\n      - self: true\n")
    start([str(VIGIL), "serve", "--config", str(work / "tls.yml"), "--web.config.file", str(work / "web.yml")], "serve-tls")
    target = {"targets": [f"127.0.0.1:{port}"]}
    https = {"scheme": "https", "tls_config": {"ca_file": str(work / "tls/ca.crt")}}
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {"job_name": "tls", **https, "basic_auth": {"username": "prometheus", "password": password}, "static_configs": [target]},
            {"job_name": "tls-wrong-password", **https, "basic_auth": {"username": "prometheus", "password": "wrong"}, "static_configs": [target]},
            {"job_name": "tls-plain-http", "scheme": "http", "basic_auth": {"username": "prometheus", "password": password}, "static_configs": [target]},
        ],
    }
    (work / "prometheus-tls.yml").write_text(json.dumps(config))
    start(["prometheus", f"--config.file={work / 'prometheus-tls.yml'}", f"--storage.tsdb.path={work / 'data-tls'}",
           f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"], "prometheus-tls")
    prometheus = f"http://127.0.0.1:{prom_port}"
    wait_for("prometheus (TLS jobs)", lambda: http(f"{prometheus}/-/ready")[0] == 200)
    wait_for("two scrapes of each TLS job",
             lambda: len(query(prometheus, 'count_over_time(up{job=~"tls.*"}[5m]) >= 2')) == 3, timeout=60)
    up = {s["metric"]["job"]: s["value"][1] for s in query(prometheus, 'up{job=~"tls.*"}')}
    assert up == {"tls": "1", "tls-wrong-password": "0", "tls-plain-http": "0"}, up
    assert query(prometheus, 'vigil_build_info{job="tls"}'), "no vigil_build_info from the HTTPS job"
    errors = {t["labels"]["job"]: t["lastError"] for t in json.loads(http(f"{prometheus}/api/v1/targets")[1])["data"]["activeTargets"]}
    assert "401" in errors["tls-wrong-password"], errors


def main():
    demo_port, prom_port, gateway_port = free_port(), free_port(), free_port()
    # The demo's spans go to the real OTLP receiver (opentelemetry-proto), as a host's would.
    receiver = subprocess.Popen([sys.executable, str(ROOT / "scripts/interop.d/otlp_receiver.py")], stdout=subprocess.PIPE, text=True)
    processes.append(receiver)
    receiver_port = int(receiver.stdout.readline().split()[1])
    # Spans and, every second, the metrics go to the receiver, as a host's would to a collector.
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver_port}", OTEL_BSP_SCHEDULE_DELAY="500",
               OTEL_METRICS_EXPORTER="otlp", OTEL_METRIC_EXPORT_INTERVAL="1000")
    demo = subprocess.Popen([str(VIGIL), "demo", "--fast", "--listen", f"127.0.0.1:{demo_port}"],
                            stdout=open(work / "demo.log", "w"), stderr=subprocess.STDOUT, cwd=work, env=env)
    processes.insert(0, demo)
    wait_for("vigil demo", lambda: http(f"http://127.0.0.1:{demo_port}/-/ready")[0] == 200)

    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted((ROOT / "alerts").glob("*.yml"))],
        "scrape_configs": [{"job_name": "vigil", "static_configs": [{"targets": [f"127.0.0.1:{demo_port}"]}]}],
    }
    (work / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    # Exemplar storage, as config/prometheus.yml tells users to run it; Prometheus then scrapes OpenMetrics.
    start(["prometheus", f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
           "--enable-feature=exemplar-storage", f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"], "prometheus")
    prometheus = f"http://127.0.0.1:{prom_port}"
    wait_for("prometheus", lambda: http(f"{prometheus}/-/ready")[0] == 200)

    def two_scrapes():
        wait_for("two scrapes of the demo", lambda: query(prometheus, 'count_over_time(up{job="vigil"}[5m]) >= 2'), timeout=60)
        up = query(prometheus, 'up{job="vigil"}')
        assert up and up[0]["value"][1] == "1", f"the demo target is not up: {up}"
    check("prometheus scrapes vigil demo twice", two_scrapes)

    def phases():
        series = query(prometheus, "vigil_phase_executions_total")
        plugins = {s["metric"]["plugin"] for s in series}
        assert {"ocr", "translate"} <= plugins, f"phase series for {plugins}"
        assert query(prometheus, 'histogram_quantile(0.99, sum by (le, plugin, phase) (rate(vigil_phase_duration_seconds_bucket[1m])))'), "no latency"
    check("phase series are queryable", phases)

    def breaker():
        states = query(prometheus, 'vigil_breaker_state{plugin="translate"}')
        assert sorted(s["metric"]["state"] for s in states) == ["closed", "half_open", "open"], states
        assert sum(float(s["value"][1]) for s in states) == 1, f"exactly one state is current: {states}"
    check("breaker series are queryable", breaker)

    def resources():
        memory = query(prometheus, 'vigil_plugin_resident_memory_bytes{plugin="hungry-child"}')
        assert memory and float(memory[0]["value"][1]) > 0, memory
        assert query(prometheus, 'vigil_plugin_limit{plugin="hungry-child",resource="memory_bytes"}'), "no limit series"
        assert query(prometheus, "process_resident_memory_bytes"), "no process collector"
    check("plugin resource series are queryable", resources)

    def breaker_trips_and_limit_violations():
        wait_for("a breaker trip", lambda: query(prometheus, 'vigil_breaker_trips_total{plugin="translate"} > 0'), timeout=60)
        wait_for("a memory violation", lambda: query(prometheus, 'vigil_plugin_limit_violations_total{plugin="hungry-child"} > 0'), timeout=60)
    check("the demo trips its breaker and goes past its memory limit", breaker_trips_and_limit_violations)

    receiver_url = f"http://127.0.0.1:{receiver_port}"

    def received():
        return json.loads(http(f"{receiver_url}/control/received")[1])

    def received_trace_ids():
        return {s["trace_id"].lower() for e in received() for s in e.get("spans", [])}

    def exemplars_name_received_traces():
        def exemplars():
            now = time.time()
            _, body = http(f"{prometheus}/api/v1/query_exemplars?" + urllib.parse.urlencode(
                {"query": "vigil_phase_duration_seconds_bucket", "start": now - 600, "end": now}))
            answer = json.loads(body)
            assert answer["status"] == "success", answer
            return [e for series in answer["data"] for e in series["exemplars"]]
        found = wait_for("exemplars in Prometheus", lambda: [e for e in exemplars() if "trace_id" in e["labels"]], timeout=60)
        # Spans reach the receiver in batches every 500 ms: an exemplar older than 5 s names a span it holds.
        def settled():
            old = {e["labels"]["trace_id"].lower() for e in exemplars() if e["timestamp"] < time.time() - 5}
            return old if len(old) >= 5 and old <= received_trace_ids() else None
        old = wait_for("five exemplars older than 5 s, each naming a trace the receiver holds", settled, timeout=90)
        print(f"e2e:      {len(found)} exemplars in Prometheus; all {len(old)} trace ids older than 5 s were received over OTLP")
    check("Prometheus stores exemplars whose trace_id names spans the OTLP receiver got", exemplars_name_received_traces)

    def otlp_metrics_match_a_scrape():
        metrics_url = f"http://127.0.0.1:{demo_port}/metrics"
        wait_for("a first OTLP metrics push", lambda: any(e.get("metrics") for e in received()), timeout=30)
        earlier = []
        for _ in range(3):  # which gauges hold still, over a couple of seconds around the push
            earlier.append(scrape_series(metrics_url))
            time.sleep(0.5)
        before = scrape_series(metrics_url)
        scraped_at = time.time_ns()
        def next_push():
            pushes = [e for e in received() if e.get("path") == "/v1/metrics" and e.get("metrics")]
            bad = [e.get("error") for e in received() if e.get("path") == "/v1/metrics" and "error" in e]
            assert not bad, f"pushes opentelemetry-proto could not decode: {bad[:2]}"
            later = [e for e in pushes if min(p["time"] for p in e["metrics"]) > scraped_at]
            return later[0] if later else None
        push = wait_for("an OTLP metrics push read after the first scrape", next_push, timeout=30)
        after = scrape_series(metrics_url)
        compared, exact = compare_push_with_scrapes(earlier, before, pushed_series(push["metrics"]), after)
        points = push["metrics"]
        assert {p["scope"]["name"] for p in points} == {"vigil"}, {p["scope"]["name"] for p in points}
        assert all(p["resource"].get("service.name") for p in points), "no service.name on the resource"
        assert all(p["start"] > 0 for p in points if p["type"] != "gauge"), "a cumulative point without a start time"
        latency = [p for p in points if p["name"] == "vigil_phase_duration" and p["unit"] == "s"]
        assert latency, "no vigil_phase_duration histogram in seconds"
        traced = {e["trace_id"] for p in latency for e in p["exemplars"] if e["trace_id"]}
        assert traced, "the pushed latency histograms carry no exemplars"
        print(f"e2e:      {compared} series pushed (decoded by opentelemetry-proto) between two scrapes: counters and "
              f"histograms within them, {exact} still gauges equal; {len(traced)} exemplar trace ids")
    check("OTLP metrics from the demo decode with opentelemetry-proto and match the scrapes around them", otlp_metrics_match_a_scrape)

    def dashboard_queries():
        empty = []
        # The cgroup panels have data only for plugins matched by cgroup on cgroup v2; the demo's
        # plugins are matched by pid. Those queries must still parse, but may be empty.
        unmatched = []
        values = {"$job": ".*", "$instance": ".*", "$plugin": ".*", "$phase": ".*", "$__rate_interval": "1m"}
        for path in sorted((ROOT / "dashboards").glob("*.json")):
            board = json.loads(path.read_text())
            exprs = [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
            for v in board["templating"]["list"]:
                if v["type"] == "query":
                    m = re.fullmatch(r"label_values\((.*), (\w+)\)", v["query"]["query"])
                    exprs.append((f"variable {v['name']}", f"group by ({m.group(2)}) ({m.group(1)})"))
            for title, expr in exprs:
                for name, value in values.items():
                    expr = expr.replace(name, value)
                if not query(prometheus, expr):  # query() fails on a parse error
                    if "vigil_plugin_cgroup_" in expr:
                        unmatched.append(title)
                    else:
                        empty.append(f"{path.name}: {title}: {expr}")
            # Annotations mark loads and unloads: they must parse, and are empty when nothing came or went.
            for annotation in board.get("annotations", {}).get("list", []):
                expr = annotation["expr"]
                for name, value in values.items():
                    expr = expr.replace(name, value)
                query(prometheus, expr)
        assert not empty, "queries without data:\n    " + "\n    ".join(empty)
        if unmatched:
            print(f"e2e:      parsed, no data (no plugin matched by cgroup v2 in the demo): {sorted(set(unmatched))}")
    check("every dashboard query parses and returns data", dashboard_queries)

    def alerts():
        seen = {}
        def provoked():
            _, body = http(f"{prometheus}/api/v1/alerts")
            for alert in json.loads(body)["data"]["alerts"]:
                seen.setdefault(alert["labels"]["alertname"], set()).add(alert["state"])
            breaker = any(name.startswith("VigilBreaker") for name in seen)
            limit = any(name.startswith("VigilPlugin") for name in seen)
            return breaker and limit
        wait_for("breaker and limit alerts to be pending or firing", provoked, timeout=90)
        print(f"e2e:      alerts seen: {dict(sorted((k, sorted(v)) for k, v in seen.items()))}")
    check("the demo's breaker and limit alerts become pending or firing", alerts)

    # The Pushgateway: vigil push --once, read back, delete, gone.
    # No persistence: Debian's default file (/var/lib/prometheus/pushgateway.data) is shared by every
    # Pushgateway on the machine, and a group another left there would be read back here.
    start(["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{gateway_port}", "--persistence.file=", "--log.level=warn"],
          "pushgateway")
    gateway = f"http://127.0.0.1:{gateway_port}"
    wait_for("pushgateway", lambda: http(f"{gateway}/-/ready")[0] == 200)
    (work / "push.yml").write_text(
        f"plugins:\n  - name: e2e-self\n    match:\n      - self: true\n"
        f"pushgateway:\n  url: {gateway}\n  job: vigil-e2e\n  grouping:\n    instance: e2e/host\n")

    def push():
        result = subprocess.run([str(VIGIL), "push", "--once", "--config", str(work / "push.yml")], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        _, text = http(f"{gateway}/metrics")
        lines = [l for l in text.splitlines() if l.startswith("vigil_plugin_resident_memory_bytes{")]
        assert lines and 'job="vigil-e2e"' in lines[0] and 'instance="e2e/host"' in lines[0] and 'plugin="e2e-self"' in lines[0], lines
        status, _ = http(f"{gateway}/metrics/job/vigil-e2e/instance@base64/ZTJlL2hvc3Q", method="DELETE")
        assert status == 202, status
        _, after = http(f"{gateway}/metrics")
        assert 'job="vigil-e2e"' not in after, "the pushed group is still there after DELETE"
    check("vigil push --once reaches the Pushgateway; DELETE removes it", push)

    check("Prometheus scrapes vigil serve --web.config.file over HTTPS with basic auth; a wrong password and plain HTTP are down",
          tls_and_basic_auth)

    def graceful_stop():
        demo = processes[0]
        stopping = json.loads(http(f"http://127.0.0.1:{receiver_port}/control/clock")[1])["monotonic"]
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=20)
        assert code == 0, f"vigil demo exited {code} on SIGTERM"
        log = (work / "demo.log").read_text()
        assert "spans flushed" in log, log[-2000:]
        _, body = http(f"http://127.0.0.1:{receiver_port}/control/received")
        exports = json.loads(body)
        spans = [s for e in exports for s in e.get("spans", [])]
        assert spans and all("error" not in e for e in exports), f"{len(exports)} exports, {len(spans)} spans"
        assert {s["name"] for s in spans} >= {"ocr", "decode", "recognize", "store", "translate"}, {s["name"] for s in spans}
        assert "OTLP metrics pusher stopped" in log, log[-2000:]
        last = [e for e in exports if e.get("path") == "/v1/metrics"][-1]
        assert last.get("metrics") and last["arrived"] > stopping, "no metrics push after SIGTERM"
    check("SIGTERM stops the demo cleanly, flushes its spans and pushes its metrics a last time", graceful_stop)


try:
    main()
except Exception as error:
    results["failed"] += 1
    print(f"e2e: FAIL set-up: {error}")
finally:
    for p in processes:
        if p.poll() is None:
            p.kill()
            p.wait()
    if results["failed"]:
        for log in sorted(work.glob("*.log")):
            print(f"--- {log.name} (last lines)")
            print("\n".join(log.read_text(errors="replace").splitlines()[-15:]))
    shutil.rmtree(work, ignore_errors=True)
print(f"e2e: {results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
