"""What the deploy checks share: the repository root, running a command, and scraping vigil."""
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / ".build" / "peers" / "bin"


def run(args, timeout=120, **kwargs):
    """The finished command (text output, never raises on a non-zero exit)."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs)


def failed(result):
    """The problem a failed command is, in words, or None when it succeeded."""
    if result.returncode == 0:
        return None
    output = (result.stdout + result.stderr).strip()
    return f"`{' '.join(result.args)}` exited with {result.returncode}:\n{output}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape_until(url, ready, timeout=20):
    """Samples ({name{labels}: value}) of the first scrape of url for which ready(samples) holds.
    Raises TimeoutError with the last failure when none does within timeout seconds."""
    deadline = time.monotonic() + timeout
    last = "no scrape yet"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                samples = parse_text(response.read().decode())
            if ready(samples):
                return samples
            last = "the scrape did not have what was waited for yet"
        except OSError as error:
            last = f"{type(error).__name__}: {error}"
        time.sleep(0.3)
    raise TimeoutError(f"{url}: gave up after {timeout}s ({last})")


def parse_text(text):
    """{`name{labels}` as written: value} of a text 0.0.4 exposition."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            samples[series] = float(value)
    return samples
