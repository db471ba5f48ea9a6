#!/usr/bin/python3
"""The mesh file and XDMF side-car of mcmc-run.

usage: xdmf_checks.py MCMC_RUN WORKDIR PLOT_RUN CONFIG [mcmc-run args...]

Runs mcmc-run, then:
- parses RUN.xmf with xml.etree: every HDF5 data item names a dataset that
  exists (file relative to the XDMF file) with the stated dimensions; every
  hyperslab selects inside its dataset and yields the stated dimensions;
  topology and geometry agree with the mesh file;
- checks the mesh file against the run: vertex i carries field value i, by
  recomputing the QoI m_mean (the lumped-mass average of m) of each stored
  field sample from the mesh file's coordinates and cells;
- opens RUN.xmf with ParaView (pvpython) when installed, else says SKIP: the
  points and, at a stored draw, every nodal array equal the file's;
- runs scripts/plot-run on the file and checks the field plot is drawn
  from the mesh file next to it (2D) or is skipped with a note (3D).
"""
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import h5py
import numpy as np

run, work, plot_run, config, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
failures = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def dims(text):
    return tuple(int(x) for x in text.split())


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
if os.environ.get("MC_SOURCE_DIR"):
    os.symlink(os.path.join(os.environ["MC_SOURCE_DIR"], "meshes"), os.path.join(work, "meshes"))
p = subprocess.run([run, config, "--quiet", *extra], cwd=work, capture_output=True, text=True, timeout=120)
expect(p.returncode == 0, "mcmc-run: exit code %d %s" % (p.returncode, p.stderr[-500:]))
out = os.path.join(work, re.search(r"^output\s+(\S+):", p.stdout, re.M).group(1))
stem = out[:-3] if out.endswith(".h5") else out
xmf, meshfile = stem + ".xmf", stem + "_mesh.h5"
expect(os.path.exists(xmf) and os.path.exists(meshfile), "%s and %s written" % (os.path.basename(xmf), os.path.basename(meshfile)))

# --- XDMF: every reference resolves to a dataset of the stated shape.
root = ET.parse(xmf).getroot()
base = os.path.dirname(xmf)
nrefs, files = 0, {}


def h5(name):
    if name not in files:
        files[name] = h5py.File(os.path.join(base, name), "r", swmr=True)
    return files[name]


def check_item(item):
    """Returns the shape the data item yields."""
    global nrefs
    if item.get("ItemType") == "HyperSlab":
        sel, src = list(item)
        srcshape = check_item(src)
        s = np.array(sel.text.split(), dtype=int).reshape(dims(sel.get("Dimensions")))
        start, stride, count = s
        inside = all(0 <= a and a + (c - 1) * b < n for a, b, c, n in zip(start, stride, count, srcshape))
        want = dims(item.get("Dimensions"))
        if not inside or int(np.prod(count)) != int(np.prod(want)):
            expect(False, "hyperslab %s inside %s of shape %s, yielding %s" % (s.tolist(), src.text, srcshape, want))
        return want
    assert item.get("Format") == "HDF", item.attrib
    fname, dset = item.text.strip().split(":", 1)
    f = h5(fname)
    ok = dset in f and f[dset].shape == dims(item.get("Dimensions"))
    nrefs += 1
    if not ok:
        expect(False, "%s:%s exists with shape %s (file has %s)" % (fname, dset, item.get("Dimensions"),
                                                                    f[dset].shape if dset in f else "nothing"))
    return dims(item.get("Dimensions"))


grids = [g for g in root.iter("Grid") if g.get("GridType") == "Uniform"]
nattr = 0
for g in grids:
    topo, geom = g.find("Topology"), g.find("Geometry")
    t = check_item(topo.find("DataItem"))
    if t[0] != int(topo.get("NumberOfElements")):
        expect(False, "topology of %s: %s cells, NumberOfElements %s" % (g.get("Name"), t[0], topo.get("NumberOfElements")))
    v = check_item(geom.find("DataItem"))
    for a in g.findall("Attribute"):
        shape = check_item(a.find("DataItem"))
        nattr += 1
        if a.get("Center") != "Node" or shape != (v[0],):
            expect(False, "attribute %s: nodal, %d values (got %s)" % (a.get("Name"), v[0], shape))
with h5py.File(out, "r", swmr=True) as f:
    K, C = f["posterior_fields/m"].shape[1], f["posterior_fields/m"].shape[0]
    T = int(f["posterior_fields/draw"][1]) if K > 1 else 1
    samples = f["posterior_fields/m"][...]
    m_mean = f["posterior/m_mean"][...]
    fdraw = f["posterior_fields/draw"][...]
    has_truth = "fields/truth" in f
    # Fields among the constant arrays (prior mean, KL modes, MAP, Laplace
    # modes): one nodal attribute per vector, one per row of a matrix.
    nconst = 0
    for ds in f["constant_data"].values():
        if "mesh_file" in ds.attrs:
            nconst += 1 if ds.ndim == 1 else ds.shape[0]
temporal = [g for g in root.iter("Grid") if g.get("CollectionType") == "Temporal"]
times = [int(g.find("Time").get("Value")) for g in temporal[0].findall("Grid")] if temporal else []
expect(len(grids) == 1 + K and times == list(fdraw), "a summary grid and %d field-sample grids at the stored draws" % K)
expect(nconst >= 1 and nattr == (1 if has_truth else 0) + 2 * C + K * C + nconst,
       "%d nodal attributes: truth, mean and std per chain, every sample per chain, %d constant fields" % (nattr, nconst))
