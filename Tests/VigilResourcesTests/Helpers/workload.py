"""A child process with known behaviour for the resource tests.

usage: workload.py TOKEN [mem MiB] [fds K] [threads T] [spin] [children N]
Prints "ready" once everything is in place (children: once each has burnt 0.3 s of CPU), then
obeys lines on stdin:
  free           drop the memory it holds
  grow MiB       hold that many more MiB
  kill-children  kill the children and reap them
  children       print the children's pids
  exit [CODE]    exit at once, with status CODE (default 0)
  cpu            print this process's CPU seconds, from times(2)
and exits when stdin closes. TOKEN only makes the command line unique for matchers."""
import os
import signal
import sys
import threading
import time

# The test runner may hand down a mask that blocks SIGTERM: unblock it so the test can stop us.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

args = sys.argv[2:]
held = []
files = []
children = []
exit_code = 0


def hold(mib):
    block = bytearray(mib * 1024 * 1024)
    for i in range(0, len(block), 4096):  # touch every page so that it is resident
        block[i] = 1
    held.append(block)


def spin():
    while True:
        pass


i = 0
while i < len(args):
    what = args[i]
    if what == "mem":
        hold(int(args[i + 1])); i += 2
    elif what == "fds":
        files.extend(open("/dev/null") for _ in range(int(args[i + 1]))); i += 2
    elif what == "threads":
        for _ in range(int(args[i + 1])):
            threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
        i += 2
    elif what == "spin":
        threading.Thread(target=spin, daemon=True).start(); i += 1
    elif what == "children":
        count = int(args[i + 1])
        busy, done = os.pipe()
        for _ in range(count):
            pid = os.fork()
            if pid == 0:
                # A child burns 0.3 s of CPU by its own clock, however long a loaded machine takes
                # to grant it, says so, then waits to be killed with its parent.
                os.close(busy)
                while time.process_time() < 0.3:
                    pass
                os.write(done, b".")
                time.sleep(3600)
                os._exit(0)
            children.append(pid)
        os.close(done)
        for _ in range(count):  # "ready" waits for every child's CPU
            os.read(busy, 1)
        os.close(busy)
        i += 2
    else:
        sys.exit(f"workload.py: unknown argument {what!r}")

print("ready", flush=True)
for line in sys.stdin:
    command = line.split()
    if not command:
        continue
    if command[0] == "free":
        held.clear()
    elif command[0] == "grow":
        hold(int(command[1]))
    elif command[0] == "kill-children":
        for pid in children:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        children.clear()
    elif command[0] == "exit":
        exit_code = int(command[1]) if len(command) > 1 else 0
        break
    elif command[0] == "children":
        print("ok " + " ".join(str(pid) for pid in children), flush=True)
        continue
    elif command[0] == "cpu":
        t = os.times()  # from times(2), not from /proc
        print(f"ok {t.user + t.system}", flush=True)
        continue
    print("ok", flush=True)
for pid in children:
    os.kill(pid, 9)
sys.exit(exit_code)
