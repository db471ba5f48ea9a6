"""What the run checks (run_checks.py, resume_checks.py, mpi_checks.py)
share: counted expectations, the test configuration edited per [section]
key, an output file's datasets compared bit for bit, the summary's ESS/s
row checked against its bulk ESS, and the progress side-car.

"Equal" means every dataset outside memory/ (RSS and times of a process),
timing/ (the wall clock at each draw) and checkpoint/ (the records'
sequence differs by construction) is equal bit for bit."""
import json
import os
import re
import time

import h5py

SKIP = ("memory", "checkpoint", "timing")
failures = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def finish(check):
    print("%s: %d failed" % (check, len(failures)))
    raise SystemExit(1 if failures else 0)


def without_rate(summary):
    """A summary's text less its ESS/s lines, for comparing two runs' ESS
    and R-hat: a rate depends on the wall clock, and a resumed run has none."""
    return re.sub(r"\nESS/s[^\n]*", "", summary)


def check_rate(out, path=None, resumed_at=None):
    """The summary's ESS/s row: each column is the bulk ESS above it over
    the loop's wall time the note gives (to the printed digits), and that
    time is within the run's wall time plus, for a run resumed at iteration
    resumed_at, the seconds its note says the checkpoint carried. With the
    output file's path, its timing/seconds too (check_timing)."""
    ess = re.search(r"^ESS bulk +([0-9. ]+)$", out, re.M)
    rate = re.search(r"^ESS/s +([0-9.e+ -]+)$", out, re.M)
    secs = re.search(r"^ESS/s: bulk ESS per second of the sampling loop \(([0-9.]+) s: burn-in, memory checks and "
                     r"output included\)$", out, re.M)
    wall = re.search(r"wall time ([0-9.]+) s$", out, re.M)
    before = 0.0
    if resumed_at is not None:
        m = re.search(r"^ESS/s: resumed at iteration %d; ([0-9.]+) s of the loop's time were before it \(up to the "
                      r"checkpoint resumed from\)$" % resumed_at, out, re.M)
        expect(m is not None and float(m.group(1)) > 0, "resumed at %d: the note gives the seconds before it" % resumed_at)
        before = float(m.group(1)) if m else 0.0
    else:
        expect("resumed at" not in out, "a run that was not resumed has no resume note")
    expect(ess and rate and secs and wall, "summary has the ESS bulk and ESS/s rows and the loop's time")
    if not (ess and rate and secs and wall):
        return
    e, r, t = [float(v) for v in ess.group(1).split()], [float(v) for v in rate.group(1).split()], float(secs.group(1))
    bad = [(a, b) for a, b in zip(e, r) if abs(b * t - a) > 0.5 + a * (1e-3 + 5e-4 / t)]
    expect(len(e) == len(r) >= 3 and not bad and before < t <= float(wall.group(1)) + before + 0.05,
           "ESS/s = ESS bulk / %.3f s loop (%.3f s before the resume, within %s s of wall time) in every column: %s"
           % (t, before, wall.group(1), bad or list(zip(e, r))))
    if path:
        check_timing(path, t)


def check_timing(path, loop):
    """timing/seconds of a finished run: every chain's draws stamped with
    positive, non-decreasing seconds (across resumes too), the last at most
    the loop's seconds (as printed, to 1 ms)."""
    with h5py.File(path, "r", swmr=True) as f:
        s = f["timing/seconds"][()]
        draws = f["sample_stats/lp"].shape
    ok = s.shape == draws and s.size > 0 and (s > 0).all() and (s[:, 1:] >= s[:, :-1]).all() and \
        s[:, -1].max() <= loop + 5e-4 + 1e-9
    expect(ok, "timing/seconds %s: positive, non-decreasing along each chain, last %s <= the loop's %.3f s"
           % (s.shape, s[:, -1] if s.size else None, loop))


def config_text(config, **changes):
    """The text of CONFIG with section__key = value replaced, or added to
    its section, or appended with a new section."""
    text = open(config).read()
    for key, value in changes.items():
        section, name = key.split("__")
        pat = re.compile(r"(^\[%s\]\n(?:(?!\[).*\n)*?)%s = .*\n" % (section, name), re.M)
        if pat.search(text):
            text = pat.sub(lambda m: m.group(1) + "%s = %s\n" % (name, value), text)
        elif re.search(r"^\[%s\]\n" % section, text, re.M):
            text = re.sub(r"^\[%s\]\n" % section, "[%s]\n%s = %s\n" % (section, name, value), text, flags=re.M)
        else:
            text += "[%s]\n%s = %s\n" % (section, name, value)
    return text


def write_config(work, config, name, **changes):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(config_text(config, **changes))
    return path


def datasets(path):
    out = {}
    with h5py.File(path, "r", swmr=True) as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name.split("/")[0] not in SKIP:
                out[name] = obj[()]
        f.visititems(visit)
    return out


def same(x, y):
    if x.shape != y.shape:
        return False
    if x.dtype == object:
        return list(x.ravel()) == list(y.ravel())
    return x.tobytes() == y.tobytes()


def compare(ref, path, what, against):
    a, b = datasets(ref), datasets(path)
    diff = [k for k in a if k not in b or not same(a[k], b[k])] + [k for k in b if k not in a]
    expect(not diff, "%s: every dataset equal bit for bit to %s (%d compared)%s"
           % (what, against, len(a), "; differ: " + ", ".join(diff[:8]) if diff else ""))


def progress(path):
    try:
        with open(path + ".progress") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def wait_committed(path, n, proc, timeout):
    """Waits until the run has committed at least n draws per chain."""
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        p = progress(path)
        if p and p["draws_committed"] >= n:
            return p
        time.sleep(0.01)
    return progress(path)
