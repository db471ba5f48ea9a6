#!/usr/bin/python3
"""constant_data/ of mcmc-run's output: the prior mean, the KL eigenpairs,
the MAP point and the Laplace eigenpairs.

usage: constants_checks.py MCMC_RUN CONSTANTS_DUMP WORKDIR CONFIG

CONFIG samples with a kernel that needs the MAP point (nodal or KL
coordinates). Runs mcmc-run CONFIG (a sampling run), mcmc-run --map CONFIG,
and constants-dump CONFIG OUT RUN.h5 (the model's own prior mean, KL
eigenpairs, and the fields m0 + L xi of the run's map_xi and L v_k of its
eigenvectors, as raw float64), then checks:
- prior_mean, kl_*, map_m and laplace_modes equal the model's values bit
  for bit, in both files;
- every axis of every array has a dimension scale named as its dimension,
  and xarray (h5netcdf and netCDF4 engines) reads constant_data with those
  dimensions and the same values (and still reads posterior);
- KL coordinates: the modes are orthonormal in the lumped-mass inner
  product computed from the mesh file, map_m = m0 + sum_k s_k xi_k phi_k
  and laplace_modes the same map of laplace_eigenvectors; the eigenvectors
  are orthonormal, the eigenvalues descending;
- the --map file holds the same arrays as the sampling run (same
  computation), no draws, no progress file, and both XDMF files list every
  field with references that resolve to datasets of the stated shape.
"""
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import h5py
import numpy as np

import runcheck
from runcheck import expect

run, dump, work, config = sys.argv[1:5]



def close(a, b, tol):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    return a.shape == b.shape and float(np.max(np.abs(a - b), initial=0.0)) <= tol * scale


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
p = subprocess.run([run, config, "--quiet"], cwd=work, capture_output=True, text=True, timeout=120)
expect(p.returncode == 0, "mcmc-run: exit code %d %s" % (p.returncode, p.stderr[-500:]))
out = os.path.join(work, re.search(r"^output\s+(\S+):", p.stdout, re.M).group(1))
stem = out[:-3] if out.endswith(".h5") else out
pm = subprocess.run([run, config, "--map"], cwd=work, capture_output=True, text=True, timeout=120)
expect(pm.returncode == 0, "mcmc-run --map: exit code %d %s" % (pm.returncode, pm.stderr[-500:]))
mapfile = stem + "_map.h5"
expect(("output   %s: MAP point and Laplace eigenpairs" % os.path.basename(mapfile)) in pm.stdout,
       "--map names the file it wrote")
pd = subprocess.run([dump, config, os.path.join(work, "model.bin"), out], cwd=work, capture_output=True, text=True,
                    timeout=120)
expect(pd.returncode == 0, "constants-dump: exit code %d %s" % (pd.returncode, pd.stderr[-500:]))
raw = np.fromfile(os.path.join(work, "model.bin"), dtype="<f8")

with h5py.File(os.path.join(work, stem + "_mesh.h5"), "r") as m:
    verts, cells = m["geometry/vertices"][...], m["viz/topology/cells"][...]
nv = verts.shape[0]
# Lumped mass of P1 triangles (affine): a third of each triangle's area per corner.
ml = np.zeros(nv)
for c in cells:
    a, b, d = verts[c[0]], verts[c[1]], verts[c[2]]
    area = 0.5 * abs((b[0] - a[0]) * (d[1] - a[1]) - (d[0] - a[0]) * (b[1] - a[1]))
    ml[c] += area / 3.0
expect(cells.shape[1] == 3 and abs(ml.sum() - 1.0) < 1e-12, "triangle mesh of the unit square (lumped mass sums to 1)")


def is_scale(ds):
    return h5py.h5ds.is_scale(ds.id)


