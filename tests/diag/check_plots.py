"""scripts/plot-run on test output files: every PNG is written, is a real
PNG of a sensible size and is shown by index.html; a file without field
summary or memory trace gets the draw plots and says what it left out.

usage: check_plots.py PLOT_RUN"""
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runfile  # noqa: E402

PLOT = sys.argv[1]
ALL = ["trace", "rank", "autocorr", "hist", "pair", "fields", "memory"]
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


def png_size(path):
    with open(path, "rb") as fh:
        head = fh.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def run(args):
    p = subprocess.run([PLOT, *args], capture_output=True, text=True)
    check(p.returncode == 0, f"plot-run {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return p


def check_pngs(out, names):
    index = open(os.path.join(out, "index.html")).read() if os.path.exists(os.path.join(out, "index.html")) else ""
    check(index.startswith("<!DOCTYPE html>"), f"{out}: no index.html")
    for n in names:
        path = os.path.join(out, n + ".png")
        if not os.path.exists(path):
            check(False, f"{path} missing")
            continue
        size = os.path.getsize(path)
        wh = png_size(path)
        # a plot with axes, lines and labels is tens of kB; an empty figure ~ 5 kB
        check(size > 10_000, f"{path}: only {size} bytes")
        check(wh is not None and 400 <= wh[0] <= 4000 and 250 <= wh[1] <= 4000, f"{path}: not a sensible PNG: {wh}")
        check(f'src="{n}.png"' in index, f"index.html does not show {n}.png")


with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "run.h5")
    runfile.write_standard(path, os.path.join(tmp, "run_mesh.h5"), N=600)
    out = os.path.join(tmp, "plots")
    p = run([path, "-o", out])
    check("7 plots" in p.stdout, f"plot-run said: {p.stdout}")
    check_pngs(out, ALL)
    check(sorted(os.listdir(out)) == sorted([n + ".png" for n in ALL] + ["index.html"]), f"extra files: {os.listdir(out)}")

    # default folder next to the file, --burn and --vars
    p = run([path, "--burn", "100", "--vars", "sigma,tail"])
    check_pngs(os.path.join(tmp, "run_plots"), ALL)
    index = open(os.path.join(tmp, "run_plots", "index.html")).read()
    check("<td>sigma</td>" in index and "<td>lp</td>" not in index and "500 draws per chain" in index,
          "index.html of --burn 100 --vars sigma,tail")

    # no fields, no memory rows: the draw plots and a note
    bare = os.path.join(tmp, "bare.h5")
    theta, sigma, stats = runfile.standard_chains(2, 300)
    rf = runfile.RunFile(bare, 2, ["a", "b", "c"], ["sigma"])
    rf.append({"posterior/theta": theta, "posterior/sigma": sigma, **stats})
    rf.close()
    out = os.path.join(tmp, "bare_plots")
    run([bare, "-o", out])
    check_pngs(out, ALL[:5])
    check(not os.path.exists(os.path.join(out, "fields.png")), "fields.png without fields")
    check("no field summary" in open(os.path.join(out, "index.html")).read(), "index.html does not say why no field plot")

    # a field without its mesh file: the other plots, and the reason
    os.rename(os.path.join(tmp, "run_mesh.h5"), os.path.join(tmp, "elsewhere.h5"))
    out = os.path.join(tmp, "nomesh")
    run([path, "-o", out])
    check_pngs(out, [n for n in ALL if n != "fields"])
    check("no mesh file next to the run" in open(os.path.join(out, "index.html")).read(), "index.html: missing mesh")
    run([path, "-o", out, "--mesh", os.path.join(tmp, "elsewhere.h5")])
    check_pngs(out, ALL)

    p = subprocess.run([PLOT, path, "--vars", "nonesuch", "-o", out], capture_output=True, text=True)
    check(p.returncode != 0 and "no quantity named nonesuch" in p.stderr, f"--vars nonesuch: {p.returncode} {p.stderr}")

    # two files of one model: their chains combined (4 + 2, cut to 400
    # draws), the field of the first, a memory trace per file
    os.rename(os.path.join(tmp, "elsewhere.h5"), os.path.join(tmp, "run_mesh.h5"))
    second = os.path.join(tmp, "second.h5")
    runfile.write_standard(second, os.path.join(tmp, "second_mesh.h5"), C=2, N=400)
    out = os.path.join(tmp, "both")
    p = run([path, second, "-o", out])
    check_pngs(out, ALL)
    index = open(os.path.join(out, "index.html")).read() if os.path.exists(os.path.join(out, "index.html")) else ""
    check("6 chains, 400 draws per chain" in index and f"mcmc-diag {path} {second}" in index,
          "index.html of two files: 6 chains of 400 draws, the mcmc-diag line")
    p = subprocess.run([PLOT, path, bare, "-o", out], capture_output=True, text=True)
    check(p.returncode != 0 and f"{bare} has the quantities" in p.stderr, f"files of other models: {p.stderr}")
    p = subprocess.run([PLOT, path, path, "-o", out], capture_output=True, text=True)
    check(p.returncode != 0 and "given twice" in p.stderr, f"the same file twice: {p.stderr}")
print(f"{failures} failures")
sys.exit(1 if failures else 0)
