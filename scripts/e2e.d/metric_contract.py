"""The metric contract as the code declares it, and the metric names a PromQL expression uses.

The contract is what `vigil metrics --format json` prints: one object per family, whose `samples`
list every sample name the family writes in text 0.0.4 (a histogram's `_bucket`, `_sum` and
`_count`). It is read from the built binary, `.build/debug/vigil` or $VIGIL_BIN, or from a file
given with `--contract FILE` (that output, saved). Shared by check_dashboards.py and
check_alerts.py."""
import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = ROOT / ".build" / "debug" / "vigil"

# Series Prometheus writes itself, for every target and for its alerts: not Vigil's to define.
PROMETHEUS_SERIES = {
    "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
    "scrape_series_added", "ALERTS", "ALERTS_FOR_STATE",
}

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
                   "and", "or", "unless", "atan2", "inf", "nan"}
# Clauses whose parentheses hold label names, not expressions.
LABEL_LIST_CLAUSES = {"by", "without", "on", "ignoring", "group_left", "group_right"}

TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<variable>\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>(?:0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)(?:[smhdwy]|ms)*)
  | (?P<identifier>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)


class ContractError(Exception):
    pass


def arguments(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--contract", metavar="FILE", type=Path,
                        help="read the contract from FILE (saved `vigil metrics --format json` output) "
                             "instead of running the vigil binary")
    return parser.parse_args()


def load(contract_file=None):
    """Every sample name the contract declares, and a line saying where it came from.
    Raises ContractError with what to do when the contract cannot be had."""
    if contract_file is not None:
        try:
            text = contract_file.read_text()
        except OSError as error:
            raise ContractError(f"cannot read the contract file {contract_file}: {error.strerror}")
        source = str(contract_file)
    else:
        binary = Path(os.environ.get("VIGIL_BIN", DEFAULT_BIN))
        command = [str(binary), "metrics", "--format", "json"]
        if not os.access(binary, os.X_OK):
            raise ContractError(f"no vigil binary at {binary}: run `swift build` first "
                                "(or set VIGIL_BIN to a built vigil)")
        try:
            run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise ContractError(f"`{' '.join(command)}` did not finish within 60 s")
        if run.returncode != 0:
            raise ContractError(f"`{' '.join(command)}` exited with {run.returncode}: {run.stderr.strip()}")
        text = run.stdout
        source = f"`{' '.join(command)}`"
    try:
        families = json.loads(text)
    except json.JSONDecodeError as error:
        raise ContractError(f"the contract from {source} is not JSON: {error}")
    if not isinstance(families, list) or not families:
        raise ContractError(f"the contract from {source} is not a non-empty JSON array of families")
    samples = set()
    for index, family in enumerate(families):
        names = family.get("samples") if isinstance(family, dict) else None
        if not isinstance(family.get("name") if isinstance(family, dict) else None, str) \
                or not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ContractError(f"family {index} of the contract from {source} has no `name` "
                                f"or no `samples` list of names: {json.dumps(family)[:200]}")
        samples.update(names)
    return samples, f"{len(families)} families, {len(samples)} sample names, from {source}"


def metric_names(expr):
    """The metric names an expression selects: identifiers that are neither functions nor
    keywords, outside label matchers, range windows and `by (…)`-style label lists, plus the
    values of `__name__="…"` matchers. Grafana's `label_values(selector, label)` is understood."""
    tokens = []
    for match in TOKEN.finditer(expr):
        if match.lastgroup != "space":
            tokens.append((match.lastgroup, match.group()))
    names = set()
    depth_braces = depth_brackets = 0
    label_list_depth = None  # the paren depth of an open `by (…)`-style list
    parens = 0
    for i, (kind, text) in enumerate(tokens):
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if text == "{":
            depth_braces += 1
        elif text == "}":
            depth_braces -= 1
        elif text == "[":
            depth_brackets += 1
        elif text == "]":
            depth_brackets -= 1
        elif text == "(":
            parens += 1
        elif text == ")":
            if label_list_depth == parens:
                label_list_depth = None
            parens -= 1
        elif kind == "identifier" and depth_braces:
            # Inside a matcher list only `__name__` names a metric: `{__name__="x"}`.
            if text == "__name__" and following == "=" and i + 2 < len(tokens) and tokens[i + 2][0] == "string":
                names.add(tokens[i + 2][1][1:-1])
        elif kind == "identifier" and not depth_brackets and label_list_depth is None:
            if text in LABEL_LIST_CLAUSES and following == "(":
                label_list_depth = parens + 1
            elif following in ("(", "by", "without") or text.lower() in PROMQL_KEYWORDS:
                continue  # a function, an aggregation (`sum by (…) (…)`) or a keyword
            elif text == "label_values":
                continue
            elif _is_label_values_label(tokens, i):
                continue
            else:
                names.add(text)
    return names


def _is_label_values_label(tokens, i):
    """True for `plugin` in Grafana's `label_values(selector, plugin)`: the identifier after the
    top-level comma of a `label_values(` call."""
    if i == 0 or tokens[i - 1][1] != ",":
        return False
    depth = 0
    for j in range(i - 1, -1, -1):
        text = tokens[j][1]
        if text in ")]}":
            depth += 1
        elif text in "([{":
            if depth == 0:
                return text == "(" and j > 0 and tokens[j - 1][1] == "label_values"
            depth -= 1
    return False


class Report:
    """Prints "<prefix>: ok|FAIL <name>" per check and the closing "N passed, M failed" line."""

    def __init__(self, prefix):
        self.prefix, self.passed, self.failed = prefix, 0, 0

    def check(self, name, problems):
        if problems:
            self.failed += 1
            print(f"{self.prefix}: FAIL {name}")
            for p in problems:
                print("\n".join(f"    {line}" for line in str(p).splitlines()))
        else:
            self.passed += 1
            print(f"{self.prefix}: ok   {name}")

    def finish(self):
        print(f"{self.prefix}: {self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)


def load_or_fail(report, contract_file):
    """The contract's sample names; on failure the report's one failed check, and exit."""
    try:
        known, where = load(contract_file)
    except ContractError as error:
        report.check("read the metric contract", [str(error)])
        report.finish()
    print(f"{report.prefix}: contract: {where}")
    return known