def check_file(path, what):
    """Checks one file; returns its constant arrays."""
    arrays = {}
    with h5py.File(path, "r") as f:
        g = f["constant_data"]
        for name, ds in g.items():
            arrays[name] = ds[...]
            if is_scale(ds):
                continue
            for axis, dim in enumerate(ds.dims):
                scales = [s.name.split("/")[-1] for s in dim.values()]
                if len(scales) != 1 or g[scales[0]].shape != (ds.shape[axis],):
                    expect(False, "%s: %s axis %d has one scale of its length (%s)" % (what, name, axis, scales))
            if ds.ndim and ds.dims[ds.ndim - 1].values() and ds.dims[ds.ndim - 1][0].name.endswith("/node"):
                expect(ds.attrs.get("mesh_file") in (b"%s_mesh.h5" % os.path.basename(stem).encode(),
                                                     "%s_mesh.h5" % os.path.basename(stem)),
                       "%s: %s carries mesh_file" % (what, name))
        dims = {n: tuple(s.name.split("/")[-1] for d in g[n].dims for s in d.values()) if g[n].ndim else ()
                for n in g if not is_scale(g[n])}
        draws = f["posterior/theta"].shape[1]
    kl = "kl_modes" in arrays
    K = arrays["kl_eigenvalues"].shape[0] if kl else 0
    r = arrays["laplace_eigenvalues"].shape[0]
    want = {"prior_mean": ("node",), "map_xi": ("param",), "map_m": ("node",),
            "laplace_eigenvalues": ("laplace_mode",), "laplace_eigenvectors": ("laplace_mode", "param"),
            "laplace_modes": ("laplace_mode", "node"), "sensor_coords": ("obs_id", "coord"), "noise_sigma": ()}
    if kl:
        want.update({"kl_eigenvalues": ("kl_mode",), "kl_modes": ("kl_mode", "node")})
    expect(dims == want, "%s: arrays and dimensions %s" % (what, dims))
    P = arrays["map_xi"].size
    expect(P == (K if kl else nv), "%s: %d parameters (%s)" % (what, P, "KL" if kl else "nodal"))
    # Bit for bit against the model: m0, (KL eigenpairs,) and the fields of
    # the run's map_xi and eigenvectors as constants-dump computes them.
    expect(raw.size == nv + K + K * nv + nv + r * nv, "%s: the model dump has %d values" % (what, raw.size))
    o = 0
    m0, o = raw[o:o + nv], o + nv
    ev, o = raw[o:o + K], o + K
    modes, o = raw[o:o + K * nv].reshape(K, nv), o + K * nv
    map_m, o = raw[o:o + nv], o + nv
    lap_modes = raw[o:].reshape(-1, nv)
    expect(np.array_equal(arrays["prior_mean"], m0), "%s: prior_mean equals the model's m0 exactly" % what)
    expect(np.array_equal(arrays["map_m"], map_m), "%s: map_m equals the model's m0 + L xi_MAP exactly" % what)
    expect(np.array_equal(arrays["laplace_modes"], lap_modes), "%s: laplace_modes equal the model's L v_k exactly" % what)
    if kl:
        expect(np.array_equal(arrays["kl_eigenvalues"], ev), "%s: kl_eigenvalues equal the model's s_k^2 exactly" % what)
        expect(np.array_equal(arrays["kl_modes"], modes), "%s: kl_modes equal the model's modes exactly" % what)
        phi, s2 = arrays["kl_modes"], arrays["kl_eigenvalues"]
        gram = (phi * ml) @ phi.T
        expect(close(gram, np.eye(K), 1e-10), "%s: KL modes Ml-orthonormal (max dev %.2e)" % (what, np.abs(gram - np.eye(K)).max()))
        expect(np.all(s2 > 0) and np.all(np.diff(s2) <= 0), "%s: KL eigenvalues positive, descending" % what)
        # The MAP and the Laplace eigenvectors as fields: m = m0 + Phi^T (s * xi).
        s = np.sqrt(s2)
        expect(close(arrays["map_m"], arrays["prior_mean"] + (s * arrays["map_xi"]) @ phi, 1e-12),
               "%s: map_m = m0 + sum s_k xi_k phi_k" % what)
        expect(close((arrays["laplace_eigenvectors"] * s) @ phi, arrays["laplace_modes"], 1e-12),
               "%s: laplace_modes = L v_k" % what)
    V, lam = arrays["laplace_eigenvectors"], arrays["laplace_eigenvalues"]
    expect(close(V @ V.T, np.eye(V.shape[0]), 1e-10), "%s: Laplace eigenvectors orthonormal" % what)
    expect(np.all(np.diff(lam) <= 0) and lam[-1] > 0, "%s: Laplace eigenvalues %s descending, positive" % (what, lam))
    return arrays, draws


