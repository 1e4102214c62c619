"""The one wait of the end-to-end scripts (e2e.py, check_process_exporter.py, fleet.d/fleet.py):
poll a probe until it gives something truthy, or fail saying what was awaited and what the probe
last raised."""
import time


def wait_for(what, probe, timeout=60, deadline=None, poll=0.5):
    """Returns the probe's first truthy value within `timeout` seconds (and before `deadline`,
    a time.time() value, when given); an exception from the probe means "not yet"."""
    end = time.time() + timeout
    if deadline is not None:
        end = min(end, deadline)
    last = None
    while time.time() < end:
        try:
            value = probe()
            if value:
                return value
        except Exception as error:  # not up yet
            last = error
        time.sleep(poll)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what} (last: {last})")
