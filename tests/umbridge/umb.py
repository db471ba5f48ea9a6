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


def ess(x):
    """Effective sample size, Geyer's initial monotone sequence (as src/mcmc/ess.c)."""
    import numpy as np
    x = np.asarray(x, dtype=float)
    n = len(x)
    xc = x - x.mean()
    f = np.fft.rfft(xc, 2 * n)
    acov = np.fft.irfft(f * np.conj(f))[:n] / n
    if acov[0] <= 0:
        return float(n)
    rho = acov / acov[0]
    s, prev = 0.0, None
    for k in range(0, n - 1, 2):
        p = rho[k] + rho[k + 1]
        if p <= 0:
            break
        if prev is not None and p > prev:
            p = prev
        s += p
        prev = p
    tau = -1 + 2 * s
    return n / max(tau, 1e-12)


def mcse_mean_var(x):
    """mean, its MCSE, variance, its MCSE (the MCSE of the mean of (x - mean)^2)."""
    import numpy as np
    x = np.asarray(x, dtype=float)
    m = x.mean()
    sq = (x - m) ** 2
    v = sq.mean()
    return m, np.sqrt(x.var() / ess(x)), v, np.sqrt(sq.var() / ess(sq))


def write_config(path, **sections):
    """A TOML file from {section: {key: value}} (strings quoted)."""
    with open(path, "w") as f:
        for sec, keys in sections.items():
            f.write("[%s]\n" % sec)
            for k, v in keys.items():
                if isinstance(v, bool):
                    v = "true" if v else "false"
                elif isinstance(v, str):
                    v = json.dumps(v)
                f.write("%s = %s\n" % (k, v))
