"""Reads Vigil's text 0.0.4 and OpenMetrics output with the prometheus-client parsers and checks
that they give back exactly what the fixture recorded (expected.json): the same families, types,
help, units, samples, label values, values and exemplars. Exits 1 on any difference."""
import json
import math
import sys
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text


def same_value(expected, actual):
    expected = float(expected)  # "+Inf", "-Inf" and "NaN" come as strings
    if math.isnan(expected):
        return math.isnan(actual)
    return expected == actual


def sample_key(name, labels):
    labels = dict(labels)
    if "le" in labels:  # "1" and "1.0" are the same bound
        labels["le"] = repr(float(labels["le"]))
    return name, tuple(sorted(labels.items()))


def compare(fmt, families, expected):
    problems = []
    parsed = {f.name: f for f in families}
    wanted = {f["name"]: f for f in expected}
    for name in sorted(set(parsed) - set(wanted)):
        problems.append(f"{fmt}: unexpected family {name}")
    for name, want in wanted.items():
        got = parsed.get(name)
        if got is None:
            problems.append(f"{fmt}: family {name} missing")
            continue
        if got.type != want["type"]:
            problems.append(f"{fmt}: {name}: type {got.type!r}, expected {want['type']!r}")
        if got.documentation != want["help"]:
            problems.append(f"{fmt}: {name}: help {got.documentation!r}, expected {want['help']!r}")
        if fmt == "openmetrics" and (got.unit or None) != want.get("unit"):
            problems.append(f"{fmt}: {name}: unit {got.unit!r}, expected {want.get('unit')!r}")
        got_samples = {}
        for s in got.samples:
            key = sample_key(s.name, s.labels)
            if key in got_samples:
                problems.append(f"{fmt}: {name}: sample {key} appears twice")
            got_samples[key] = s
        want_keys = set()
        for ws in want["samples"]:
            key = sample_key(ws["name"], ws["labels"])
            want_keys.add(key)
            s = got_samples.get(key)
            if s is None:
                problems.append(f"{fmt}: {name}: sample {key} missing")
                continue
            if not same_value(ws["value"], s.value):
                problems.append(f"{fmt}: {name}: {key} = {s.value!r}, expected {ws['value']!r}")
            want_ex = ws.get("exemplar") if fmt == "openmetrics" else None
            got_ex = getattr(s, "exemplar", None)
            if want_ex is None and got_ex is not None:
                problems.append(f"{fmt}: {name}: {key} has an unexpected exemplar {got_ex}")
            if want_ex is not None:
                if got_ex is None:
                    problems.append(f"{fmt}: {name}: {key} lacks its exemplar")
                elif dict(got_ex.labels) != want_ex["labels"] or got_ex.value != want_ex["value"] or got_ex.timestamp is None:
                    problems.append(f"{fmt}: {name}: {key} exemplar {got_ex}, expected {want_ex}")
        for key in sorted(set(got_samples) - want_keys):
            problems.append(f"{fmt}: {name}: unexpected sample {key}")
    return problems


def main():
    directory = Path(sys.argv[1])
    expected = json.loads((directory / "expected.json").read_text())
    text = (directory / "metrics.prom").read_text(encoding="utf-8")
    om = (directory / "metrics.om").read_text(encoding="utf-8")
    problems = compare("text", list(parse_text(text)), expected)
    problems += compare("openmetrics", list(parse_openmetrics(om)), expected)
    samples = sum(len(f["samples"]) for f in expected)
    if problems:
        print("\n".join(problems))
        print(f"check_exposition: {len(problems)} difference(s)")
        sys.exit(1)
    print(f"check_exposition: {len(expected)} families and {samples} samples read back identically "
          "by the text and OpenMetrics parsers")


if __name__ == "__main__":
    main()