expect(not [x for x in failures], "every one of %d HDF5 references resolves with its shape" % nrefs)
for fh in files.values():
    fh.close()

# --- the mesh file against the run: vertex i carries value i.
with h5py.File(meshfile, "r") as m:
    verts, cells = m["geometry/vertices"][...], m["viz/topology/cells"][...]
    ctype = m["viz/topology/cells"].attrs["cell_type"]
ctype = ctype.decode() if isinstance(ctype, bytes) else ctype
nv, dim = verts.shape
expect(cells.min() == 0 and cells.max() == nv - 1 and len(np.unique(cells)) == nv, "cells use every vertex row once or more")
# lumped mass: each simplex gives |cell| / (dim + 1) to its vertices
if ctype in ("Triangle", "Tetrahedron"):
    e = verts[cells[:, 1:]] - verts[cells[:, [0]]]
    vol = np.abs(np.linalg.det(e)) / (2 if dim == 2 else 6)
    ml = np.zeros(nv)
    np.add.at(ml, cells.ravel(), np.repeat(vol / (dim + 1), dim + 1))
    expect(abs(ml.sum() - 1.0) < 1e-12, "cells tile the unit domain: total measure %.15f" % ml.sum())
    if ctype == "Tetrahedron":
        d = np.linalg.det(e)
        expect(np.all(d > 0) or np.all(d < 0), "tetrahedra consistently oriented")
    got = samples @ ml / ml.sum()             # [C, K]
    want = m_mean[:, fdraw]                  # the sampler's QoI at the same draws
    err = np.max(np.abs(got - want))
    expect(err < 1e-12, "m_mean recomputed on the mesh file equals the run's QoI at every stored sample (max error %.2e)" % err)

# --- ParaView (Debian's python3-paraview, installed by the setup): its XDMF
# reader sees the mesh and, at a stored draw, the same values as h5py.
pv = shutil.which("pvpython")
if pv:
    script = """
import json, sys
from paraview.simple import XDMFReader
from paraview import servermanager
from vtk.numpy_interface import dataset_adapter as dsa
r = XDMFReader(FileNames=[sys.argv[1]])
r.UpdatePipelineInformation()
times = [float(t) for t in r.TimestepValues]
k = min(2, len(times) - 1)
r.UpdatePipeline(times[k])
d = servermanager.Fetch(r)
got = {"times": times, "k": k}
for i in range(d.GetNumberOfBlocks()):
    w = dsa.WrapDataObject(d.GetBlock(i))
    got[d.GetMetaData(i).Get(d.NAME())] = {"points": w.Points.tolist(),
                                           **{a: w.PointData[a].tolist() for a in w.PointData.keys()}}
print("JSON" + json.dumps(got))
"""
    with open(os.path.join(work, "pv_read.py"), "w") as fh:
        fh.write(script)
    q = subprocess.run([pv, os.path.join(work, "pv_read.py"), os.path.basename(xmf)], cwd=base, capture_output=True,
                       text=True, timeout=180)
    line = [x for x in q.stdout.splitlines() if x.startswith("JSON")]
    expect(q.returncode == 0 and line, "pvpython opens %s by a relative path%s" %
           (os.path.basename(xmf), "" if line else ": " + (q.stdout + q.stderr).strip()[-300:]))
    if line:
        got = __import__("json").loads(line[0][4:])
        k = got["k"]
        expect(got["times"] == [float(t) for t in fdraw], "ParaView's time steps are the stored draws")
        with h5py.File(out, "r", swmr=True) as f:
            want = {"m_chain%d" % c: samples[c, k] for c in range(C)}
            for c in range(C):
                want["mean_chain%d" % c] = f["fields/mean"][c]
                want["std_chain%d" % c] = f["fields/std"][c]
            if has_truth:
                want["truth"] = f["fields/truth"][...]
        block = got.get("m", {})
        pts = np.array(block.get("points", []))
        expect(pts.shape == (nv, 3) and np.array_equal(pts[:, :dim], verts),
               "ParaView's points are the mesh file's %d vertices" % nv)
        bad = [a for a, v in want.items() if a not in block or not np.array_equal(np.array(block[a]), v)]
        expect(not bad, "ParaView's %d nodal arrays at draw %d equal the file's bit for bit%s" %
               (len(want), int(fdraw[k]), (" (differ: %s)" % bad) if bad else ""))
else:
    print("SKIP pvpython: Debian's python3-paraview is not installed; the XDMF was checked with xml.etree only")

# --- scripts/plot-run draws the field from the mesh file next to the run.
q = subprocess.run([plot_run, out, "-o", os.path.join(work, "plots")], capture_output=True, text=True, timeout=180)
if dim == 2:
    expect(q.returncode == 0 and os.path.exists(os.path.join(work, "plots", "fields.png")),
           "plot-run draws fields.png from %s: %s" % (os.path.basename(meshfile), (q.stdout + q.stderr).strip()[-300:]))
else:
    expect(q.returncode == 0 and not os.path.exists(os.path.join(work, "plots", "fields.png"))
           and "3D mesh" in q.stderr, "plot-run skips the field plot of a 3D mesh with a note: %s" % q.stderr.strip()[-200:])
print("xdmf: %d failed" % len(failures))
sys.exit(1 if failures else 0)
