#!/usr/bin/python3
"""Observation points and data from HDF5 files ([observations] and [data]
kind = "file" with an .h5 file).

usage: data_file_checks.py MCMC_RUN WORKDIR CONFIG

CONFIG is a small synthetic-data configuration (output "NAME.h5"). The
script runs it, then the same problem with the points and the values read
  - from that run's output file (the default datasets
    constant_data/sensor_coords and observed_data/y), and
  - from a file of one's own (datasets "pts" [M, dim] and "vals" [M, 1]),
and checks that each run stored the same points and data bit for bit and,
the posterior being the same, drew the same chain bit for bit.
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


def mcmc(text, name):
    cfg = os.path.join(work, name + ".toml")
    text = re.sub(r'^path\s*=\s*"[^"]+"', 'path = "%s.h5"' % name, text, flags=re.M)
    with open(cfg, "w") as f:
        f.write(text)
    p = subprocess.run([run, cfg, "--quiet"], cwd=work, capture_output=True, text=True, timeout=120)
    expect(p.returncode == 0, "%s: exit code %d %s" % (name, p.returncode, p.stderr[-400:]))
    return os.path.join(work, name + ".h5")


def read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][...] for k in ("constant_data/sensor_coords", "observed_data/y", "posterior/theta")}


first = read(mcmc(base, "first"))
pts, y = first["constant_data/sensor_coords"], first["observed_data/y"]
with h5py.File(os.path.join(work, "own.h5"), "w") as f:
    f["pts"] = pts
    f["vals"] = y.reshape(-1, 1)

for name, obs, data in (
        ("from_run", 'kind = "file"\nfile = "first.h5"', 'kind = "file"\nfile = "first.h5"'),
        ("from_own", 'kind = "file"\nfile = "own.h5"\ndataset = "pts"', 'kind = "file"\nfile = "own.h5"\ndataset = "vals"')):
    text = re.sub(r"^\[observations\]\n(?:[^\[].*\n)*", "[observations]\n%s\n" % obs, base, flags=re.M)
    text += "\n[data]\n%s\n" % data
    got = read(mcmc(text, name))
    expect(np.array_equal(got["constant_data/sensor_coords"], pts), "%s: the points, bit for bit" % name)
    expect(np.array_equal(got["observed_data/y"], y), "%s: the data, bit for bit" % name)
    expect(np.array_equal(got["posterior/theta"], first["posterior/theta"]),
           "%s: the same posterior: the chain's %d draws bit for bit" % (name, first["posterior/theta"].shape[1]))

runcheck.finish("data files")
