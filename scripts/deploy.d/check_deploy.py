"""Runs every check of deploy/ (see scripts/check-deploy) and prints "deploy: N passed, M failed".

Each module below names its checks; a check is a function returning the problems it found, in
words (an empty list passes). A check that raises fails with the exception as its problem."""
import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e.d"))  # metric_contract.Report: one report format for every check script

from metric_contract import Report  # noqa: E402

import agent  # noqa: E402
import footprint  # noqa: E402
import install  # noqa: E402
import manifests  # noqa: E402
import runtime  # noqa: E402
import unit  # noqa: E402
from support import ROOT  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description="Checks deploy/; see scripts/check-deploy.")
    parser.add_argument("only", nargs="*", help="run only the checks whose name contains one of these words")
    only = parser.parse_args().only
    vigil = Path(os.environ.get("VIGIL_BIN", ROOT / ".build" / "debug" / "vigil")).resolve()
    report = Report("deploy")
    if not os.access(vigil, os.X_OK):
        report.check("vigil binary", [f"no vigil binary at {vigil}: run `swift build` first (or set VIGIL_BIN)"])
        report.finish()
    for module in (manifests, agent, unit, install, runtime, footprint):
        for name, check in module.checks(vigil):
            if only and not any(word in name for word in only):
                continue
            try:
                problems = check()
            except Exception as error:  # a check that cannot run has failed
                problems = [f"{type(error).__name__}: {error}"]
            report.check(name, problems)
    report.finish()


if __name__ == "__main__":
    main()
