#!/usr/bin/python3
"""The named analytic truths of [data] truth (src/app/truths.c).

usage: truth_checks.py MCMC_RUN WORKDIR

For each truth, runs mcmc-run (a few iterations) on a stretched box
[-1, 1] x [0, 0.5] (and a 3D box for "layers" and "smooth") with prior
mean 0.5 and std_dev 0.75 (amplitude a = 1.5), then checks fields/truth
  - at every vertex of the mesh file against the definition, computed here
    independently with numpy (to 1e-12), and
  - at a few vertices against values worked out by hand (centres of discs,
    layers and the channel, the sinusoid's crest; to 1e-3, the smooth
    edges' tails).
"""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

import runcheck
from runcheck import expect

run, work = sys.argv[1:3]
M0, A, W = 0.5, 1.5, 0.02



def bump(dist, r, w):
    return 0.5 * (1 - np.tanh((dist - r) / w))


def step(t):
    return 0.5 * (1 + np.tanh(t / W))


def truth(kind, x, lo, hi):
    """The definition of each truth (README "## Model"), without the prior mean."""
    s = (x - lo) / (hi - lo)
    side = (hi - lo).min()
    if kind == "inclusion":
        return A * bump(np.linalg.norm(x - 0.5 * (lo + hi), axis=1), 0.2 * side, W * side)
    if kind == "two_inclusions":
        d1 = np.linalg.norm(x - (lo + 0.3 * (hi - lo)), axis=1)
        d2 = np.linalg.norm(x - (lo + 0.7 * (hi - lo)), axis=1)
        return A * (bump(d1, 0.15 * side, W * side) - bump(d2, 0.15 * side, W * side))
    if kind == "layers":
        return A * (step(1 / 3 - s[:, -1]) - step(s[:, -1] - 2 / 3))
    if kind == "channel":
        return A * bump(np.abs(s[:, 1] - (0.5 + 0.15 * np.sin(2 * np.pi * s[:, 0]))), 0.1, W)
    if kind == "smooth":
        return A * np.prod(np.sin(2 * np.pi * s), axis=1)
    raise ValueError(kind)


BOX2 = "lower = [-1.0, 0.0]\nupper = [1.0, 0.5]\ncells = [20, 20]"
BOX3 = "dim = 3\nlower = [0.0, 0.0, 0.0]\nupper = [1.0, 1.0, 2.0]\ncells = [4, 4, 8]"
# (truth, mesh, [(point, value of the truth there)])
CASES = [
    ("inclusion", BOX2, [((0.0, 0.25), M0 + A), ((1.0, 0.5), M0)]),
    ("two_inclusions", BOX2, [((-0.4, 0.15), M0 + A), ((0.4, 0.35), M0 - A), ((1.0, 0.0), M0)]),
    ("layers", BOX2, [((0.3, 0.075), M0 + A), ((0.3, 0.25), M0), ((-0.7, 0.45), M0 - A)]),
    ("channel", BOX2, [((-1.0, 0.25), M0 + A), ((-0.5, 0.325), M0 + A), ((0.5, 0.175), M0 + A), ((-1.0, 0.0), M0)]),
    ("smooth", BOX2, [((-0.5, 0.125), M0 + A), ((0.5, 0.125), M0 - A), ((0.0, 0.3), M0)]),
    ("layers", BOX3, [((0.5, 0.5, 0.0), M0 + A), ((0.0, 1.0, 1.0), M0), ((0.25, 0.5, 2.0), M0 - A)]),
    ("smooth", BOX3, [((0.25, 0.25, 0.5), M0 + A), ((0.25, 0.75, 0.5), M0 - A)]),
]

shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
for i, (kind, box, points) in enumerate(CASES):
    name = "%s_%dd" % (kind, 3 if "dim = 3" in box else 2)
    cfg = os.path.join(work, name + ".toml")
    with open(cfg, "w") as f:
        f.write("[mesh]\n%s\n[prior]\ncorrelation_length = %g\nstd_dev = 0.75\nmean = %r\n"
                "[observations]\ngrid = 2\n[data]\ntruth = \"%s\"\n[chain]\niterations = 20\nburn_in = 10\n"
                "[output]\npath = \"%s.h5\"\nfield_thin = 5\n" % (box, 0.6 if "dim = 3" in box else 0.3, M0, kind, name))
    p = subprocess.run([run, cfg, "--quiet"], cwd=work, capture_output=True, text=True, timeout=120)
    expect(p.returncode == 0 and not p.stderr, "%s: exit code %d, nothing on stderr %s" % (name, p.returncode, p.stderr[-400:]))
    if p.returncode:
        continue
    with h5py.File(os.path.join(work, name + ".h5"), "r") as f:
        t = f["fields/truth"][...]
    with h5py.File(os.path.join(work, name + "_mesh.h5"), "r") as f:
        x = f["geometry/vertices"][...]
    lo, hi = x.min(axis=0), x.max(axis=0)
    want = M0 + truth(kind, x, lo, hi)
    err = np.abs(t - want).max()
    expect(err <= 1e-12, "%s: truth = prior mean + definition at all %d vertices (max error %.1e)" % (name, len(x), err))
    expect(t.max() - t.min() >= A - 1e-3, "%s: the field varies by a or more (%.3f .. %.3f)" % (name, t.min(), t.max()))
    for pt, val in points:
        k = np.argmin(np.linalg.norm(x - np.array(pt), axis=1))
        ok = np.allclose(x[k], pt, atol=1e-12) and abs(t[k] - val) <= 1e-3
        expect(ok, "%s: at %s the truth is %.6f, expected %.6f" % (name, pt, t[k], val))

runcheck.finish("truths")
