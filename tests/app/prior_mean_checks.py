#!/usr/bin/python3
"""[prior] mean_file: the prior mean as a field read from a file.

usage: prior_mean_checks.py MCMC_RUN WORKDIR CONFIG

CONFIG is a small sampling configuration (output "NAME.h5", no
[prior] mean keys). The script runs it once (the "earlier run") and
mcmc-run --map on it, then runs variants of it whose prior mean comes from
  - the earlier run's file (default dataset fields/mean): the prior mean
    must equal the chains' field means weighted by fields/count;
  - the --map file's constant_data/map_m (mean_dataset): equal bit for bit;
  - a text file of the same values printed with 17 digits: equal bit for bit;
and checks each through constant_data/prior_mean of the new output, the
synthetic truth "prior_mean" (fields/truth) and the model hash (the mean
file's contents are part of the [prior] section's hash).
"""
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np

import runcheck
from runcheck import expect

run, work, config = sys.argv[1:4]



shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
base = open(config).read()
out = re.search(r'^path\s*=\s*"([^"]+)"', base, re.M).group(1)
stem = out[:-3]


def mcmc(text, name, *extra):
    cfg = os.path.join(work, name + ".toml")
    text = re.sub(r'^path\s*=\s*"[^"]+"', 'path = "%s.h5"' % name, text, flags=re.M)
    with open(cfg, "w") as f:
        f.write(text)
    p = subprocess.run([run, cfg, "--quiet", *extra], cwd=work, capture_output=True, text=True, timeout=120)
    expect(p.returncode == 0, "%s: exit code %d %s" % (name, p.returncode, p.stderr[-400:]))
    return os.path.join(work, name + ".h5")


def with_prior(keys):
    text = re.sub(r"^\[prior\]\n", "[prior]\n" + keys + "\n", base, flags=re.M)
    assert text != base
    # The truth is the prior mean, so fields/truth shows the field read.
    return text + '\n[data]\ntruth = "prior_mean"\n'


first = mcmc(base, "first")
mcmc(base, "first", "--map")
with h5py.File(first, "r") as f:
    means, counts = f["fields/mean"][...], f["fields/count"][...]
    hash_first = f.attrs["model_hash"]
with h5py.File(os.path.join(work, "first_map.h5"), "r") as f:
    map_m = f["constant_data/map_m"][...]
want = (counts[:, None] * means).sum(axis=0) / counts.sum()
expect(counts.min() > 0 and means.shape[0] >= 2, "the earlier run has %d chains with fields %s" % (means.shape[0], counts))
expect(np.abs(map_m - want).max() > 1e-6, "its posterior mean and MAP point differ (the cases below can tell them apart)")

text_file = os.path.join(work, "m0.txt")
with open(text_file, "w") as f:
    f.write("# the MAP point of the earlier run, one value per vertex\n")
    f.write("".join("%.17g\n" % v for v in map_m))

for name, keys, ref, exact in (
        ("from_run", 'mean_file = "first.h5"', want, False),
        ("from_map", 'mean_file = "first_map.h5"\nmean_dataset = "constant_data/map_m"', map_m, True),
        ("from_text", 'mean_file = "m0.txt"', map_m, True)):
    path = mcmc(with_prior(keys), name)
    with h5py.File(path, "r") as f:
        m0, truth, h = f["constant_data/prior_mean"][...], f["fields/truth"][...], f.attrs["model_hash"]
    err = np.abs(m0 - ref).max()
    if exact:
        expect(np.array_equal(m0, ref), "%s: prior_mean equals the file's field bit for bit" % name)
    else:
        # The average is computed in C in the same order; allow rounding only.
        expect(err <= 1e-14 * max(1.0, np.abs(ref).max()), "%s: prior_mean = count-weighted chain means (%.1e)" % (name, err))
    expect(np.array_equal(truth, m0), "%s: the truth \"prior_mean\" is that field" % name)
    prior_hash = lambda s: re.search(r"prior:(\w+)", s if isinstance(s, str) else s.decode()).group(1)
    expect(prior_hash(h) != prior_hash(hash_first), "%s: the [prior] model hash changed" % name)

# The same configuration with another text file: another [prior] hash.
with open(text_file, "a") as f:
    f.write("# a comment changes the file, not the field\n")
path = mcmc(with_prior('mean_file = "m0.txt"'), "from_text2")
with h5py.File(path, "r") as f, h5py.File(os.path.join(work, "from_text.h5"), "r") as g:
    expect(f.attrs["model_hash"] != g.attrs["model_hash"], "the mean file's contents enter the model hash")

runcheck.finish("prior mean")
