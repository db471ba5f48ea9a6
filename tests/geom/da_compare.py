#!/usr/bin/python3
"""mcmc-run with [sampler] surrogate = "p1" samples the P2 model's posterior:
the same configuration run with and without the surrogate must agree on the
posterior mean of every sampled quantity (lp, the 25 xi, m_mean, misfit)
within 4 combined Monte Carlo standard errors (mcmc-diag --json's
mcse_mean of each run). A surrogate whose data were not the P2 model's, or a
second stage that did not correct the first, moves the misfit's mean by
many MCSE.

With KERNEL, the configuration run with KERNEL is compared with its hmala,
both without the surrogate and for ITERATIONS (default 50000): another
kernel of mcmc-run must sample the same posterior. With da:KERNEL, KERNEL
runs as the first stage on the P1 surrogate.

usage: da_compare.py MCMC_RUN MCMC_DIAG WORKDIR CONFIG [KERNEL [ITERATIONS]]
"""
import json
import math
import os
import shutil
import subprocess
import sys

run, diag, work, config = sys.argv[1:5]
kernel = sys.argv[5] if len(sys.argv) > 5 else None
iterations = sys.argv[6] if len(sys.argv) > 6 else "50000"
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
text = open(config).read()
means = {}
# (name, kernel, surrogate): the run under test first, the reference second
if kernel is None:
    runs = (("da", "hmala", '"p1"'), ("p2", "hmala", '"none"'))
elif kernel.startswith("da:"):
    runs = (("da-" + kernel[3:], kernel[3:], '"p1"'), ("hmala", "hmala", '"none"'))
else:
    runs = ((kernel, kernel, '"none"'), ("hmala", "hmala", '"none"'))
for name, k, surrogate in runs:
    cfg = os.path.join(work, name + ".toml")
    out = os.path.join(work, name + ".h5")
    body = text.replace('surrogate = "p1"', "surrogate = " + surrogate).replace('path = "tiny.h5"', f'path = "{out}"')
    body = body.replace('kernel = "hmala"', f'kernel = "{k}"')
    open(cfg, "w").write(body)
    subprocess.run([run, "--quiet", "--force", "--iterations", iterations, cfg], check=True, stdout=subprocess.DEVNULL)
    js = json.loads(subprocess.run([diag, "--json", out], check=True, capture_output=True, text=True).stdout)
    means[name] = {v["name"]: (v["mean"], v["mcse_mean"]) for v in js["variables"]}
failed = 0
zmax = 0
test, ref = runs[0][0], runs[1][0]
for k, (m1, s1) in means[test].items():
    m2, s2 = means[ref][k]
    z = (m1 - m2) / math.sqrt(s1 * s1 + s2 * s2)
    zmax = max(zmax, abs(z))
    if abs(z) >= 4:
        print(f"FAIL {k}: mean {m1:.5f} with {test}, {m2:.5f} with {ref} (MCSE {s1:.2g}, {s2:.2g}; {z:.1f})")
        failed += 1
print(f"{len(means[test])} posterior means compared ({test} against {ref}), max |z| {zmax:.2f}")
print(f"da_compare: {failed} failed")
sys.exit(1 if failed else 0)
