"""Writes mcmc-run output files for the diag tests with h5py, following
../shared/OUTPUT.md (dimension scales on every axis, NaN fill, growing draw
dimension, creation order, SWMR) and the fields/memory groups of src/io/,
plus a PETSc-like run_mesh.h5. Also makes the test chains (fixed seeds)."""
import h5py
import numpy as np

F64 = "<f8"


def ascii_attr(obj, key, value):
    obj.attrs.create(key, np.bytes_(value))


def provenance(obj):
    for k, v in [("created_at", "2024-01-01T00:00:00Z"), ("creation_library", "mcmc-run"),
                 ("creation_library_version", "0.1.0"), ("creation_library_language", "C"),
                 ("inference_library", "mcmc-run"), ("inference_library_version", "0.1.0")]:
        ascii_attr(obj, k, v)


def index_scale(g, name, n, grow=False, chunk=None):
    ds = g.create_dataset(name, data=np.arange(n, dtype="<i8"),
                          maxshape=(None,) if grow else (n,), chunks=(chunk,) if grow else None)
    ds.make_scale(name)
    return ds


def float_var(g, name, shape, maxshape, chunks, scales):
    ds = g.create_dataset(name, shape=shape, maxshape=maxshape, chunks=chunks, dtype=F64, fillvalue=np.nan)
    ds.attrs["_FillValue"] = np.array([np.nan])
    for axis, s in enumerate(scales):
        ds.dims[axis].attach_scale(s)
    return ds


def ar1(rng, C, N, rho, mu=0.0):
    x = np.empty((C, N))
    x[:, 0] = rng.standard_normal(C)
    e = rng.standard_normal((C, N)) * np.sqrt(1 - rho * rho)
    for i in range(1, N):
        x[:, i] = rho * x[:, i - 1] + e[:, i]
    return x + mu


def rwm_cauchy(rng, C, N):
    x = np.empty((C, N))
    for c in range(C):
        cur = 0.0
        prop = rng.standard_normal(N)
        u = rng.random(N)
        for i in range(N):
            p = cur + prop[i]
            if u[i] < (1 + cur * cur) / (1 + p * p):
                cur = p
            x[c, i] = cur
    return x


def grid_mesh(n):
    """(n+1)^2 vertices of the unit square, n^2 quads, PETSc's numbering."""
    t = np.linspace(0, 1, n + 1)
    X, Y = np.meshgrid(t, t)
    verts = np.column_stack([X.ravel(), Y.ravel()])
    cells = []
    for j in range(n):
        for i in range(n):
            v = j * (n + 1) + i
            cells.append([v, v + 1, v + n + 2, v + n + 1])
    return verts, np.array(cells, dtype="<i4")


def write_mesh(path, verts, cells):
    """The paths PETSc 3.18's DMView writes: /geometry/vertices and
    /viz/topology/cells with cell_dim and cell_corners attributes."""
    with h5py.File(path, "w") as f:
        f.create_dataset("geometry/vertices", data=verts.astype(F64))
        c = f.create_dataset("viz/topology/cells", data=cells)
        c.attrs.create("cell_dim", np.int32(2))
        c.attrs.create("cell_corners", np.int32(cells.shape[1]))


