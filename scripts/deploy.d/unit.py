"""Checks of deploy/systemd/vigil.service: systemd's own reading of the unit as `make install`
writes it (`systemd-analyze verify`, where any warning fails, and `systemd-analyze security
--offline`, whose exposure score may not rise), and the settings the unit promises."""
import shutil
import tempfile
from pathlib import Path

from support import ROOT, failed, run

UNIT = ROOT / "deploy" / "systemd" / "vigil.service"
# `systemd-analyze security` scores exposure from 0 to 10 (lower is safer); its threshold is in
# tenths. Today's unit scores 2.2; a change that weakens the sandbox raises the score and fails.
EXPOSURE_THRESHOLD = 22

# The settings the unit promises (README "Deploying", the comments in the unit).
REQUIRED = {
    "ExecStart": "/usr/local/bin/vigil serve --config /etc/vigil/vigil.yml",
    "ExecReload": "/bin/kill -HUP $MAINPID",
    "Restart": "on-failure",
    "DynamicUser": "yes",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "MemoryDenyWriteExecute": "yes",
    "LockPersonality": "yes",
    "SystemCallArchitectures": "native",
    "AmbientCapabilities": "CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
    "CapabilityBoundingSet": "CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
}
# Settings that would blind Vigil (see the unit's comments).
FORBIDDEN = ("ProtectProc", "ProcSubset", "PrivateUsers", "User")


def settings(path=UNIT):
    """{key: [values, in order]} of the [Service] section."""
    values, section = {}, None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service":
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def capabilities():
    """The capabilities the unit grants, without the CAP_ prefix, lower case (as setpriv wants)."""
    return [c.removeprefix("CAP_").lower() for c in settings()["AmbientCapabilities"][-1].split()]


def promised_settings():
    found = settings()
    problems = [f"{key}={found[key][-1] if key in found else '(unset)'}, not {key}={want}"
                for key, want in REQUIRED.items() if (found.get(key) or [None])[-1] != want]
    problems += [f"{key}= is set; it is not to be (see the comment in the unit)" for key in FORBIDDEN if key in found]
    return problems


def installed_unit(vigil, work):
    """The unit as `make install PREFIX=<work>/usr SYSCONFDIR=<work>/etc` writes it, so that its
    ExecStart names a binary that exists."""
    result = run(["make", "-s", "--no-print-directory", "install", f"PREFIX={work}/usr", f"SYSCONFDIR={work}/etc",
                  f"VIGIL_BIN={vigil}"], cwd=ROOT)
    if failed(result):
        raise RuntimeError(failed(result))
    return work / "usr" / "lib" / "systemd" / "system" / "vigil.service"


def with_installed_unit(vigil, body):
    def check():
        if shutil.which("systemd-analyze") is None:
            return ["systemd-analyze is not installed (scripts/setup installs the systemd package)"]
        with tempfile.TemporaryDirectory(prefix="vigil-unit.") as work:
            return body(installed_unit(vigil, Path(work)))
    return check


def verify(unit):
    result = run(["systemd-analyze", "verify", unit])
    output = (result.stdout + result.stderr).strip()
    return [f"`systemd-analyze verify` exited with {result.returncode}:\n{output}"] if result.returncode or output else []


def exposure(unit):
    result = run(["systemd-analyze", "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD}", unit])
    if result.returncode == 0:
        return []
    overall = [l.strip() for l in result.stdout.splitlines() if "Overall" in l] or [result.stderr.strip()]
    return [f"exposure above {EXPOSURE_THRESHOLD / 10}: {overall[0]}",
            f"(`systemd-analyze security --offline=true {unit.name}` lists what each setting costs)"]


def checks(vigil):
    yield "systemd unit promises its hardening settings", promised_settings
    yield "systemd-analyze verify (the unit as installed)", with_installed_unit(vigil, verify)
    yield f"systemd-analyze security: exposure at most {EXPOSURE_THRESHOLD / 10}", with_installed_unit(vigil, exposure)
