"""Plots of an mcmc-run output file (layout: ../shared/OUTPUT.md, README
"Output file"): trace, rank, autocorrelation, marginal histograms, a pair
plot, the posterior mean and std of the field on the mesh next to the
truth, and the memory trace; PNGs into a folder with an index.html.
Several files of one model (a job array) are plotted as one run whose
chains are theirs, as mcmc-diag combines them; the field is the first
file's, the memory traces are drawn one per file.

Reads files that are still being written (SWMR) like finished ones: draws
not yet written are NaN and are left out, chains are cut to the shortest.
Run it through scripts/plot-run, which finds a Python with matplotlib."""
import argparse
import html
import os
import sys

import h5py
import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.tri import Triangulation  # noqa: E402


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def is_scale(ds):
    return h5py.h5ds.is_scale(ds.id)


def flushed(x):
    """Draws per chain before the trailing NaNs (unwritten draws)."""
    n = []
    for row in x:
        ok = np.flatnonzero(~np.isnan(row))
        n.append(int(ok[-1]) + 1 if ok.size else 0)
    return n


def read_draws(f):
    """name -> [C, N] with every chain cut to its shortest flushed chain."""
    post = f["posterior"]
    out = {}
    if "sample_stats/lp" in f:
        out["lp"] = f["sample_stats/lp"][...]
    three = [k for k, v in post.items() if isinstance(v, h5py.Dataset) and v.ndim == 3 and not is_scale(v)]
    for k, v in post.items():
        if not isinstance(v, h5py.Dataset) or is_scale(v):
            continue
        if v.ndim == 3:
            arr = v[...]
            labels = [text(s) for s in post["param"][...]] if "param" in post and len(post["param"]) == arr.shape[2] \
                else [str(i) for i in range(arr.shape[2])]
            for p, lab in enumerate(labels):
                out[lab if len(three) == 1 else f"{k}[{lab}]"] = arr[:, :, p]
        elif v.ndim == 2:
            out[k] = v[...]
    n_file = min(v.shape[1] for v in out.values())
    if "draw" in post:
        n_file = min(n_file, post["draw"].shape[0])
    out = {k: v[:, :n_file] for k, v in out.items()}
    marker = out.get("lp", next(iter(out.values())))
    n = min(flushed(marker))
    return {k: v[:, :n] for k, v in out.items()}


def combine(parts, paths):
    """The chains of several files' draws, one file after another, every
    chain cut to the shortest of all; the files must have the same
    quantities."""
    for part, path in zip(parts[1:], paths[1:]):
        if list(part) != list(parts[0]):
            sys.exit(f"plot-run: {path} has the quantities {', '.join(part)}, {paths[0]} has {', '.join(parts[0])}: "
                     "plot-run combines files of one model")
    n = min(next(iter(p.values())).shape[1] for p in parts)
    return {k: np.concatenate([p[k][:, :n] for p in parts]) for k in parts[0]}


def select(draws, burn, names, what):
    """draws after burn, only names (if given)."""
    n = next(iter(draws.values())).shape[1]
    if n - burn < 4:
        sys.exit(f"plot-run: the shortest chain has {n} draws; after --burn {burn} fewer than 4 are left")
    if names:
        missing = [k for k in names if k not in draws]
        if missing:
            sys.exit(f"plot-run: no quantity named {', '.join(missing)}; {what} has {', '.join(draws)}")
        draws = {k: draws[k] for k in names}
    return {k: v[:, burn:] for k, v in draws.items()}


def autocorr(x, maxlag):
    n = len(x)
    m = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(x - x.mean(), n=m)
    ac = np.fft.irfft(f * np.conj(f), n=m)[:maxlag + 1]
    return ac / ac[0] if ac[0] > 0 else np.ones(maxlag + 1)


def grid(n):
    cols = min(n, 3)
    return (n + cols - 1) // cols, cols