class RunFile:
    """Creates the whole layout with zero draws; append() writes blocks of
    draws; close() ends. swmr=True starts SWMR writing after the layout."""

    def __init__(self, path, C, labels, qoi_names, nv=0, truth=None, thin=10, block=100, swmr=False, y=None):
        self.C, self.P, self.B, self.nv, self.thin = C, len(labels), block, nv, thin
        self.f = f = h5py.File(path, "w", libver="latest" if swmr else "earliest", track_order=True)
        provenance(f)
        ascii_attr(f, "config", "[run]\nname = \"test\"\n")
        self.vars, self.draws = {}, []
        for gname in ("posterior", "sample_stats"):
            g = f.create_group(gname, track_order=True)
            provenance(g)
            g.attrs.create("sample_dims", ["chain", "draw"], dtype=h5py.string_dtype("utf-8"))
            chain = index_scale(g, "chain", C)
            draw = index_scale(g, "draw", 0, grow=True, chunk=block)
            self.draws.append(draw)
            if gname == "posterior":
                param = g.create_dataset("param", data=np.array(labels, dtype=object),
                                         dtype=h5py.string_dtype("utf-8"))
                param.make_scale("param")
                self.vars["posterior/theta"] = float_var(g, "theta", (C, 0, self.P), (C, None, self.P),
                                                         (1, block, self.P), [chain, draw, param])
                for q in qoi_names:
                    self.vars["posterior/" + q] = float_var(g, q, (C, 0), (C, None), (1, block), [chain, draw])
            else:
                for s in ("lp", "acceptance_rate", "step_size"):
                    self.vars["sample_stats/" + s] = float_var(g, s, (C, 0), (C, None), (1, block), [chain, draw])
                for s in ("accepted", "failed"):
                    ds = g.create_dataset(s, shape=(C, 0), maxshape=(C, None), chunks=(1, block), dtype="<i1")
                    ascii_attr(ds, "dtype", "bool")
                    ds.dims[0].attach_scale(chain)
                    ds.dims[1].attach_scale(draw)
                    self.vars["sample_stats/" + s] = ds
        if y is not None:
            g = f.create_group("observed_data", track_order=True)
            obs = index_scale(g, "obs_id", len(y))
            ds = g.create_dataset("y", data=np.asarray(y, dtype=F64))
            ds.dims[0].attach_scale(obs)
        if nv:
            g = f.create_group("posterior_fields", track_order=True)
            ascii_attr(g, "field", "u")
            chain, node = index_scale(g, "chain", C), index_scale(g, "node", nv)
            self.fdraw = index_scale(g, "draw", 0, grow=True, chunk=8)
            self.fu = float_var(g, "u", (C, 0, nv), (C, None, nv), (1, 1, nv), [chain, self.fdraw, node])
            ascii_attr(self.fu, "mesh_file", "run_mesh.h5")
            g = f.create_group("fields", track_order=True)
            chain, node = index_scale(g, "chain", C), index_scale(g, "node", nv)
            self.fmean = float_var(g, "mean", (C, nv), None, None, [chain, node])
            self.fstd = float_var(g, "std", (C, nv), None, None, [chain, node])
            self.fcount = g.create_dataset("count", data=np.zeros(C, dtype="<i8"))
            self.fcount.dims[0].attach_scale(chain)
            if truth is not None:
                t = g.create_dataset("truth", data=np.asarray(truth, dtype=F64))
                t.dims[0].attach_scale(node)
            self.wsum = np.zeros((C, nv))
            self.wsq = np.zeros((C, nv))
        g = f.create_group("memory", track_order=True)
        it = index_scale(g, "iteration", 0, grow=True, chunk=64)
        self.mem = {"iteration": it}
        for k in ("rss", "live_objects", "live_bytes", "collections"):
            ds = g.create_dataset(k, shape=(0,), maxshape=(None,), chunks=(64,), dtype="<i8")
            ds.dims[0].attach_scale(it)
            self.mem[k] = ds
        self.n = 0
        self.nfield = 0
        if swmr:
            f.swmr_mode = True

    def append(self, values, fields=None):
        """values: name -> [C, b(, P)] arrays (NaN rows allowed); fields:
        [C, b, nv] samples of the field for these draws."""
        b = next(iter(values.values())).shape[1]
        n0, n1 = self.n, self.n + b
        for name, ds in self.vars.items():
            ds.resize(n1, axis=1)
            if name in values:
                ds[:, n0:n1, ...] = values[name]
        if fields is not None:
            keep = [i for i in range(b) if (n0 + i) % self.thin == 0]
            k0 = self.nfield
            self.fu.resize(k0 + len(keep), axis=1)
            self.fu[:, k0:k0 + len(keep), :] = fields[:, keep, :]
            self.fdraw.resize((k0 + len(keep),))
            self.fdraw[k0:] = [n0 + i for i in keep]
            self.nfield += len(keep)
            self.wsum += fields.sum(axis=1)
            self.wsq += (fields ** 2).sum(axis=1)
            cnt = n1
            mean = self.wsum / cnt
            self.fmean[...] = mean
            self.fstd[...] = np.sqrt(np.maximum(self.wsq - cnt * mean ** 2, 0) / (cnt - 1))
            self.fcount[...] = cnt
        for d in self.draws:  # the draw coordinate last, as OUTPUT.md says
            d.resize((n1,))
            d[n0:n1] = np.arange(n0, n1)
        self.n = n1
        self.f.flush()

    def memory(self, rows):
        m0 = self.mem["iteration"].shape[0]
        for k, v in rows.items():
            ds = self.mem[k]
            ds.resize((m0 + len(v),))
            ds[m0:] = v
        self.f.flush()

    def close(self):
        self.f.close()


