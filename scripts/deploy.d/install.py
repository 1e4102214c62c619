"""Checks of `make install` and `make uninstall` into a scratch DESTDIR: the layout the README
promises, the unit rewritten for PREFIX and SYSCONFDIR, an edited /etc/vigil/vigil.yml kept, and the
installed files readable by their peers (vigil check, promtool check config)."""
import stat
import tempfile
from pathlib import Path

from support import ROOT, failed, run

DASHBOARDS = sorted(p.name for p in (ROOT / "dashboards").glob("*.json"))
# Path under DESTDIR: mode. The layout README.md's "Deploying" describes, for the default PREFIX.
LAYOUT = {
    "usr/local/bin/vigil": 0o755,
    "usr/local/lib/systemd/system/vigil.service": 0o644,
    "usr/local/share/vigil/config/vigil.yml": 0o644,
    "usr/local/share/vigil/config/prometheus.yml": 0o644,
    "usr/local/share/vigil/alerts/vigil-alerts.yml": 0o644,
    "usr/local/share/vigil/alerts/vigil-recording.yml": 0o644,
    "usr/local/share/vigil/alerts/RUNBOOK.md": 0o644,
    **{f"usr/local/share/vigil/dashboards/{name}": 0o644 for name in DASHBOARDS},
    "etc/vigil/vigil.yml": 0o644,
}


def make(target, destdir, vigil, *variables):
    result = run(["make", "-s", "--no-print-directory", target, f"DESTDIR={destdir}", f"VIGIL_BIN={vigil}", *variables],
                 cwd=ROOT)
    if failed(result):
        raise RuntimeError(failed(result))


def files(root):
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in Path(root).rglob("*") if p.is_file()}


def exec_lines(unit):
    return [l for l in unit.read_text().splitlines() if l.startswith("Exec")]


def layout(vigil):
    with tempfile.TemporaryDirectory(prefix="vigil-install.") as destdir:
        make("install", destdir, vigil)
        found = files(destdir)
        problems = [f"missing: {p}" for p in sorted(LAYOUT.keys() - found.keys())]
        problems += [f"not expected: {p}" for p in sorted(found.keys() - LAYOUT.keys())]
        problems += [f"{p}: mode {found[p]:o}, not {mode:o}" for p, mode in LAYOUT.items() if p in found and found[p] != mode]
        unit = Path(destdir, "usr/local/lib/systemd/system/vigil.service")
        if unit.exists() and unit.read_text() != (ROOT / "deploy/systemd/vigil.service").read_text():
            problems.append("with the default PREFIX and SYSCONFDIR the installed unit differs from deploy/systemd/vigil.service")
        return problems


def prefix_rewritten(vigil):
    with tempfile.TemporaryDirectory(prefix="vigil-install.") as destdir:
        make("install", destdir, vigil, "PREFIX=/opt/vigil", "SYSCONFDIR=/etc/opt/vigil")
        unit = Path(destdir, "opt/vigil/lib/systemd/system/vigil.service")
        problems = [f"missing: {p}" for p in ("opt/vigil/bin/vigil", "opt/vigil/share/vigil/config/vigil.yml",
                                              "etc/opt/vigil/vigil/vigil.yml") if not Path(destdir, p).exists()]
        if not unit.exists():
            return problems + ["missing: opt/vigil/lib/systemd/system/vigil.service"]
        want = "ExecStart=/opt/vigil/bin/vigil serve --config /etc/opt/vigil/vigil/vigil.yml"
        if want not in exec_lines(unit):
            problems.append(f"the unit's Exec lines are {exec_lines(unit)}, without {want}")
        if "/usr/local/" in unit.read_text():
            problems.append("the unit still names /usr/local/")
        return problems


def config_kept_and_uninstalled(vigil):
    with tempfile.TemporaryDirectory(prefix="vigil-install.") as destdir:
        make("install", destdir, vigil)
        config = Path(destdir, "etc/vigil/vigil.yml")
        config.write_text(config.read_text() + "# edited by the administrator\n")
        make("install", destdir, vigil)
        problems = [] if config.read_text().endswith("# edited by the administrator\n") else [
            "a second `make install` overwrote /etc/vigil/vigil.yml"]
        make("uninstall", destdir, vigil)
        left = sorted(files(destdir))
        if left != ["etc/vigil/vigil.yml"]:
            problems.append(f"after `make uninstall` these remain: {left} (only etc/vigil/vigil.yml should)")
        if Path(destdir, "usr/local/share/vigil").exists():
            problems.append("after `make uninstall` usr/local/share/vigil remains")
        return problems


def installed_files_read_by_peers(vigil):
    """The installed vigil checks the installed /etc/vigil/vigil.yml, and promtool loads the installed
    prometheus.yml, whose rule_files (../alerts/*.yml) must find the installed alert rules."""
    with tempfile.TemporaryDirectory(prefix="vigil-install.") as destdir:
        make("install", destdir, vigil)
        problems = [failed(run([Path(destdir, "usr/local/bin/vigil"), "check", Path(destdir, "etc/vigil/vigil.yml")]))]
        result = run(["promtool", "check", "config", Path(destdir, "usr/local/share/vigil/config/prometheus.yml")])
        problems.append(failed(result))
        for rules in ("vigil-alerts.yml", "vigil-recording.yml"):
            if result.returncode == 0 and rules not in result.stdout + result.stderr:
                problems.append(f"promtool found no {rules} through rule_files:\n{result.stdout}{result.stderr}")
        return [p for p in problems if p]


def checks(vigil):
    yield "make install DESTDIR=…: the documented layout and modes", lambda: layout(vigil)
    yield "make install PREFIX=/opt/vigil SYSCONFDIR=…: paths in the unit follow", lambda: prefix_rewritten(vigil)
    yield "make install keeps an edited vigil.yml; make uninstall leaves only it", lambda: config_kept_and_uninstalled(vigil)
    yield "installed vigil.yml passes vigil check; installed prometheus.yml loads the alerts", lambda: installed_files_read_by_peers(vigil)
