"""mcmc-run sampling models of the in-tree test server (test_server.py):
an analytic Gaussian and a banana as log densities (pcn, rwm, mala; infhmc
on the Gaussian), and a
linear forward model as observations with our N(0, I) prior and Gaussian
noise (pcn, mala). Means and variances of every coordinate within 4 MCSE
of the exact values (fixed seeds; a 4-MCSE band fails a correct sampler
with probability ~6e-5 per comparison). A gradient kernel on a model
without Gradient is a configuration error (exit 1) that says why.

usage: client_sampling.py MCMC_RUN TEST_SERVER WORKDIR"""
import os
import subprocess
import sys

import h5py
import numpy as np

from umb import check, finish, mcse_mean_var, start, stop, write_config

run, server, work = [os.path.abspath(a) for a in sys.argv[1:4]]
os.makedirs(work, exist_ok=True)
proc, port = start(["/usr/bin/python3", server, "--port", "0"])
url = "http://127.0.0.1:%d" % port

b = 0.3  # test_server.py B
exact = {
    "gaussian": ([1.0, -0.5], [1.0, 2.0]),
    "banana": ([0.0, 0.0], [1.0, 1.0 + 2 * b * b]),
}
# The linear model y = A x + e, e ~ N(0, 0.5^2 I), x ~ N(0, I): Gaussian posterior.
A = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, -1.0], [0.3, 0.0, 1.0], [1.0, 1.0, 1.0]])
y = np.array([1.2, -0.4, 0.8, 2.0])
sigma = 0.5
cov = np.linalg.inv(np.eye(3) + A.T @ A / sigma ** 2)
exact["linear"] = (list(cov @ A.T @ y / sigma ** 2), list(np.diag(cov)))
with open(os.path.join(work, "y.txt"), "w") as f:
    f.write("\n".join("%.17g" % v for v in y) + "\n")


def sample(model, kernel, step, accept, iterations=5000, burn=500, seed=11):
    out = os.path.join(work, "%s_%s.h5" % (model, kernel))
    cfg = os.path.join(work, "%s_%s.toml" % (model, kernel))
    m = {"kind": "umbridge", "url": url, "name": model,
         "output": "observations" if model == "linear" else "logdensity"}
    sec = {"model": m,
           "sampler": {"kernel": kernel, "step_size": step, "target_acceptance": accept},
           "chain": {"iterations": iterations, "burn_in": burn, "chains": 1, "seed": seed},
           "memory": {"warmup": 500, "check_every": 500},
           "output": {"path": out, "overwrite": True}}
    if model == "linear":
        sec["data"] = {"kind": "file", "file": os.path.join(work, "y.txt")}
        sec["noise"] = {"sigma": sigma}
    write_config(cfg, **sec)
    r = subprocess.run([run, cfg, "--quiet"], capture_output=True, text=True, cwd=work)
    check("%s %s: exit 0" % (model, kernel), r.returncode == 0, r.stderr[-1500:])
    if r.returncode:
        return
    check("%s %s: memory flat" % (model, kernel), "live objects +0, live bytes +0" in r.stdout, r.stdout[-600:])
    with h5py.File(out, "r") as f:
        theta = f["posterior/theta"][0]
    mu, var = exact[model]
    for i in range(theta.shape[1]):
        m, em, v, ev = mcse_mean_var(theta[:, i])
        check("%s %s x%d mean %.4f vs %.4f (%.1f MCSE)" % (model, kernel, i, m, mu[i], abs(m - mu[i]) / em),
              abs(m - mu[i]) <= 4 * em)
        check("%s %s x%d var %.4f vs %.4f (%.1f MCSE)" % (model, kernel, i, v, var[i], abs(v - var[i]) / ev),
              abs(v - var[i]) <= 4 * ev)


for model in ["gaussian", "banana"]:
    sample(model, "pcn", 0.5, 0.25)
    sample(model, "rwm", 1.0, 0.25)
    sample(model, "mala", 0.8, 0.57)
sample("linear", "pcn", 0.5, 0.25)
sample("linear", "mala", 0.5, 0.57)
# infhmc: ten gradients (HTTP round trips) per iteration
sample("gaussian", "infhmc", 0.3, 0.65)

# MALA needs Gradient: refused with a reason when the model lacks it.
cfg = os.path.join(work, "nograd.toml")
write_config(cfg, model={"kind": "umbridge", "url": url, "name": "nograd"}, sampler={"kernel": "mala"},
             output={"path": os.path.join(work, "nograd.h5"), "overwrite": True})
r = subprocess.run([run, cfg, "--quiet"], capture_output=True, text=True)
check("mala on a model without Gradient: exit 1", r.returncode == 1, r.returncode)
check("  says why", 'kernel = "mala" needs the gradient' in r.stderr and "does not support Gradient" in r.stderr,
      r.stderr)
write_config(cfg, model={"kind": "umbridge", "url": url, "name": "nosuch"},
             output={"path": os.path.join(work, "nograd.h5"), "overwrite": True})
r = subprocess.run([run, cfg, "--quiet"], capture_output=True, text=True)
check("unknown model name: exit 1 naming the server's models", r.returncode == 1 and "no such model" in r.stderr
      and "gaussian" in r.stderr, r.stderr)
write_config(cfg, model={"kind": "umbridge", "url": url, "name": "gaussian", "config": '{"level": 2}'},
             output={"path": os.path.join(work, "nograd.h5"), "overwrite": True})
r = subprocess.run([run, cfg, "--quiet"], capture_output=True, text=True)
check("config refused by the server: exit 1 with its message", r.returncode == 1 and "unknown config keys" in
      r.stderr, r.stderr)
stop(proc)
finish("sampling")