def standard_chains(C=4, N=1000, seed=1):
    """The fixture's chains: AR(1) 0.5, one chain shifted, heavy-tailed."""
    rng = np.random.default_rng(seed)
    theta = np.empty((C, N, 3))
    theta[:, :, 0] = ar1(rng, C, N, 0.5)
    theta[:, :, 1] = ar1(rng, C, N, 0.9)
    theta[:, :, 1][C - 1] += 3.0  # one chain elsewhere: R-hat must warn
    theta[:, :, 2] = rwm_cauchy(rng, C, N)
    sigma = np.exp(0.1 * ar1(rng, C, N, 0.3))
    lp = -0.5 * (theta[:, :, 0] ** 2) + rng.standard_normal((C, N)) * 0.1
    acc = (rng.random((C, N)) < 0.3 + 0.1 * np.arange(C)[:, None]).astype(np.int8)
    stats = {
        "sample_stats/lp": lp,
        "sample_stats/acceptance_rate": np.clip(rng.random((C, N)), 0, 1),
        "sample_stats/step_size": np.full((C, N), 0.25) * (1 + np.arange(C)[:, None]),
        "sample_stats/accepted": acc,
        "sample_stats/failed": (rng.random((C, N)) < 0.01).astype(np.int8),
    }
    return theta, sigma, stats


def write_standard(path, mesh_path, C=4, N=1000, block=100, swmr=False, keep_open=False, short_chain=None):
    """A complete run file (and its mesh); with keep_open, returns the open
    RunFile. short_chain=(c, n): chain c's draws from n on are NaN (not
    yet written)."""
    theta, sigma, stats = standard_chains(C, N)
    verts, cells = grid_mesh(8)
    write_mesh(mesh_path, verts, cells)
    nv = len(verts)
    truth = np.sin(np.pi * verts[:, 0]) * np.cos(np.pi * verts[:, 1])
    rng = np.random.default_rng(5)
    rf = RunFile(path, C, ["log_kappa_0", "log_kappa_1", "tail"], ["sigma"], nv=nv, truth=truth,
                 block=block, swmr=swmr, y=np.linspace(0, 1, 5))
    values = {"posterior/theta": theta, "posterior/sigma": sigma, **stats}
    if short_chain:
        c, n = short_chain
        for k, v in values.items():
            if v.dtype.kind == "f":
                v[c, n:] = np.nan
    for b0 in range(0, N, block):
        blk = {k: v[:, b0:b0 + block] for k, v in values.items()}
        b = blk["posterior/theta"].shape[1]
        flds = truth[None, None, :] + 0.3 * rng.standard_normal((C, b, nv))
        rf.append(blk, fields=flds)
    rows = 50
    it = np.arange(rows, dtype=np.int64) * (N // rows)
    rf.memory({"iteration": it, "rss": 50_000_000 + (it > 0) * 1_000_000 + it * 0,
               "live_objects": np.full(rows, 42, dtype=np.int64), "live_bytes": np.full(rows, 123456, dtype=np.int64),
               "collections": it // 100})
    values["fields_truth"] = truth
    if keep_open:
        return rf, values
    rf.close()
    return None, values
