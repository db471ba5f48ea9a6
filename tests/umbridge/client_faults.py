"""mcmc-run against a faulty UM-Bridge server (test_server.py): 5xx answers
and stalled requests (timeouts) are retried and the chain is the same, bit
for bit, as against a healthy server; a server that dies mid-run stops the
run with exit code 2 and the draws on disk are exactly the first draws of
the uninterrupted chain, and --resume against the server restarted on another
port finishes the uninterrupted chain; no server at all is a configuration
error.

usage: client_faults.py MCMC_RUN TEST_SERVER WORKDIR"""
import os
import subprocess
import sys

import h5py
import numpy as np

from umb import check, finish, start, stop, write_config

run, server, work = [os.path.abspath(a) for a in sys.argv[1:4]]
os.makedirs(work, exist_ok=True)


def chain(tag, faults, resume=False, **model):
    """Runs (or, with resume, resumes TAG.h5 with) a chain against a server
    started with FAULTS; returns the run and the draws on file."""
    proc, port = start(["/usr/bin/python3", server, "--port", "0"] + faults)
    out = os.path.join(work, tag + ".h5")
    cfg = os.path.join(work, tag + (".resume" if resume else "") + ".toml")
    m = {"kind": "umbridge", "url": "http://127.0.0.1:%d" % port, "name": "banana", "retries": 3,
         "retry_backoff": 0.05, "timeout": 5.0}
    m.update(model)
    write_config(cfg, model=m, sampler={"kernel": "mala", "step_size": 0.8, "target_acceptance": 0.57},
                 chain={"iterations": 1200, "burn_in": 200, "chains": 1, "seed": 5},
                 memory={"warmup": 200, "check_every": 200},
                 output={"path": out, "overwrite": True, "flush_every": 100, "checkpoint_every": 300})
    args = ["--resume", out, cfg] if resume else [cfg]
    r = subprocess.run([run, *args, "--quiet"], capture_output=True, text=True, cwd=work)
    if proc.poll() is None:
        stop(proc)
    else:
        proc.wait()
    with h5py.File(out, "r") as f:
        theta = f["posterior/theta"][0]
        lp = f["sample_stats/lp"][0]
    return r, theta, lp


r, theta0, lp0 = chain("healthy", [])
check("healthy server: exit 0, 1000 draws", r.returncode == 0 and theta0.shape == (1000, 2), (r.returncode, r.stderr))

r, theta, lp = chain("fail_every_7", ["--fail-every", "7"], retry_backoff=0.002)
check("503 on every 7th request (2 ms backoff): exit 0", r.returncode == 0, r.stderr[-800:])
check("  retried: the summary counts them", "retries" in r.stdout and " 0 retries" not in r.stdout, r.stdout[-400:])
check("  same chain bit for bit", np.array_equal(theta, theta0) and np.array_equal(lp, lp0))

r, theta, lp = chain("stall", ["--stall-every", "500", "--stall", "1.5"], timeout=0.4)
check("a request stalled past the timeout: exit 0", r.returncode == 0, r.stderr[-800:])
check("  same chain bit for bit", np.array_equal(theta, theta0) and np.array_equal(lp, lp0))

r, theta, lp = chain("dies", ["--die-after", "900"], retries=2)
check("server dies mid-run: exit 2", r.returncode == 2, (r.returncode, r.stderr[-800:]))
check("  one line saying why", "stopped at iteration" in r.stderr and "Couldn't connect" in r.stderr and
      "PETSC ERROR" not in r.stderr, r.stderr[-800:])
n = theta.shape[0]
# Evaluate #1 is the initial state, #k+1 iteration k: the 900th fails in
# iteration 899, so 898 iterations, 698 after burn-in, are complete.
check("  every completed draw on disk (%d)" % n, n == 698, n)
check("  they are the uninterrupted chain's first draws", np.array_equal(theta, theta0[:n]) and
      np.array_equal(lp, lp0[:n]))

# The server comes back on another port: the run resumes from its last
# checkpoint (iteration 600 of the 898 done) with the new url and finishes
# with the uninterrupted chain.
r, theta, lp = chain("dies", [], resume=True, retries=2)
check("resumed against a restarted server: exit 0", r.returncode == 0, (r.returncode, r.stderr[-800:]))
check("  from the last checkpoint", "resume   from iteration 600 of 1200" in r.stdout, r.stdout[-800:])
check("  the same chain as the uninterrupted run, bit for bit", np.array_equal(theta, theta0) and
      np.array_equal(lp, lp0), (theta.shape, theta0.shape))
r, _, _ = chain("dies", [], resume=True, name="gauss")
check("resuming against another model is refused naming [model]", r.returncode == 1 and
      "differs from the run's in [model]" in r.stderr, (r.returncode, r.stderr[-800:]))

cfg = os.path.join(work, "none.toml")
write_config(cfg, model={"kind": "umbridge", "url": "http://127.0.0.1:9", "name": "banana", "retries": 1,
                         "retry_backoff": 0.05}, output={"path": os.path.join(work, "none.h5"), "overwrite": True})
r = subprocess.run([run, cfg, "--quiet"], capture_output=True, text=True)
check("no server: exit 1 naming the url", r.returncode == 1 and "no UM-Bridge server answers" in r.stderr and
      "127.0.0.1:9" in r.stderr, (r.returncode, r.stderr))
finish("faults")
