"""The built vigil, run the way the unit and the manifests run it: as an unprivileged user, with
and without the unit's capabilities, watching a process of another user; and under
MemoryDenyWriteExecute (the kernel's PR_SET_MDWE, which systemd applies when it can). This pins
what the unit's and the manifests' comments say Vigil can read. Switching users needs root."""
import ctypes
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import unit
from support import free_port, run, scrape_until

# The watched process's user and Vigil's: two unprivileged users of every Debian system.
TARGET_USER = ("daemon", "daemon")
VIGIL_USER = ("nobody", "nogroup")
SLEEP = "/usr/bin/sleep"
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


def as_user(user, capabilities=()):
    """setpriv's arguments to run as user with these capabilities (ambient, bounded to them), and
    no_new_privs, as systemd's AmbientCapabilities= and CapabilityBoundingSet= do."""
    args = ["setpriv", f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups", "--no-new-privs"]
    if capabilities:
        caps = ",".join(f"+{c}" for c in capabilities)
        args += [f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set=-all,{caps}"]
    return args


@contextmanager
def started(args, **kwargs):
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Log:
    """vigil's stderr, filled in once it has exited."""
    text = ""


@contextmanager
def vigil_watching(vigil, wrapper, target_pid, preexec_fn=None, log=None):
    """vigil serve (under wrapper) with plugin `target` (by pid) and `by_exe` (by exe); yields the
    metrics URL. Its stderr is in the exception if it dies, and in `log` once it has exited."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="vigil-runtime.") as work:
        config = Path(work, "vigil.yml")
        config.write_text(f"""listen: 127.0.0.1:{port}
sampling_interval: 200ms
plugins:
  - name: target
    match:
      - pid: {target_pid}
  - name: by_exe
    match:
      - exe: [{SLEEP}]
""")
        os.chmod(work, 0o755)
        with started([*wrapper, vigil, "serve", "--config", config], preexec_fn=preexec_fn) as process:
            try:
                yield f"http://127.0.0.1:{port}/metrics"
            except Exception:
                if process.poll() is not None:
                    raise RuntimeError(f"vigil exited with {process.returncode}: {process.stderr.read().strip()}")
                raise
        if log is not None:
            log.text = process.stderr.read()


def sampled(samples):
    return 'vigil_plugin_processes{plugin="target"}' in samples


def value(samples, series):
    return samples.get(series, 0)


def root_problems():
    return [] if os.geteuid() == 0 else ["needs root, to run vigil and its target as other users (setpriv)"]


def another_users_process(vigil, capabilities, expect):
    def check():
        if root_problems():
            return root_problems()
        log = Log()
        with started(as_user(TARGET_USER) + [SLEEP, "600"]) as target:
            with vigil_watching(vigil, as_user(VIGIL_USER, capabilities), target.pid, log=log) as url:
                samples = scrape_until(url, sampled)
                # A second sweep, so that errors of the first are counted whatever the order.
                samples = scrape_until(url, lambda s: sampled(s) and value(s, 'vigil_plugin_resident_memory_bytes{plugin="target"}') > 0)
                # And more, so that a warning logged at every sweep would show.
                samples = scrape_until(url, lambda s: value(s, 'vigil_sample_errors_total{plugin="target",reason="permission_denied"}') >= 3
                                       or (sampled(s) and not expect_denied(expect)))
        return expect(samples, log.text)
    return check


def expect_denied(expect):
    return expect is partly_read


def fully_read(samples, log):
    problems = []
    if "cannot read" in log:
        problems.append("vigil warned that it cannot read a file although it has the capabilities")
    if value(samples, 'vigil_plugin_open_fds{plugin="target"}') < 3:
        problems.append("open_fds of the other user's process not counted (CAP_DAC_READ_SEARCH)")
    if value(samples, 'vigil_plugin_processes{plugin="by_exe"}') < 1:
        problems.append("the exe matcher did not find the other user's process (CAP_SYS_PTRACE)")
    denied = value(samples, 'vigil_sample_errors_total{plugin="target",reason="permission_denied"}')
    if denied:
        problems.append(f"{denied:g} permission_denied sample errors")
    return problems


def partly_read(samples, log):
    problems = []
    warnings = [line for line in log.splitlines() if "cannot read" in line and "CAP_DAC_READ_SEARCH" in line]
    if len(warnings) != 1:
        problems.append(f"vigil logged the missing capability {len(warnings)} times, not once:\n{log[-2000:]}")
    for series in ('vigil_plugin_processes{plugin="target"}', 'vigil_plugin_resident_memory_bytes{plugin="target"}',
                   'vigil_plugin_threads{plugin="target"}'):
        if value(samples, series) <= 0:
            problems.append(f"{series} is {value(samples, series):g}: stat and status are world-readable")
    if value(samples, 'vigil_sample_errors_total{plugin="target",reason="permission_denied"}') <= 0:
        problems.append("the unreadable /proc/<pid>/fd was not counted as permission_denied")
    if value(samples, 'vigil_plugin_processes{plugin="by_exe"}') > 0:
        problems.append("the exe matcher read another user's /proc/<pid>/exe without CAP_SYS_PTRACE")
    return problems


def refuse_writable_executable_memory():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")


def memory_deny_write_execute(vigil):
    # The control: under PR_SET_MDWE a writable and executable mapping is refused.
    control = run([sys.executable, "-c", "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC)"],
                  preexec_fn=refuse_writable_executable_memory)
    if control.returncode == 0:
        return ["PR_SET_MDWE did not refuse a writable executable mapping: this kernel cannot show it"]
    with started([SLEEP, "600"]) as target:
        with vigil_watching(vigil, [], target.pid, preexec_fn=refuse_writable_executable_memory) as url:
            samples = scrape_until(url, sampled)
    return [] if value(samples, 'vigil_plugin_processes{plugin="target"}') == 1 else ["vigil did not sample its target"]


def checks(vigil):
    granted = unit.capabilities()
    yield (f"vigil as nobody with the unit's capabilities ({', '.join(granted)}) reads another user's process",
           another_users_process(vigil, granted, fully_read))
    yield ("vigil as nobody without capabilities: memory, CPU, threads; open_fds counted as permission_denied",
           another_users_process(vigil, (), partly_read))
    yield "vigil serves and samples under MemoryDenyWriteExecute (PR_SET_MDWE)", lambda: memory_deny_write_execute(vigil)
