"""Vigil's deeper /proc figures against process-exporter, the peer its users know, on one process
group both watch at once: PSS and swap (smaps), storage I/O, context switches, major page faults,
and the process count. The group is six quiescent `sleep` processes and one Python child that
does known I/O on command (writes and fsyncs 8 MiB, reads 4 MiB past the page cache, and faults in
4 MiB of a file mapping whose pages were dropped), then sleeps on its stdin.

process-exporter's counters count from when it first saw a process, Vigil's from the process's
start, so counters are compared as increases over the same known I/O; gauges as values.
Tolerances, and why:
- counters: exact. Both read the same /proc files of processes that sit blocked on a read
  while they are read; nothing moves them between the two scrapes.
- PSS: 5%. A page's share is divided by the number of processes on the machine that map it
  (libc, the Python runtime), and processes come and go on a build machine between the two reads.
- swap: exact at 0, else 5% (pages move to and from swap on the kernel's schedule).
Prints one line per check and "process-exporter: N passed, M failed"; exits 1 on a failure, and 0
with a note when process-exporter is not installed (scripts/setup installs it).
Usage: check_process_exporter.py VIGIL_BINARY"""
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import waiting

from prometheus_client.parser import text_string_to_metric_families

PEER = "/usr/bin/prometheus-process-exporter"
PREFIX = "vigil-pe-check"
work = Path(tempfile.mkdtemp(prefix="vigil-pe-check."))
children = []
results = {"passed": 0, "failed": 0}