run_arrays, run_draws = check_file(out, "run")
map_arrays, map_draws = check_file(mapfile, "--map")
expect(run_draws > 0 and map_draws == 0, "draws: run %d, --map file %d" % (run_draws, map_draws))
expect(not os.path.exists(mapfile + ".progress"), "--map leaves no progress file")
expect(sorted(run_arrays) == sorted(map_arrays) and all(np.array_equal(run_arrays[k], map_arrays[k]) for k in run_arrays),
       "--map file and run file hold the same constant arrays, bit for bit")
rank = int(re.search(r"^rank\s*=\s*(\d+)", open(config).read(), re.M).group(1))
expect(run_arrays["laplace_eigenvalues"].shape == (rank,), "[laplace] rank = %d eigenpairs" % rank)

# xarray reads the group with its dimensions (and the rest of the file still).
try:
    import xarray as xr
except ImportError:
    print("SKIP (xarray part): python3-xarray is not installed")
else:
    for engine in ("h5netcdf", "netcdf4"):
        try:
            with xr.open_dataset(out, group="constant_data", engine=engine) as ds:
                expect(ds["laplace_modes"].dims == ("laplace_mode", "node") and ds["laplace_eigenvectors"].dims ==
                       ("laplace_mode", "param"), "xarray %s: dims of laplace_modes and laplace_eigenvectors" % engine)
                expect(all(np.array_equal(ds[k].values, run_arrays[k]) for k in ("map_m", "laplace_modes", "prior_mean")),
                       "xarray %s: values" % engine)
                expect(list(ds["param"].values) == ["xi_%d" % i for i in range(run_arrays["map_xi"].size)],
                       "xarray %s: param labels as in posterior" % engine)
            with xr.open_dataset(out, group="posterior", engine=engine) as ds:
                expect(ds["theta"].shape[1] == run_draws, "xarray %s: posterior still read" % engine)
        except ValueError as e:  # engine not installed
            print("SKIP (xarray %s): %s" % (engine, e))

# XDMF: each field of constant_data is listed, every reference resolves.
for xmf, h5name, arrays in ((stem + ".xmf", out, run_arrays), (stem + "_map.xmf", mapfile, map_arrays)):
    root = ET.parse(xmf).getroot()
    names = []
    for a in root.iter("Attribute"):
        names.append(a.get("Name"))
        items = [i for i in a.iter("DataItem") if i.get("Format") == "HDF"]
        for item in items:
            fname, dset = item.text.strip().split(":", 1)
            with h5py.File(os.path.join(work, fname), "r", swmr=True) as f:
                shape = tuple(int(x) for x in item.get("Dimensions").split())
                if dset not in f or f[dset].shape != shape:
                    expect(False, "%s: %s:%s of shape %s" % (xmf, fname, dset, shape))
    K = arrays["kl_modes"].shape[0] if "kl_modes" in arrays else 0
    r = arrays["laplace_modes"].shape[0]
    fields = ["prior_mean"] + ["kl_modes_%d" % k for k in range(K)] + ["map_m"] + ["laplace_modes_%d" % k for k in range(r)]
    expect(all(n in names for n in fields), "%s lists %s" % (os.path.basename(xmf), ", ".join(fields)))
    if xmf.endswith("_map.xmf"):
        expect(names == ["truth"] + fields, "%s: truth and the constant fields only (no empty chain means): %s"
               % (os.path.basename(xmf), names))

runcheck.finish("constants")
