"""Static checks of dashboards/*.json: import-ready (a prometheus `datasource` variable, no
__inputs), job/instance (and plugin/phase) variables, $__rate_interval in every rate, a unit and a
description on every panel, exemplars on latency panels, a stable uid, the generator's output committed, a drill-down
link to the node (`var-instance=${__field.labels.instance}`) on every panel whose series keep their instance, and every
metric a query names in the metric contract (`vigil metrics --format json`, see metric_contract.py) or recorded by a
rule in alerts/*.yml.
Prints "dashboards: N passed, M failed"."""
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

import metric_contract
from metric_contract import PROMETHEUS_SERIES, ROOT, Report, metric_names


def queries(board):
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for annotation in board.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            yield f"annotation {annotation['name']}", annotation["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']}", variable["query"]["query"]


def recorded_names():
    """The series the recording rules in alerts/*.yml write."""
    names = set()
    for path in sorted((ROOT / "alerts").glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            names.update(rule["record"] for rule in group.get("rules", []) if "record" in rule)
    return names


def keeps_instance(expr):
    """True when the series an expression returns keep the instance label: its outermost
    aggregation groups by it (or the expression is a topk/bottomk of such a one)."""
    outer = re.match(r"\s*(?:topk|bottomk|sum|max|min|avg|count)\s+by\s*\(([^)]*)\)", expr)
    if outer and re.match(r"\s*(?:topk|bottomk)", expr) is None:
        return "instance" in outer.group(1)
    inner = re.match(r"\s*(?:topk|bottomk)(?:\s+by\s*\([^)]*\))?\s*\(\s*\d+\s*,\s*(.*)", expr, re.DOTALL)
    if inner:
        return keeps_instance(inner.group(1))
    return outer is not None and "instance" in outer.group(1)


def main():
    args = metric_contract.arguments(__doc__)
    report = Report("dashboards")
    check = report.check
    known = metric_contract.load_or_fail(report, args.contract) | recorded_names()
    committed = {p.name: p.read_text() for p in (ROOT / "dashboards").glob("*.json")}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, str(ROOT / "dashboards/generate.py"), tmp], check=True, capture_output=True)
        generated = {p.name: p.read_text() for p in Path(tmp).glob("*.json")}
    check("the committed JSON is what dashboards/generate.py writes",
          [f"{n} differs: run python3 dashboards/generate.py and commit" for n in generated if committed.get(n) != generated[n]])
    uids = set()
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        name = path.name
        problems = []
        if "__inputs" in board:
            problems.append("has __inputs: provisioning would not import it")
        variables = {v["name"]: v for v in board["templating"]["list"]}
        ds = variables.get("datasource")
        if not ds or ds["type"] != "datasource" or ds["query"] != "prometheus":
            problems.append("no `datasource` variable of type prometheus")
        needed = ["job", "instance"] + (["plugin", "phase"] if "plugins" in name else [])
        problems += [f"no `{v}` variable" for v in needed if v not in variables]
        if not board.get("uid") or board["uid"] in uids:
            problems.append("missing or duplicate uid")
        uids.add(board.get("uid"))
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            if not panel.get("description"):
                problems.append(f"panel {panel['title']!r} has no description")
            if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
                problems.append(f"panel {panel['title']!r} has no unit")
            if panel.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"panel {panel['title']!r} does not use the datasource variable")
            links = panel.get("fieldConfig", {}).get("defaults", {}).get("links", [])
            if any(keeps_instance(t["expr"]) for t in panel.get("targets", [])) and \
                    not any("var-instance=${__field.labels.instance}" in link.get("url", "") for link in links):
                problems.append(f"panel {panel['title']!r} shows series by instance but has no drill-down link to the node")
        for panel in board["panels"]:
            targets = panel.get("targets", [])
            if panel["type"] == "timeseries" and any("_duration_seconds_bucket" in t["expr"] for t in targets):
                problems += [f"latency panel {panel['title']!r}: target {t['refId']} does not ask for exemplars"
                             for t in targets if t.get("exemplar") is not True]
        for title, expr in queries(board):
            for window in re.findall(r"(?:rate|increase)\([^\[]*\[([^\]]+)\]", expr):
                if window != "$__rate_interval":
                    problems.append(f"{title}: rate window [{window}], not [$__rate_interval]")
            for metric in sorted(metric_names(expr)):
                if metric not in known | PROMETHEUS_SERIES:
                    problems.append(f"{title}: {metric} is not in the metric contract nor recorded by alerts/*.yml")
        check(name, problems)
    report.finish()


main()