def plot_trace(draws, path):
    names = list(draws)
    rows = len(names)
    fig, axes = plt.subplots(rows, 1, figsize=(10, 1.9 * rows + 0.6), squeeze=False, sharex=True)
    for ax, k in zip(axes[:, 0], names):
        for c, x in enumerate(draws[k]):
            ax.plot(x, lw=0.5, alpha=0.8, label=f"chain {c}")
        ax.set_ylabel(k)
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=min(len(draws[names[0]]), 8))
    axes[-1, 0].set_xlabel("draw (after burn-in)")
    fig.suptitle("Trace plots")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_rank(draws, path):
    """Rank plots (Vehtari et al. 2021): histograms of the ranks over all
    chains, one per chain; all flat when the chains agree."""
    names = list(draws)
    C = next(iter(draws.values())).shape[0]
    fig, axes = plt.subplots(len(names), C, figsize=(2.2 * C + 1, 1.7 * len(names) + 0.6), squeeze=False, sharey="row")
    for i, k in enumerate(names):
        x = draws[k]
        ranks = np.argsort(np.argsort(x.ravel(), kind="stable"), kind="stable").reshape(x.shape)
        bins = np.linspace(0, x.size, 21)
        for c in range(C):
            ax = axes[i, c]
            ax.hist(ranks[c], bins=bins, color=f"C{c}", alpha=0.8)
            ax.axhline(x.shape[1] / 20, color="k", lw=0.8, ls="--")
            ax.set_yticks([])
            ax.set_xticks([])
            if i == 0:
                ax.set_title(f"chain {c}", fontsize=9)
            if c == 0:
                ax.set_ylabel(k)
    fig.suptitle("Rank plots (dashed: uniform)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_autocorr(draws, path):
    names = list(draws)
    r, c = grid(len(names))
    fig, axes = plt.subplots(r, c, figsize=(4 * c, 3 * r), squeeze=False)
    for ax, k in zip(axes.ravel(), names):
        x = draws[k]
        maxlag = min(200, x.shape[1] // 2)
        for ch, row in enumerate(x):
            ax.plot(autocorr(row, maxlag), lw=0.9, label=f"chain {ch}")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_title(k, fontsize=10)
        ax.set_xlabel("lag")
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Autocorrelation")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_hist(draws, path):
    names = list(draws)
    r, c = grid(len(names))
    fig, axes = plt.subplots(r, c, figsize=(4 * c, 3 * r), squeeze=False)
    for ax, k in zip(axes.ravel(), names):
        x = draws[k]
        lo, hi = np.percentile(x, [0.5, 99.5])
        bins = np.linspace(lo, hi, 41) if hi > lo else 10
        ax.hist(x.ravel(), bins=bins, density=True, color="0.75", label="all chains")
        for ch, row in enumerate(x):
            ax.hist(row, bins=bins, density=True, histtype="step", lw=0.9, label=f"chain {ch}")
        ax.set_title(k, fontsize=10)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Marginal posteriors (central 99%)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_pair(draws, path, k=4):
    names = [n for n in draws if n != "lp"][:k] or list(draws)[:k]
    n = len(names)
    fig, axes = plt.subplots(n, n, figsize=(2.6 * n + 0.5, 2.6 * n + 0.5), squeeze=False)
    S = next(iter(draws.values())).size
    step = max(1, S // 4000)  # thin the scatter: a few thousand points show the shape
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ax = axes[i, j]
            if i == j:
                ax.hist(draws[a].ravel(), bins=40, color="C0")
            elif i > j:
                for ch in range(draws[a].shape[0]):
                    ax.plot(draws[b][ch, ::step], draws[a][ch, ::step], ".", ms=1.5, alpha=0.5, color=f"C{ch}")
            else:
                ax.axis("off")
            if j == 0:
                ax.set_ylabel(a)
            if i == n - 1:
                ax.set_xlabel(b)
    fig.suptitle("Pair plot")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


class MeshNot2D(ValueError):
    pass


def read_mesh(path):
    """Vertices and triangles from the mesh file mcmc-run writes next to the
    run (or PETSc's DMView HDF5, same paths); quads split in two."""
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file or directory", path)
    with h5py.File(path, "r") as m:
        verts = m["geometry/vertices"][...]
        cells = m["viz/topology/cells"][...]
    if verts.ndim != 2 or verts.shape[1] != 2:
        raise MeshNot2D(f"{path}: a 3D mesh; the field plot needs a 2D one (open the run's .xmf in ParaView)")
    if cells.shape[1] == 4:
        cells = np.concatenate([cells[:, [0, 1, 2]], cells[:, [0, 2, 3]]])
    elif cells.shape[1] != 3:
        raise ValueError(f"{path}: cells with {cells.shape[1]} corners, can plot triangles and quads only")
    return verts, cells


def plot_fields(f, run_path, mesh_arg, path):
    g = f["fields"]
    n = g["count"][...].astype(float)
    m, s = g["mean"][...], g["std"][...]
    use = n >= 2
    N = n[use].sum()
    mean = (n[use, None] * m[use]).sum(0) / N
    var = ((n[use, None] - 1) * s[use] ** 2 + n[use, None] * (m[use] - mean) ** 2).sum(0) / (N - 1)
    truth = g["truth"][...] if "truth" in g else None
    mesh_file = mesh_arg
    if not mesh_file:
        name = "run_mesh.h5"
        for obj in (g["mean"], f.get("posterior_fields/u")):
            if obj is not None and "mesh_file" in obj.attrs:
                name = text(obj.attrs["mesh_file"])
                break
        mesh_file = os.path.join(os.path.dirname(os.path.abspath(run_path)), name)
    verts, tris = read_mesh(mesh_file)
    tri = Triangulation(verts[:, 0], verts[:, 1], tris)
    panels = [("posterior mean", mean), ("posterior std", np.sqrt(var))]
    if truth is not None:
        panels = [("truth", truth)] + panels + [("|mean - truth|", np.abs(mean - truth))]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    lim = (min(mean.min(), truth.min()), max(mean.max(), truth.max())) if truth is not None else (mean.min(), mean.max())
    for ax, (title, val) in zip(axes[0], panels):
        same = title in ("truth", "posterior mean")
        pc = ax.tripcolor(tri, val, shading="gouraud", cmap="viridis" if same else "magma",
                          vmin=lim[0] if same else None, vmax=lim[1] if same else None)
        fig.colorbar(pc, ax=ax, shrink=0.85)
        ax.set_title(title)
        ax.set_aspect("equal")
    fig.suptitle(f"Field from {int(N)} samples ({os.path.basename(mesh_file)})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_memory(traces, path):
    """traces: (label, h5py file) with memory rows, one line each."""
    fig, (a, b) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    for k, (label, f) in enumerate(traces):
        g = f["memory"]
        n = min(g[k2].shape[0] for k2 in ("iteration", "rss", "live_objects"))
        it, rss, obj = g["iteration"][:n], g["rss"][:n], g["live_objects"][:n]
        a.plot(it, rss / 2 ** 20, ".-", ms=3, color=f"C{k % 10}", label=label)
        b.plot(it, obj, ".-", ms=3, color=f"C{k % 10}", label=label)
    if len(traces) > 1:
        a.legend(fontsize=8)
    a.set_ylabel("RSS [MiB]")
    b.set_ylabel("live objects")
    b.set_xlabel("iteration")
    fig.suptitle("Memory trace (flat = no growth)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_index(out, paths, pngs, notes, draws, burn):
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v.mean():.4g}</td><td>{v.std(ddof=1):.4g}</td>"
        f"<td>{np.percentile(v, 5):.4g}</td><td>{np.percentile(v, 95):.4g}</td></tr>" for k, v in draws.items())
    C, N = next(iter(draws.values())).shape
    figs = "".join(f'<h2>{html.escape(t)}</h2>\n<img src="{html.escape(p)}" alt="{html.escape(t)}">\n' for t, p in pngs)
    skipped = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    with open(os.path.join(out, "index.html"), "w") as fh:
        fh.write(f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(os.path.basename(paths[0]))}</title>
<style>body{{font-family:sans-serif;margin:2em}} img{{max-width:100%;border:1px solid #ccc}}
table{{border-collapse:collapse}} td,th{{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}}</style>
</head><body>
<h1>{html.escape(" ".join(paths))}</h1>
<p>{C} chains, {N} draws per chain after dropping {burn}. Diagnostics (ESS, R-hat): <code>mcmc-diag {html.escape(" ".join(paths))}</code>.</p>
<table><tr><th>quantity</th><th>mean</th><th>sd</th><th>5%</th><th>95%</th></tr>{rows}</table>
{figs}{"<h2>Not plotted</h2><ul>" + skipped + "</ul>" if notes else ""}
</body></html>
""")


def main():
    ap = argparse.ArgumentParser(prog="plot-run", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", metavar="RUN", help="mcmc-run output file (HDF5); several: their chains combined")
    ap.add_argument("-o", "--out", help="output folder (default: the first RUN without .h5, plus _plots)")
    ap.add_argument("--burn", type=int, default=0, help="drop the first N draws of every chain")
    ap.add_argument("--vars", help="comma-separated quantities to plot (default: lp and the first --max parameters)")
    ap.add_argument("--max", type=int, default=6, help="at most this many quantities by default (6)")
    ap.add_argument("--mesh", help="mesh file (default: the fields' mesh_file attribute, next to RUN)")
    a = ap.parse_args()
    if len(set(a.runs)) < len(a.runs):
        sys.exit("plot-run: a RUN is given twice")
    a.run = a.runs[0]
    out = a.out or os.path.splitext(a.run)[0] + "_plots"
    os.makedirs(out, exist_ok=True)
    pngs, notes = [], []
    files = []
    for path in a.runs:
        try:
            files.append(h5py.File(path, "r", swmr=True))
        except OSError:
            files.append(h5py.File(path, "r"))
    f = files[0]
    try:
        draws = combine([read_draws(g) for g in files], a.runs)
        burn = a.burn
        draws = select(draws, burn, a.vars.split(",") if a.vars else None,
                       "the file" if len(files) == 1 else "each file")
        if not a.vars:
            draws = dict(list(draws.items())[:a.max])
        for name, fn in [("trace", plot_trace), ("rank", plot_rank), ("autocorr", plot_autocorr),
                         ("hist", plot_hist), ("pair", plot_pair)]:
            fn(draws, os.path.join(out, name + ".png"))
            pngs.append(({"trace": "Trace plots", "rank": "Rank plots", "autocorr": "Autocorrelation",
                          "hist": "Marginal histograms", "pair": "Pair plot"}[name], name + ".png"))
        if "fields/mean" in f and "fields/count" in f and f["fields/count"][...].sum() >= 2:
            try:
                plot_fields(f, a.run, a.mesh, os.path.join(out, "fields.png"))
                pngs.append(("Field: truth, posterior mean and std" +
                             (f" ({a.run}'s chains)" if len(files) > 1 else ""), "fields.png"))
            except MeshNot2D as e:
                notes.append(f"field: {e}")
                print(f"plot-run: no field plot: {e}", file=sys.stderr)
            except FileNotFoundError as e:
                if a.mesh:
                    sys.exit(f"plot-run: cannot read the mesh file {a.mesh}: {e}")
                # the field is still worth the other plots: say what is missing
                notes.append(f"field: no mesh file next to the run ({e.filename}); give it with --mesh")
                print(f"plot-run: no field plot: mesh file {e.filename} not found (give it with --mesh)", file=sys.stderr)
        else:
            notes.append("field: the file has no field summary (fields/mean) yet")
        traces = [(os.path.basename(p), g) for p, g in zip(a.runs, files)
                  if "memory/iteration" in g and g["memory/iteration"].shape[0] > 0]
        if traces:
            plot_memory(traces, os.path.join(out, "memory.png"))
            pngs.append(("Memory trace" + (" of each file" if len(files) > 1 else ""), "memory.png"))
        else:
            notes.append("memory: the file has no memory trace rows")
    finally:
        for g in files:
            g.close()
    write_index(out, a.runs, pngs, notes, draws, burn)
    print(f"plot-run: {len(pngs)} plots and index.html in {out}")


if __name__ == "__main__":
    main()
