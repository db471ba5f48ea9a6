"""mcmc-diag on output files: every number of --json against the numpy
reference of the paper's formulas (reference.py) on the same chains read
back from the file, to 1e-8; --burn and --vars; the table; per-chain
acceptance; the field summary; a file still open for writing (SWMR) with
one chain behind; user errors.

With IO_DRIVER (tests/io's toy sampler streaming through src/io/), also
on files of the project's own writer, finished and while it writes.

usage: check_diag.py MCMC_DIAG [IO_DRIVER]"""
import json
import os
import subprocess
import shutil
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402
import runfile  # noqa: E402

DIAG = sys.argv[1]
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


def close(a, b, rel=1e-8):
    if a is None or b is None:
        return a is None and (b is None or not np.isfinite(b))
    return abs(a - b) <= rel * max(abs(b), 1e-300) or abs(a - b) < 1e-13


def diag(*args, code=0, threads=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads)) if threads else None
    p = subprocess.run([DIAG, *args], capture_output=True, text=True, env=env)
    check(p.returncode == code, f"mcmc-diag {' '.join(args)}: exit {p.returncode}, want {code}; stderr: {p.stderr}")
    # in the sanitizer build an error path that leaks keeps its exit code: look
    check("Sanitizer" not in p.stderr, f"mcmc-diag {' '.join(args)}: sanitizer report:\n{p.stderr}")
    return p


def diag_json(*args):
    p = diag("--json", *args)
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError as e:
        check(False, f"--json output does not parse: {e}\n{p.stdout[:2000]}")
        return None


def draws_from_file(path):
    """name -> [C, N_flushed] chains read back with h5py (what both sides see)."""
    with h5py.File(path, "r", swmr=True) as f:
        theta = f["posterior/theta"][...]
        labels = [s.decode() if isinstance(s, bytes) else s for s in f["posterior/param"][...]]
        out = {"lp": f["sample_stats/lp"][...]}
        for p, lab in enumerate(labels):
            out[lab] = theta[:, :, p]
        out["sigma"] = f["posterior/sigma"][...]
        stats = {k: f["sample_stats/" + k][...] for k in ("accepted", "acceptance_rate", "step_size", "failed")}
    return out, stats


def draws_generic(path):
    """name -> [C, N] for lp and every posterior variable, cut at the
    shortest flushed chain, in the file's creation order."""
    with h5py.File(path, "r", swmr=True) as f:
        out = {"lp": f["sample_stats/lp"][...]}
        post = f["posterior"]
        for k, v in post.items():
            if h5py.h5ds.is_scale(v.id):
                continue
            if v.ndim == 3:
                labels = [s.decode() if isinstance(s, bytes) else s for s in post["param"][...]]
                a = v[...]
                for p, lab in enumerate(labels):
                    out[lab] = a[:, :, p]
            elif v.ndim == 2:
                out[k] = v[...]
        n = min(min(v.shape[1] for v in out.values()), post["draw"].shape[0])
    return {k: v[:, :n] for k, v in out.items()}


