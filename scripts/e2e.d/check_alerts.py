"""Checks alerts/ against the metric contract (`vigil metrics --format json`, see
metric_contract.py): every metric an alert or recording rule's expression in alerts/*.yml selects,
and every series the promtool unit tests in alerts/tests/*.yml feed in (input_series) or query
(promql_expr_test), is a sample name the code declares, a recording rule's output, or a series
Prometheus writes itself (`up`). A renamed metric fails here even where `promtool test rules`
still passes, because a test that feeds the old name to a rule that reads the old name agrees with
itself. Prints "alerts: N passed, M failed"."""
import sys

import yaml

import metric_contract
from metric_contract import PROMETHEUS_SERIES, ROOT, Report, metric_names


def unknown(names, allowed):
    return sorted(n for n in names if n not in allowed)


def main():
    args = metric_contract.arguments(__doc__)
    report = Report("alerts")
    known = metric_contract.load_or_fail(report, args.contract)

    rule_files = sorted((ROOT / "alerts").glob("*.yml"))
    rules = []  # (file name, rule)
    for path in rule_files:
        document = yaml.safe_load(path.read_text()) or {}
        for group in document.get("groups", []):
            rules += [(path.name, rule) for rule in group.get("rules", [])]
    if not rules:
        report.check("alerts/*.yml holds rules", [f"no rules found in {', '.join(p.name for p in rule_files) or 'alerts/'}"])
        report.finish()
    recorded = {rule["record"] for _, rule in rules if "record" in rule}
    allowed = known | recorded | PROMETHEUS_SERIES

    for file_name, rule in rules:
        title = rule.get("alert") or rule.get("record")
        missing = unknown(metric_names(rule["expr"]), allowed)
        report.check(f"{file_name}: {title}", [f"expr selects {n}, which is not in the metric contract" for n in missing])

    for path in sorted((ROOT / "alerts" / "tests").glob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        problems = []
        for test in document.get("tests", []):
            for series in test.get("input_series", []):
                problems += [f"input_series {series['series']}: {n} is not in the metric contract"
                             for n in unknown(metric_names(series["series"]), allowed)]
            for case in test.get("promql_expr_test", []):
                problems += [f"promql_expr_test {case['expr']!r}: {n} is not in the metric contract"
                             for n in unknown(metric_names(case["expr"]), allowed)]
                for sample in case.get("exp_samples", []):
                    problems += [f"exp_samples {sample['labels']}: {n} is not in the metric contract"
                                 for n in unknown(metric_names(sample.get("labels", "")), allowed)]
        report.check(f"tests/{path.name}: the series it feeds in and queries", problems)
    report.finish()


main()
