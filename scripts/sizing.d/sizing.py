"""Measures what one node's scrape costs for 10, 100 and 1,000 plugins: `vigil serve` with that many
generated plugins, each with the four limits (memory, cpu, open_fds, threads), matched by a comm no
process has (a watched plugin's series are there whether or not its processes run; this keeps the
measurement free of the machine's processes). Each is scraped over loopback once the sampler has
swept, twice, and the second scrape is counted: series (sample lines of the text format), and bytes
in text 0.0.4, in text gzip-compressed (as Prometheus asks for it), and in OpenMetrics.

Prints a Markdown table; with --readme, writes it into README.md between <!-- sizing:begin --> and
<!-- sizing:end -->."""
import argparse
import gzip
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VIGIL = ROOT / ".build/debug/vigil"
COUNTS = (10, 100, 1000)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def measure(plugins, work):
    port = free_port()
    config = work / f"sizing-{plugins}.yml"
    lines = [f"listen: 127.0.0.1:{port}", "sampling_interval: 1s", "plugins:"]
    for i in range(plugins):
        lines += [f"  - name: plugin-{i:04d}", f"    match:", f"      - comm: [no-such-{i:04d}]",
                  "    limits: {memory: 512MiB, cpu: 1, open_fds: 1024, threads: 64}"]
    config.write_text("\n".join(lines) + "\n")
    log = open(work / f"sizing-{plugins}.log", "w")
    process = subprocess.Popen([str(VIGIL), "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.time() + 120
        while True:
            try:
                text = get(url).decode()
                if text.count("vigil_plugin_processes{") == plugins:
                    break
            except OSError:
                pass
            if time.time() > deadline or process.poll() is not None:
                raise RuntimeError(f"vigil serve with {plugins} plugins did not serve them within 120 s (see {log.name})")
            time.sleep(0.5)
        started = time.perf_counter()
        plain = get(url)
        took = time.perf_counter() - started
        compressed = get(url, {"Accept-Encoding": "gzip"})
        assert gzip.decompress(compressed).count(b"\n") > 0, "the gzip scrape did not decompress"
        openmetrics = get(url, {"Accept": "application/openmetrics-text; version=1.0.0"})
        series = sum(1 for line in plain.decode().splitlines() if line and not line.startswith("#"))
        return {"plugins": plugins, "series": series, "plain": len(plain), "gzip": len(compressed),
                "openmetrics": len(openmetrics), "ms": took * 1000}
    finally:
        process.terminate()
        process.wait(timeout=30)


def table(rows):
    def kib(n):
        return f"{n / 1024:,.0f} KiB" if n >= 10 * 1024 else f"{n / 1024:,.1f} KiB"
    out = ["| plugins | series | series per plugin | text 0.0.4 | gzip | OpenMetrics | bytes per series (gzip) |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
    base = rows[0]["series"] - rows[0]["plugins"] * ((rows[1]["series"] - rows[0]["series"]) // (rows[1]["plugins"] - rows[0]["plugins"]))
    for r in rows:
        out.append(f"| {r['plugins']:,} | {r['series']:,} | {(r['series'] - base) / r['plugins']:.0f} | {kib(r['plain'])} | "
                   f"{kib(r['gzip'])} | {kib(r['openmetrics'])} | {r['gzip'] / r['series']:.1f} |")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vigil-sizing."))
    try:
        rows = [measure(n, work) for n in COUNTS]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = table(rows)
    print(text, end="")
    if args.readme:
        readme = ROOT / "README.md"
        content = readme.read_text()
        begin, end = "<!-- sizing:begin -->\n", "<!-- sizing:end -->"
        if begin not in content or end not in content:
            sys.exit("README.md has no <!-- sizing:begin --> / <!-- sizing:end --> markers")
        head, rest = content.split(begin, 1)
        readme.write_text(head + begin + text + end + rest.split(end, 1)[1])
        print("sizing: README.md updated")


main()