def test_io_writer(tmp, driver):
    path = os.path.join(tmp, "io.h5")
    p = subprocess.run([driver, "-draws", "600", "-chains", "3", "-params", "4", "-block", "50", "-thin", "10",
                        "-nv", "12", "-file", path, "-force"], capture_output=True, text=True)
    check(p.returncode == 0, f"io-driver failed: {p.stderr}")
    chains = draws_generic(path)
    js = diag_json(path)
    if js:
        check(js["chains"] == 3 and js["draws_per_chain"] == [600] * 3, f"io file: {js['draws_per_chain']}")
        got = compare(js, chains, 0, 600, "io writer")
        check(set(got) == set(chains), f"io file: variables {list(got)} vs {list(chains)}")
        check(js["fields"] is not None and js["fields"]["nodes"] == 12 and js["memory"] is not None,
              "io file: fields or memory missing")
        # The writer's timing/seconds (the driver stamps draw d with d ms):
        # ESS/s is the bulk ESS over the last used draw's seconds.
        check(close(js["seconds"], 0.599) and all(close(c["seconds"], 0.599) for c in js["chain_stats"]),
              f"io file: seconds {js['seconds']}, per chain {[c['seconds'] for c in js['chain_stats']]}, want 0.599")
        bad = [v["name"] for v in js["variables"] if not close(v["ess_bulk_per_second"], v["ess_bulk"] / 0.599)]
        check(not bad, f"io file: ess_bulk_per_second != ess_bulk / 0.599 for {bad}")
    js = diag_json("--burn", "100", path)
    if js:
        check(close(js["seconds"], 0.599) and js["draws_used"] == 500,
              f"io file, --burn 100: seconds {js['seconds']} (the last used draw's, burn-in included)")
    table = diag(path).stdout.splitlines()
    head = next((ln for ln in table if "ESS_bulk" in ln), "").split()
    row = next((ln for ln in table if ln.startswith("lp ")), "").split()
    ok = "ESS/s" in head and len(row) >= len(head)
    if ok:
        lp = diag_json(path)["variables"][0]
        ok = lp["name"] == "lp" and close(float(row[head.index("ESS/s") + 1]), lp["ess_bulk"] / 0.599, 1e-3)
    check(ok, f"io file table: ESS/s column of lp: {head} {row}")
    check(any("0.599 s, the slowest chain" in ln for ln in table), "io file table: the ESS/s note gives the seconds")
    # while the writer is still writing (SWMR), reading twice sees growth
    live = os.path.join(tmp, "io_live.h5")
    w = subprocess.Popen([driver, "-draws", "3000", "-chains", "2", "-params", "3", "-block", "50", "-nv", "5",
                          "-pause_ms", "80", "-file", live, "-force"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen = []
        for _ in range(200):
            if os.path.exists(live + ".progress") and os.path.getsize(live + ".progress") > 0:
                js = diag_json(live) if os.path.exists(live) else None
                if js and js["draws_used"] >= 4:
                    seen.append(js["draws_in_file"])
                    check(js["swmr"] is True and js["draws_per_chain"][0] == js["draws_per_chain"][1],
                          f"live io file: {js['swmr']} {js['draws_per_chain']}")
                    if len(seen) == 2:
                        break
            time.sleep(0.3)
        check(len(seen) == 2 and 0 < seen[0] < seen[1] <= 3000,
              f"live io file: draws seen {seen}, want two growing snapshots, the first before the end")
    finally:
        w.wait(timeout=120)


def compare(js, chains, burn, n, what):
    ref_names = list(chains)
    got = {v["name"]: v for v in js["variables"]}
    check(list(got) == [k for k in ref_names if k in got], f"{what}: variable order {list(got)}")
    for name, v in got.items():
        x = chains[name][:, burn:burn + n]
        ref = reference.summary(x)
        for key, want in ref.items():
            check(close(v[key], want), f"{what}: {name}.{key} = {v[key]!r}, reference {want!r}")
        warn = ("R_hat" if not ref["rhat"] <= 1.01 else "") + \
               ("," if not ref["rhat"] <= 1.01 and min(ref["ess_bulk"], ref["ess_tail"]) < 100 * x.shape[0] else "") + \
               ("ESS" if min(ref["ess_bulk"], ref["ess_tail"]) < 100 * x.shape[0] else "")
        check(v["warning"] == warn, f"{what}: {name} warning {v['warning']!r}, want {warn!r}")
    return got


def test_finished(tmp):
    path = os.path.join(tmp, "run.h5")
    _, values = runfile.write_standard(path, os.path.join(tmp, "run_mesh.h5"))
    chains, stats = draws_from_file(path)
    js = diag_json(path)
    if js is None:
        return
    check(js["chains"] == 4 and js["draws_per_chain"] == [1000] * 4 and js["draws_used"] == 1000,
          f"finished: chains/draws {js['chains']} {js['draws_per_chain']} {js['draws_used']}")
    got = compare(js, chains, 0, 1000, "finished")
    check(len(got) == 5, f"finished: {len(got)} variables, want lp + 3 parameters + sigma")
    # what the fixture was made to show
    check("R_hat" in got["log_kappa_1"]["warning"], "shifted chain not flagged")
    check(got["tail"]["ess_tail"] < got["tail"]["ess_bulk"], "heavy-tailed chain: tail-ESS not below bulk-ESS")
    check(got["log_kappa_0"]["warning"] == "" and got["sigma"]["warning"] == "", "well-mixed quantities flagged")
    for c, cs in enumerate(js["chain_stats"]):
        check(close(cs["accepted"], stats["accepted"][c].mean()), f"chain {c} accepted {cs['accepted']}")
        check(close(cs["acceptance_rate"], stats["acceptance_rate"][c].mean()), f"chain {c} acceptance_rate")
        check(cs["step_size"] == stats["step_size"][c, -1], f"chain {c} step_size {cs['step_size']}")
        check(cs["failed"] == int(stats["failed"][c].sum()), f"chain {c} failed {cs['failed']}")
    # fields: pooled over chains from the running mean/std
    with h5py.File(path, "r") as f:
        m, s, n, t = f["fields/mean"][...], f["fields/std"][...], f["fields/count"][...], f["fields/truth"][...]
    N = n.sum()
    pm = (n[:, None] * m).sum(0) / N
    pv = (((n[:, None] - 1) * s ** 2 + n[:, None] * (m - pm) ** 2).sum(0)) / (N - 1)
    fj = js["fields"]
    check(fj is not None and fj["nodes"] == len(t) and fj["samples"] == N, f"fields header {fj}")
    if fj:
        check(close(fj["mean_std"], np.sqrt(pv).mean()), f"fields mean_std {fj['mean_std']}")
        check(close(fj["rmse_vs_truth"], np.sqrt(((pm - t) ** 2).mean())), f"fields rmse {fj['rmse_vs_truth']}")
        check(close(fj["coverage_2sd"], (np.abs(pm - t) <= 2 * np.sqrt(pv)).mean()), "fields coverage")
        W, nb = (s ** 2).mean(0), N / len(n)
        r = np.sqrt(((nb - 1) / nb * W + m.var(axis=0, ddof=1)) / W)
        check(close(fj["node_rhat_max"], r.max()), f"fields node R-hat {fj['node_rhat_max']} vs {r.max()}")
    # A file without timing/ (another writer): no seconds, no rate.
    check(js["seconds"] is None and all(v["ess_bulk_per_second"] is None for v in js["variables"])
          and all(c["seconds"] is None for c in js["chain_stats"]), "finished: rates without timing/seconds")
    mj = js["memory"]
    check(mj is not None and mj["rows"] == 50 and mj["live_objects_last"] == 42 and mj["rss_max"] == 51_000_000,
          f"memory {mj}")

    # --burn and --vars: only those, on the later draws
    js = diag_json("--burn", "300", "--vars", "sigma,log_kappa_0", path)
    if js:
        check([v["name"] for v in js["variables"]] == ["log_kappa_0", "sigma"], f"--vars gave {js['variables']}")
        check(js["burn"] == 300 and js["draws_used"] == 700, f"--burn: {js['burn']} {js['draws_used']}")
        compare(js, chains, 300, 700, "burn 300")
        check(close(js["chain_stats"][1]["accepted"], stats["accepted"][1, 300:].mean()), "accepted after burn")
    js = diag_json("--vars=theta", path)
    if js:
        check([v["name"] for v in js["variables"]] == ["log_kappa_0", "log_kappa_1", "tail"],
              f"--vars=theta gave {[v['name'] for v in js['variables']]}")

    # the table
    p = diag(path)
    lines = p.stdout.splitlines()
    head = next((ln for ln in lines if "ESS_bulk" in ln), "")
    for col in ("Mean", "MCSE", "StdDev", "5%", "50%", "95%", "ESS_bulk", "ESS_tail", "R_hat", "IAT", "Warning"):
        check(col in head, f"table header lacks {col}: {head!r}")
    check("ESS/s" not in head and "seconds" not in p.stdout, f"table of a file without timing/ has ESS/s: {head!r}")
    row = next((ln for ln in lines if ln.startswith("log_kappa_1 ")), "")
    check(row.endswith("R_hat,ESS") or row.endswith("R_hat"), f"table row of the shifted parameter: {row!r}")
    check(any(ln.split()[:2] == ["3", "1000"] for ln in lines), "table lacks chain 3's line")
    check("Field 'u'" in p.stdout and "Memory trace: 50 rows" in p.stdout, "table lacks field or memory summary")

    # user errors
    p = diag("--vars", "nonesuch", path, code=1)
    check("has no quantity named 'nonesuch'" in p.stderr and "log_kappa_0" in p.stderr, f"--vars error: {p.stderr}")
    p = diag("--burn", "998", path, code=1)
    check("after --burn 998 that leaves 2" in p.stderr, f"--burn error: {p.stderr}")
    p = diag("--burn", "x", path, code=1)
    with h5py.File(os.path.join(tmp, "empty.h5"), "w") as f:
        f.create_group("posterior")
    p = diag(os.path.join(tmp, "empty.h5"), code=1)
    check("no draws" in p.stderr, f"empty posterior: {p.stderr}")


def test_swmr(tmp):
    """The writer keeps the file open in SWMR mode; chain 2 is 250 draws
    behind (NaN from there on); half the memory trace is written."""
    path = os.path.join(tmp, "live.h5")
    rf, values = runfile.write_standard(path, os.path.join(tmp, "run_mesh.h5"), N=800, swmr=True, keep_open=True,
                                        short_chain=(2, 550))
    try:
        js = diag_json(path)
        if js is None:
            return
        check(js["swmr"] is True, "live file not read as a SWMR reader")
        check(js["draws_per_chain"] == [800, 800, 550, 800] and js["draws_used"] == 550,
              f"live: draws_per_chain {js['draws_per_chain']}, used {js['draws_used']}")
        chains = {"lp": values["sample_stats/lp"], "sigma": values["posterior/sigma"]}
        for p, lab in enumerate(["log_kappa_0", "log_kappa_1", "tail"]):
            chains[lab] = values["posterior/theta"][:, :, p]
        chains = {k: chains[k] for k in ["lp", "log_kappa_0", "log_kappa_1", "tail", "sigma"]}
        compare(js, chains, 0, 550, "live")
        check(close(js["chain_stats"][2]["acceptance_rate"], np.nanmean(values["sample_stats/acceptance_rate"][2, :550])),
              "live: acceptance of the short chain")
        # more draws arrive while the reader comes back
        theta, sigma, stats = runfile.standard_chains(4, 200, seed=9)
        for v in (theta, sigma, stats["sample_stats/lp"], stats["sample_stats/acceptance_rate"]):
            v[2] = np.nan  # chain 2 is still behind
        rf.append({"posterior/theta": theta, "posterior/sigma": sigma, **stats})
        js = diag_json(path)
        if js:
            check(js["draws_in_file"] == 1000 and js["draws_per_chain"] == [1000, 1000, 550, 1000],
                  f"live after append: {js['draws_in_file']} {js['draws_per_chain']}")
    finally:
        rf.close()


def test_several_files(tmp, driver):
    """Two files of the io-driver's toy model (3 chains of 600 draws, 2 of
    500): their chains combined, cut to the shortest (500), give exactly
    the statistics of the five chains in one array."""
    a, b = os.path.join(tmp, "a.h5"), os.path.join(tmp, "b.h5")
    for path, chains, draws, first in ((a, 3, 600, 0), (b, 2, 500, 3)):
        p = subprocess.run([driver, "-draws", str(draws), "-chains", str(chains), "-params", "4", "-block", "50",
                            "-nv", "6", "-first_chain", str(first), "-file", path, "-force"], capture_output=True,
                           text=True)
        check(p.returncode == 0, f"io-driver failed: {p.stderr}")
    ca, cb = draws_generic(a), draws_generic(b)
    both = {k: np.concatenate([ca[k][:, :500], cb[k][:, :500]]) for k in ca}
    js = diag_json(a, b)
    if js:
        check(js["file"] is None and js["chains"] == 5 and js["draws_used"] == 500
              and js["draws_per_chain"] == [600] * 3 + [500] * 2, f"two files: {js['chains']} {js['draws_per_chain']}")
        compare(js, both, 0, 500, "two files")
        check([(f["file"], f["chains"], f["first_chain"]) for f in js["files"]] == [(a, 3, 0), (b, 2, 3)],
              f"two files: files {js['files']}")
        check(js["memory"] is None and all(f["memory"] and f["memory"]["rows"] > 0 for f in js["files"]),
              "two files: the memory trace per file")
        check(close(js["seconds"], 0.499), f"two files: seconds {js['seconds']} (draw 499 of every chain)")
        fj = js["fields"]
        check(fj is not None and fj["count_per_chain"] == [600] * 3 + [500] * 2, f"two files: fields {fj}")
    js = diag_json("--burn", "100", "--vars", "lp", b, a)
    if js:
        check(js["draws_used"] == 400 and [f["first_chain"] for f in js["files"]] == [0, 2],
              f"two files, --burn 100, in the other order: {js['draws_used']}")
        compare(js, {"lp": np.concatenate([cb["lp"][:, :500], ca["lp"][:, :500]])}, 100, 400, "two files, burn")
    # Read a block of parameters of both files at a time: one parameter
    # (--memory 1) or two per block give the default's output.
    want = diag("--json", a, b).stdout
    for size in ("1", str(2 * 8 * 5 * 500)):
        got = diag("--json", "--memory", size, a, b).stdout
        check(want and got == want, f"two files, --memory {size}: output differs from the default's")
    # The same labels in another order: the columns --vars selects differ
    # between the files, which are refused, not read from the wrong column.
    swapped = os.path.join(tmp, "swapped.h5")
    shutil.copyfile(b, swapped)
    with h5py.File(swapped, "r+") as f:
        f["posterior/param"][...] = f["posterior/param"][()][::-1]
    p = diag("--vars", "xi_0", a, swapped, code=1)
    check(f"{a} and {swapped}: --vars selects other columns of /posterior/theta in each (its labels are in another "
          f"order)" in p.stderr, f"labels in another order: {p.stderr}")
    p = diag(a, b)
    check(f"Inference for 2 files, their chains combined:\n  {a}: chains 0..2\n  {b}: chains 3..4\n" in p.stdout
          and f"Memory trace of {a}:" in p.stdout and f"Memory trace of {b}:" in p.stdout,
          f"two files: table header and memory traces:\n{p.stdout[:400]}")
    # Two files of the same chains: every draw tied with another. The
    # quantiles (and the tail ESS's indicators) agree with numpy's.
    twin = os.path.join(tmp, "twin.h5")
    subprocess.run([driver, "-draws", "600", "-chains", "3", "-params", "4", "-block", "50", "-nv", "6", "-file", twin,
                    "-force"], capture_output=True, check=True)
    js = diag_json(a, twin)
    if js:
        compare(js, {k: np.concatenate([ca[k], ca[k]]) for k in ca}, 0, 600, "two files of the same chains")
    # Files that cannot be combined, and the same file twice.
    other = os.path.join(tmp, "other.h5")
    subprocess.run([driver, "-draws", "500", "-chains", "2", "-params", "4", "-block", "50", "-nv", "6", "-hash",
                    "toy-model-2", "-file", other, "-force"], capture_output=True, check=True)
    p = diag(a, other, code=1)
    check(f"{a} and {other} are runs of different models (their model_hash attributes differ)" in p.stderr,
          f"another model: {p.stderr}")
    runfile.write_standard(other, os.path.join(tmp, "other_mesh.h5"))  # no model_hash, other quantities
    p = diag(a, other, code=1)
    check(f"{other} has 5 quantities to report, {a} has 7" in p.stderr, f"other quantities: {p.stderr}")
    p = diag(a, a, code=1)
    check(f"FILE '{a}' given twice" in p.stderr, f"the same file twice: {p.stderr}")
    link = os.path.join(tmp, "link.h5")
    os.link(a, link)
    p = diag(b, a, link, code=1)
    check(f"FILE '{link}' given twice (as '{a}' and '{link}')" in p.stderr, f"a file and a link to it: {p.stderr}")
    p = diag("--burn", "497", a, b, code=1)
    check("the shortest chain of the 2 files has 500 draws; after --burn 497 that leaves 3" in p.stderr,
          f"--burn too long for the shortest file: {p.stderr}")


def test_threads(tmp):
    """The quantities are summarised on OpenMP threads: one thread and
    three give the same output to the byte, for one file and for two
    combined."""
    one, two = os.path.join(tmp, "t1.h5"), os.path.join(tmp, "t2.h5")
    runfile.write_standard(one, os.path.join(tmp, "t1_mesh.h5"), N=1200)
    runfile.write_standard(two, os.path.join(tmp, "t2_mesh.h5"), C=2, N=1000)
    for args in (["--json", one], [one], ["--burn", "50", "--json", one, two], [two, one]):
        a, b = diag(*args, threads=1), diag(*args, threads=3)
        check(a.stdout and a.stdout == b.stdout,
              f"mcmc-diag {' '.join(args)}: 1 and 3 threads differ:\n{a.stdout[:300]}\n---\n{b.stdout[:300]}")


def test_memory(tmp):
    """--memory bounds the draws read at once: one byte reads one parameter
    per pass over the file, with the same output; sizes that are not sizes
    are usage errors."""
    path = os.path.join(tmp, "m.h5")
    runfile.write_standard(path, os.path.join(tmp, "m_mesh.h5"))
    want = diag("--json", path).stdout
    for size in ("1", "40K", "1G"):
        got = diag("--json", "--memory", size, path).stdout
        check(want and got == want, f"--memory {size}: output differs from the default's")
    for bad in ("0", "-5", "12X", "8GB", "", "99999999T"):
        p = diag("--memory", bad, path, code=1)
        check(f"--memory needs a size > 0 in bytes, with K, M, G or T for powers of 1024 (such as 512M or 8G), "
              f"got '{bad}'" in p.stderr, f"--memory {bad!r}: {p.stderr}")


with tempfile.TemporaryDirectory() as tmp:
    test_memory(tmp)
    test_threads(tmp)
    test_finished(tmp)
    test_swmr(tmp)
    if len(sys.argv) > 2:
        test_io_writer(tmp, sys.argv[2])
        test_several_files(tmp, sys.argv[2])
print(f"{failures} failures")
sys.exit(1 if failures else 0)
