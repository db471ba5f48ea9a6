"""Helpers shared by the UM-Bridge tests: start a server process and read
its port, talk UM-Bridge with the standard library (urllib/http.client),
and count failures."""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

FAILURES = []


def check(name, ok, detail=""):
    if ok:
        print("ok   %s" % name)
    else:
        print("FAIL %s %s" % (name, detail))
        FAILURES.append(name)


def finish(label):
    print("%s: %d failed" % (label, len(FAILURES)))
    sys.exit(1 if FAILURES else 0)


RUNNING = []


def communicate(proc, timeout=None):
    """stdout and the stderr file of a server started by start()."""
    out, _ = proc.communicate(timeout=timeout)
    proc.errfile.seek(0)
    return out, proc.errfile.read()


def dump_servers():
    """On an unexpected error: what the servers said, then kill them."""
    for proc in RUNNING:
        if proc.poll() is None:
            proc.kill()
        out, err = communicate(proc)
        print("--- server exit %s\n%s\n--- stderr\n%s" % (proc.returncode, out[-3000:], err[-3000:]))


def start(cmd, pattern=r"http://127\.0\.0\.1:(\d+)", cwd=None, timeout=60):
    """Starts cmd, waits for the line announcing the port; returns (proc, port)."""
    # stderr to a file: a pipe nobody reads while the server runs would
    # fill up and block it.
    errfile = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errfile, text=True, cwd=cwd)
    proc.errfile = errfile
    RUNNING.append(proc)
    t0 = time.time()
    lines = []
    while time.time() - t0 < timeout:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(pattern, line)
        if m:
            return proc, int(m.group(1))
    proc.kill()
    out, err = communicate(proc)
    raise RuntimeError("server did not start: %s%s%s" % ("".join(lines), out, err))


def stop(proc, sig=signal.SIGTERM, timeout=30):
    proc.send_signal(sig)
    out, err = communicate(proc, timeout)
    return proc.returncode, out, err


class Client:
    """One keep-alive connection, like a sampler's."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def raw(self, method, path, body=None, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        try:
            self.conn.request(method, path, body=body, headers=h)
            r = self.conn.getresponse()
            data = r.read()
        except (http.client.HTTPException, OSError):
            # the server closed the connection (it does after a 413): reconnect once
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.request(method, path, body=body, headers=h)
            r = self.conn.getresponse()
            data = r.read()
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return r.status, json.loads(data) if data else None

    def post(self, path, body):
        return self.raw("POST", path, body)


def rel_close(a, b, tol):
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-300)


def max_rel(xs, ys):
    return max(abs(x - y) / max(abs(x), abs(y), 1e-300) for x, y in zip(xs, ys))
