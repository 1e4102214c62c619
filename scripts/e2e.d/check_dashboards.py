"""Static checks of dashboards/*.json: import-ready (a prometheus `datasource` variable, no
__inputs), job/instance (and plugin/phase) variables, $__rate_interval in every rate, a unit and a
description on every panel, a stable uid, the generator's output committed, and every metric a
query names in DESIGN.md's metric-name contract. Prints "dashboards: N passed, M failed"."""
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT.parent / "shared" / "DESIGN.md"
# Series Prometheus makes itself for every target; not Vigil's to define.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds"}
PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "rate", "increase", "by", "without", "on", "ignoring", "group_left",
                "group_right", "histogram_quantile", "label_replace", "label_values", "or", "and", "unless", "bool", "offset"}


def contract():
    names = set()
    for line in DESIGN.read_text().splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


def metric_names(expr):
    """Names used as series selectors: an identifier followed by `{` or `[`, or standing alone
    as an argument (`sum(up)`)."""
    expr = re.sub(r"\{[^}]*\}", "{}", expr)  # label matchers name labels, not metrics
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    found = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[\{\[]", expr))
    found |= set(re.findall(r"\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\)", expr))
    return {n for n in found if n not in PROMQL_WORDS and not n.startswith("__")}


def base_name(name, known):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return name


def queries(board):
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']}", variable["query"]["query"]


def main():
    passed, failed = 0, 0

    def check(name, problems):
        nonlocal passed, failed
        if problems:
            failed += 1
            print(f"dashboards: FAIL {name}")
            for p in problems:
                print(f"    {p}")
        else:
            passed += 1
            print(f"dashboards: ok   {name}")

    if not DESIGN.exists():
        print(f"dashboards: FAIL cannot read the metric contract at {DESIGN}")
        print("dashboards: 0 passed, 1 failed")
        sys.exit(1)
    known = contract()
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
        for title, expr in queries(board):
            for window in re.findall(r"(?:rate|increase)\([^\[]*\[([^\]]+)\]", expr):
                if window != "$__rate_interval":
                    problems.append(f"{title}: rate window [{window}], not [$__rate_interval]")
            for metric in metric_names(expr):
                if base_name(metric, known) not in known | PROMETHEUS_SERIES:
                    problems.append(f"{title}: {metric} is not in DESIGN.md's metric contract")
        check(name, problems)
    print(f"dashboards: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


main()