IO_CHILD = r"""
import mmap, os, sys
path = sys.argv[1]
print("ready", flush=True)
for line in sys.stdin:
    # 8 MiB written and fsynced: write_bytes grows by 8 MiB (plus what the file system adds).
    with open(path, "wb") as f:
        f.write(os.urandom(8 << 20))
        f.flush()
        os.fsync(f.fileno())
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    # 4 MiB read past the page cache: read_bytes grows.
    os.read(fd, 4 << 20)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    # 4 MiB of a mapping whose pages are not cached: major page faults.
    with mmap.mmap(fd, 8 << 20, prot=mmap.PROT_READ) as m:
        sum(m[i] for i in range((4 << 20), (8 << 20), 4096))
    os.close(fd)
    print("done", flush=True)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


# Polled every 0.2 s: process-exporter answers within a scrape.
wait_for = functools.partial(waiting.wait_for, poll=0.2)


def check(name, problems):
    if problems:
        results["failed"] += 1
        print(f"FAIL {name}: {'; '.join(problems)}")
    else:
        results["passed"] += 1
        print(f"ok   {name}")


def close(a, b, tolerance):
    return abs(a - b) <= tolerance * max(abs(a), abs(b))


def main():
    vigil = sys.argv[1]
    if not os.path.exists(PEER):
        print(f"process-exporter: skipped, {PEER} is missing (scripts/setup installs prometheus-process-exporter)")
        return 0
    for i in range(6):
        children.append(subprocess.Popen([f"{PREFIX}-sleep-{i}", "600"], executable="/bin/sleep"))
    io = subprocess.Popen([f"{PREFIX}-io", "-c", IO_CHILD, str(work / "data")], executable="/usr/bin/python3",
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    children.append(io)
    assert io.stdout.readline().strip() == "ready"

    pattern = f"^{PREFIX}-"
    vigil_port, peer_port = free_port(), free_port()
    (work / "vigil.yml").write_text(
        f"listen: 127.0.0.1:{vigil_port}\nsampling_interval: 100ms\nplugins:\n"
        f"  - name: group\n    smaps: true\n    match: [{{cmdline: \"{pattern}\"}}]\n")
    (work / "pe.yml").write_text(f"process_names:\n  - name: group\n    cmdline: ['{pattern}']\n")
    children.append(subprocess.Popen([vigil, "serve", "--config", str(work / "vigil.yml")],
                                     stdout=open(work / "vigil.log", "w"), stderr=subprocess.STDOUT))
    children.append(subprocess.Popen([PEER, "-config.path", str(work / "pe.yml"), "-web.listen-address", f"127.0.0.1:{peer_port}",
                                      "-gather-smaps=true", "-threads=false", "-children=false"],
                                     stdout=open(work / "pe.log", "w"), stderr=subprocess.STDOUT))
    wait_for("Vigil to count the group", lambda: value(scrape(vigil_port), "vigil_plugin_processes", plugin="group") == 7)
    wait_for("process-exporter to count the group",
             lambda: value(scrape(peer_port), "namedprocess_namegroup_num_procs", groupname="group") == 7)

    counters = [
        ("read bytes", ("vigil_plugin_io_bytes_total", {"direction": "read"}), ("namedprocess_namegroup_read_bytes_total", {})),
        ("write bytes", ("vigil_plugin_io_bytes_total", {"direction": "write"}), ("namedprocess_namegroup_write_bytes_total", {})),
        ("voluntary context switches", ("vigil_plugin_context_switches_total", {"type": "voluntary"}),
         ("namedprocess_namegroup_context_switches_total", {"ctxswitchtype": "voluntary"})),
        ("involuntary context switches", ("vigil_plugin_context_switches_total", {"type": "involuntary"}),
         ("namedprocess_namegroup_context_switches_total", {"ctxswitchtype": "nonvoluntary"})),
        ("major page faults", ("vigil_plugin_major_page_faults_total", {}), ("namedprocess_namegroup_major_page_faults_total", {})),
    ]

    # Both have seen the whole group, which sits idle: the figures before the known I/O.
    ours_before, theirs_before = scrape(vigil_port), scrape(peer_port)
    io.stdin.write("go\n")
    io.stdin.flush()
    assert io.stdout.readline().strip() == "done"
    # Vigil's figures come from its last sample (every 100 ms), which may have been taken during
    # the I/O: wait until its counters show the I/O and hold still over more than two samples.
    written = value(ours_before, "vigil_plugin_io_bytes_total", plugin="group", direction="write")
    names = [name for _, (name, _), _ in counters]

    def settled():
        first = scrape(vigil_port)
        if value(first, "vigil_plugin_io_bytes_total", plugin="group", direction="write") < written + (8 << 20):
            return None
        time.sleep(0.3)
        second = scrape(vigil_port)
        same = all(first.get(key) == second.get(key) for key in first if key[0] in names)
        return second if same else None

    ours_after = wait_for("Vigil's counters to show the I/O and hold still", settled)
    theirs_after = scrape(peer_port)

    def vigil_counter(samples, name, labels):
        return value(samples, name, plugin="group", **labels)

    def peer_counter(samples, name, labels):
        return value(samples, name, groupname="group", **labels)

    for title, (vname, vlabels), (pname, plabels) in counters:
        ours = vigil_counter(ours_after, vname, vlabels) - vigil_counter(ours_before, vname, vlabels)
        theirs = peer_counter(theirs_after, pname, plabels) - peer_counter(theirs_before, pname, plabels)
        check(f"{title}: Vigil's increase {ours:.0f} equals process-exporter's {theirs:.0f}",
              [] if ours == theirs else [f"Vigil {ours}, process-exporter {theirs}"])
    write = vigil_counter(ours_after, "vigil_plugin_io_bytes_total", {"direction": "write"}) - \
        vigil_counter(ours_before, "vigil_plugin_io_bytes_total", {"direction": "write"})
    check("the known I/O shows: at least 8 MiB written", [] if write >= 8 << 20 else [f"only {write} bytes"])

    # Gauges: one Vigil sample against a process-exporter scrape taken right after it.
    pss = value(ours_after, "vigil_plugin_proportional_memory_bytes", plugin="group")
    peer_pss = peer_counter(theirs_after, "namedprocess_namegroup_memory_bytes", {"memtype": "proportionalResident"})
    check(f"PSS: Vigil {pss:.0f} within 5% of process-exporter {peer_pss:.0f}",
          [] if pss and peer_pss and close(pss, peer_pss, 0.05) else [f"Vigil {pss}, process-exporter {peer_pss}"])
    swap = value(ours_after, "vigil_plugin_swap_bytes", plugin="group")
    peer_swap = peer_counter(theirs_after, "namedprocess_namegroup_memory_bytes", {"memtype": "swapped"})
    check(f"swap: Vigil {swap:.0f} agrees with process-exporter {peer_swap:.0f}",
          [] if swap is not None and peer_swap is not None and (swap == peer_swap or close(swap, peer_swap, 0.05))
          else [f"Vigil {swap}, process-exporter {peer_swap}"])
    procs = value(ours_after, "vigil_plugin_processes", plugin="group")
    peer_procs = peer_counter(theirs_after, "namedprocess_namegroup_num_procs", {})
    check(f"processes: Vigil {procs:.0f}, process-exporter {peer_procs:.0f}", [] if procs == peer_procs else ["differ"])

    print(f"process-exporter: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    try:
        status = main()
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(status)
