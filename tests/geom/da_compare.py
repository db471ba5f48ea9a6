#!/usr/bin/python3
"""mcmc-run with [sampler] surrogate = "p1" samples the P2 model's posterior:
the same configuration run with and without the surrogate must agree on the
posterior mean of every sampled quantity (lp, the 25 xi, m_mean, misfit)
within 4 combined Monte Carlo standard errors (mcmc-diag --json's
mcse_mean of each run). A surrogate whose data were not the P2 model's, or a
second stage that did not correct the first, moves the misfit's mean by
many MCSE.

usage: da_compare.py MCMC_RUN MCMC_DIAG WORKDIR CONFIG
"""
import json
import math
import os
import shutil
import subprocess
import sys

run, diag, work, config = sys.argv[1:5]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
text = open(config).read()
means = {}
for name, surrogate in (("da", '"p1"'), ("p2", '"none"')):
    cfg = os.path.join(work, name + ".toml")
    out = os.path.join(work, name + ".h5")
    body = text.replace('surrogate = "p1"', "surrogate = " + surrogate).replace('path = "tiny.h5"', f'path = "{out}"')
    open(cfg, "w").write(body)
    subprocess.run([run, "--quiet", "--force", "--iterations", "50000", cfg], check=True, stdout=subprocess.DEVNULL)
    js = json.loads(subprocess.run([diag, "--json", out], check=True, capture_output=True, text=True).stdout)
    means[name] = {v["name"]: (v["mean"], v["mcse_mean"]) for v in js["variables"]}
failed = 0
zmax = 0
for k, (m1, s1) in means["da"].items():
    m2, s2 = means["p2"][k]
    z = (m1 - m2) / math.sqrt(s1 * s1 + s2 * s2)
    zmax = max(zmax, abs(z))
    if abs(z) >= 4:
        print(f"FAIL {k}: mean {m1:.5f} with the surrogate, {m2:.5f} without (MCSE {s1:.2g}, {s2:.2g}; {z:.1f})")
        failed += 1
print(f"{len(means['da'])} posterior means compared, max |z| {zmax:.2f}")
print(f"da_compare: {failed} failed")
sys.exit(1 if failed else 0)
