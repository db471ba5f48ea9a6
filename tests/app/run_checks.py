#!/usr/bin/python3
"""End-to-end checks of mcmc-run: runs it on a configuration in a fresh
directory and checks exit code, summary, stderr and the HDF5 output.

usage: run_checks.py MCMC_RUN WORKDIR CHECK CONFIG [ARGS...]
CHECK: default   the default problem: posterior mean error below a bound and
                 below the prior mean's, file layout, flat memory trace
       example   exit 0 and the expected number of draws
       failures  failed proposals counted, exit 0
       exists    a second run refuses to replace the file: exit 2
       quiet     progress on stderr without --quiet (plain lines: no carriage
                 return, no terminal escapes), nothing with it
       rwmcov    [sampler] proposal_covariance_file with kernel rwm in the 20 KL
                 coordinates of CONFIG (poisson2d_kl_am.toml), adaptation
                 off: covariance 0.25 I with step 0.2 gives the chain of the
                 isotropic walk with step 0.1 (to rounding); a file with the
                 wrong row count, an unsymmetric one, an indefinite one, and
                 the key with kernel pcn: exit 1 with one line naming the
                 file (and line) or the key
       overrides --seed S and --output PATH: the same draws as the
                 configuration edited to that seed and path; the default seed
                 gives others; the stored configuration records the command
                 line; --print-config shows them; --map follows --output
       startprior start = "prior" with 16 chains and a pcn step of 1e-9
                 (the first draw is the start to 1e-8): the starts are
                 N(0, 1) (mean and variance within 4 standard errors, the
                 Kolmogorov-Smirnov distance below its 0.1% critical
                 value), every chain its own, the same for the same seed,
                 others for another seed
       tty       with stderr on a terminal (a pseudo-terminal) the progress
                 line is rewritten in place: several reports, each starting
                 with a carriage return and ending with erase-to-end-of-line,
                 no newline until the last one
"""
import os
import pty
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np

import runcheck
from runcheck import expect

run, work, check, config, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]



def mcmc(*args):
    p = subprocess.run([run, config, *args], cwd=work, capture_output=True, text=True, timeout=240)
    return p.returncode, p.stdout, p.stderr


def summary_value(out, name):
    m = re.search(r"^%s\s+(-?[0-9.]+)" % re.escape(name), out, re.M)
    return float(m.group(1)) if m else None


def output_path(out):
    return os.path.join(work, re.search(r"^output\s+(\S+)$", out, re.M).group(1))


def check_file(path, chains, draws, params, nqoi=("m_mean", "misfit"), memory=True):
    with h5py.File(path, "r", swmr=True) as f:
        expect(f["posterior/theta"].shape == (chains, draws, params),
               "posterior/theta is %s, expected %s" % (f["posterior/theta"].shape, (chains, draws, params)))
        for name in ("lp", "acceptance_rate", "step_size", "accepted", "failed"):
            expect(f["sample_stats/" + name].shape == (chains, draws), "sample_stats/%s has %s draws" % (name, f["sample_stats/" + name].shape))
        for q in nqoi:
            expect(f["posterior/" + q].shape == (chains, draws), "posterior/%s has shape (chains, draws)" % q)
        lp = f["sample_stats/lp"][:]
        expect(np.all(np.isfinite(lp)), "every lp is finite")
        objs, byts = f["memory/live_objects"][:], f["memory/live_bytes"][:]
        if not memory:
            return lp, f["sample_stats/failed"][:]
        expect(len(objs) >= 2, "memory trace has %d rows" % len(objs))
        expect(np.all(objs == objs[0]) and np.all(byts == byts[0]),
               "memory trace flat: live objects %s, live bytes %s" % (sorted(set(objs)), sorted(set(byts))))
        return lp, f["sample_stats/failed"][:]


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
# Mesh files in the shipped configurations are relative to the repository root.
if os.environ.get("MC_SOURCE_DIR"):
    os.symlink(os.path.join(os.environ["MC_SOURCE_DIR"], "meshes"), os.path.join(work, "meshes"))
if check == "default":
    code, out, err = mcmc("--quiet", *extra)
    print(out, err)
    expect(code == 0, "exit code %d" % code)
    post, prior = summary_value(out, "posterior mean error"), summary_value(out, "prior mean error")
    # h-MALA from the MAP point: the full 20000 iterations give 0.317, 4000
    # give 0.315 (fixed seeds); the prior mean 1, pCN's 20000 iterations 0.456
    bound = 0.4
    expect(post is not None and post < bound, "posterior mean error %s < %g" % (post, bound))
    expect(post is not None and prior is not None and post < prior, "posterior mean error %s < prior mean error %s" % (post, prior))
    # h-MALA needs each proposal's own factorisation (its adjoint gradient),
    # exactly one per iteration (an accepted proposal is not solved again);
    # mcchol allocates nothing.
    m = re.search(r"project (\S+), PETSc (\S+)\n\s+forward factorisations per iteration after it: (\S+)\n", out)
    expect(m is not None and m.group(1) == "0" and m.group(2) == "0" and float(m.group(3)) == 1,
           "allocation calls per iteration after the baseline: project 0, PETSc 0, factorisations per iteration "
           "1: %s" % (m.groups() if m else None,))
    expect(re.search(r"live objects \+0, live bytes \+0", out) is not None, "memory checks flat")
    runcheck.check_rate(out, output_path(out))
    check_file(output_path(out), 1, 3600, 1089)
    with h5py.File(output_path(out), "r", swmr=True) as f:
        expect(f["fields/truth"].shape == (1089,), "fields/truth stored")
        expect(f["posterior_fields/m"].shape == (1, 36, 1089), "posterior_fields/m every 100th draw: %s" % (f["posterior_fields/m"].shape,))
        expect(f["observed_data/y"].shape == (64,), "64 observed values")
elif check == "example":
    chains, draws = int(extra[0]), int(extra[1])
    code, out, err = mcmc("--quiet", *extra[2:])
    print(out, err)
    expect(code == 0, "exit code %d" % code)
    with h5py.File(output_path(out), "r", swmr=True) as f:
        params = f["posterior/theta"].shape[2]
        nobs = f["observed_data/y"].shape[0]
    check_file(output_path(out), chains, draws, params, memory=False)
    if os.path.basename(config) == "lshape_wells.toml":
        # Its 10 x 10 grid over the bounding box: the 25 cell centres in the
        # missing quarter (x, y > 0.5) dropped, every other one kept.
        expect(nobs == 75, "lshape: %d observation points inside the L, expected 75" % nobs)
elif check == "failures":
    code, out, err = mcmc("--quiet")
    print(out, err)
    expect(code == 0, "exit code %d" % code)
    m = re.search(r"^0\s+[0-9.]+\s+([0-9]+)\s", out, re.M)
    nfail = int(m.group(1)) if m else 0
    expect(nfail > 0, "failed proposals counted in the summary: %d" % nfail)
    lp, failed = check_file(output_path(out), 1, 300, 81)
    expect(0 < failed.sum() <= nfail, "sample_stats/failed marks %d draws (summary: %d in the whole run)" % (failed.sum(), nfail))
elif check == "exists":
    code, out, err = mcmc("--quiet")
    expect(code == 0, "first run: exit code %d" % code)
    path = output_path(out)
    before = os.path.getmtime(path)
    code, out, err = mcmc("--quiet")
    print(err)
    expect(code == 2, "second run: exit code %d, expected 2" % code)
    expect(re.search(r"output file small\.h5 exists; refusing to overwrite it", err) is not None, "message names the file")
    expect(os.path.getmtime(path) == before, "the file is untouched")
    code, out, err = mcmc("--quiet", "--force")
    expect(code == 0, "with --force: exit code %d" % code)
elif check == "quiet":
    code, out, err = mcmc()
    expect(code == 0, "exit code %d" % code)
    expect(re.search(r"3000/3000 100% sampling\s+[0-9]+ it/s\s+ETA\s+0:00\s+acc 0\.[0-9]+\s+failed 0\s+RSS [0-9.]+ MB\n", err) is not None,
           "progress line on stderr: %r" % err[-200:])
    expect("\r" not in err and "\033" not in err, "no carriage return or escape on a non-terminal: %r" % err[-200:])
    code, out, err = mcmc("--quiet", "--force")
    expect(code == 0 and err == "", "--quiet: exit code %d, stderr %r" % (code, err))
elif check == "rwmcov":
    eye = [[0.25 if i == j else 0.0 for j in range(20)] for i in range(20)]
    def write_matrix(name, rows):
        with open(os.path.join(work, name), "w") as f:
            f.write("".join(" ".join(repr(x) for x in r) + "\n" for r in rows))
    write_matrix("cov.txt", eye)
    write_matrix("cov19.txt", eye[:19])
    unsym = [list(r) for r in eye]
    unsym[0][1] = 0.01
    write_matrix("cov_unsym.txt", unsym)
    neg = [list(r) for r in eye]
    neg[3][3] = -1.0
    write_matrix("cov_neg.txt", neg)
    def variant(name, **kw):
        path = os.path.join(work, name + ".toml")
        kw.setdefault("sampler__kernel", '"rwm"')
        with open(path, "w") as f:
            f.write(runcheck.config_text(config, sampler__adapt="false", output__path='"%s.h5"' % name, **kw))
        p = subprocess.run([run, path, "--iterations", "600", "--quiet"], cwd=work, capture_output=True, text=True,
                           timeout=240)
        return p.returncode, p.stdout, p.stderr
    code_a, out, err = variant("cov", sampler__step_size="0.2", sampler__proposal_covariance_file='"cov.txt"')
    expect(code_a == 0, "with the covariance file: exit code %d %s" % (code_a, err[-300:]))
    code_b, out, err = variant("iso", sampler__step_size="0.1")
    expect(code_b == 0, "isotropic: exit code %d %s" % (code_b, err[-300:]))
    if code_a == 0 and code_b == 0:
        with h5py.File(os.path.join(work, "cov.h5"), "r") as fa, h5py.File(os.path.join(work, "iso.h5"), "r") as fb:
            a, b = fa["posterior/theta"][:], fb["posterior/theta"][:]
            acc_a, acc_b = fa["sample_stats/accepted"][:].sum(), fb["sample_stats/accepted"][:].sum()
        expect(a.shape == (1, 400, 20) and a.shape == b.shape, "400 draws of 20 coordinates: %s, %s" % (a.shape, b.shape))
        err_ab = float(np.abs(a - b).max() / np.abs(b).max())
        expect(err_ab < 1e-12 and acc_a == acc_b and acc_a > 0,
               "covariance 0.25 I, step 0.2 = isotropic, step 0.1: relative difference %.2g, accepted %d and %d"
               % (err_ab, acc_a, acc_b))
    for name, kw, pattern in [
            ("rows", dict(sampler__proposal_covariance_file='"cov19.txt"'),
             r"^cov19\.txt: the proposal covariance has 19 rows, but the sampler has 20 coordinates$"),
            ("unsym", dict(sampler__proposal_covariance_file='"cov_unsym.txt"'),
             r"^cov_unsym\.txt:2: the proposal covariance is not symmetric: entry 1 is 0, row 1 has 0\.01$"),
            ("neg", dict(sampler__proposal_covariance_file='"cov_neg.txt"'),
             r"^cov_neg\.txt: the proposal covariance is not positive definite$"),
            ("pcn", dict(sampler__kernel='"pcn"', sampler__proposal_covariance_file='"cov.txt"'),
             r"proposal_covariance_file is only used with kernel = \"rwm\", but kernel = \"pcn\"")]:
        code, out, err = variant(name, **kw)
        expect(code == 1 and re.search(pattern, err, re.M) is not None and "PETSC ERROR" not in err,
               "%s: exit code %d (expected 1), stderr %r" % (name, code, err[-300:]))
elif check == "overrides":
    code, out, err = mcmc("--quiet", "--seed", "7", "--output", "seeded.h5")
    expect(code == 0 and output_path(out) == os.path.join(work, "seeded.h5"),
           "--seed 7 --output seeded.h5: exit %d, writes %s" % (code, output_path(out) if code == 0 else err[-300:]))
    expect(not os.path.exists(os.path.join(work, "small.h5")), "the configuration's path is not written")
    edited = runcheck.write_config(work, config, "edited.toml", chain__seed="7", output__path='"edited.h5"')
    p = subprocess.run([run, edited, "--quiet"], cwd=work, capture_output=True, text=True, timeout=240)
    expect(p.returncode == 0, "the configuration edited to seed 7: exit %d" % p.returncode)
    runcheck.compare(os.path.join(work, "edited.h5"), os.path.join(work, "seeded.h5"), "--seed 7 --output",
                     "the configuration edited to seed = 7")
    code, out, err = mcmc("--quiet", "--output", "default.h5")
    with h5py.File(os.path.join(work, "default.h5"), "r") as f, h5py.File(os.path.join(work, "seeded.h5"), "r") as g:
        expect(f["sample_stats/lp"].shape == g["sample_stats/lp"].shape and
               not np.array_equal(f["sample_stats/lp"][()], g["sample_stats/lp"][()]),
               "the configuration's seed (12345) gives other draws than --seed 7")
        stored = g.attrs["config"]
        stored = stored.decode() if isinstance(stored, bytes) else stored
    expect(stored == open(config).read() + "# mcmc-run command line: --seed 7 --output seeded.h5\n",
           "the stored configuration is the file's text and the command line: %r" % stored[-120:])
    p = subprocess.run([run, "--print-config", config, "--seed", "7", "--output", "x.h5", "--iterations", "600"],
                       cwd=work, capture_output=True, text=True, timeout=60)
    expect(p.returncode == 0 and re.search(r"^seed = 7$", p.stdout, re.M) and
           re.search(r'^path = "x\.h5"$', p.stdout, re.M) and re.search(r"^iterations = 600$", p.stdout, re.M) and
           re.search(r"^burn_in = 100$", p.stdout, re.M),
           "--print-config shows --seed, --output and --iterations (burn-in scaled)")
    code, out, err = mcmc("--map", "--output", "m.h5")
    expect(code == 0 and os.path.exists(os.path.join(work, "m_map.h5")), "--map --output m.h5 writes m_map.h5: exit %d" % code)
elif check == "startprior":
    from statistics import NormalDist
    kw = dict(sampler__kernel='"pcn"', sampler__start='"prior"', sampler__step_size="1e-9", sampler__adapt="false",
              chain__chains="16", chain__iterations="20", chain__burn_in="0", chain__thin="1", memory__warmup="5",
              memory__check_every="5", output__flush_every="10")
    starts = {}
    for seed in ("12345", "7", "12345"):
        name = "s%s_%d" % (seed, len(starts))
        cfg = runcheck.write_config(work, config, name + ".toml", output__path='"%s.h5"' % name, chain__seed=seed, **kw)
        p = subprocess.run([run, cfg, "--quiet"], cwd=work, capture_output=True, text=True, timeout=240)
        expect(p.returncode == 0, "start = \"prior\", seed %s: exit %d %s" % (seed, p.returncode, p.stderr[-300:]))
        with h5py.File(os.path.join(work, name + ".h5"), "r") as f:
            starts[name] = f["posterior/theta"][:, 0, :]
    a, b, c = starts.values()
    x = np.sort(a.ravel())
    n = x.size
    ks = max(max(abs((i + 1) / n - NormalDist().cdf(v)), abs(i / n - NormalDist().cdf(v))) for i, v in enumerate(x))
    expect(abs(x.mean()) < 4 / np.sqrt(n) and abs(x.var() - 1) < 4 * np.sqrt(2 / n) and ks < 1.95 / np.sqrt(n),
           "the %d starting values are N(0, 1): mean %.3f, variance %.3f, KS distance %.3f" % (n, x.mean(), x.var(), ks))
    expect(len({row.tobytes() for row in a}) == a.shape[0], "every chain starts at its own draw")
    expect(np.array_equal(a, c), "the same seed gives the same starts")
    expect(not np.any(a == b), "seed 7 gives other starts than 12345")
elif check == "tty":
    # Long enough (150000 iterations, ~2 s here, more under the sanitizers) for
    # a few of the reports made every 0.25 s on a terminal; thinned so the
    # file stays small.
    with open(config) as f:
        text = f.read().replace("thin = 2", "thin = 100")
    cfg = os.path.join(work, "tty.toml")
    with open(cfg, "w") as f:
        f.write(text)
    master, slave = pty.openpty()
    p = subprocess.Popen([run, cfg, "--iterations", "150000"], cwd=work, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    raw = b""
    while True:  # read while it runs: a full terminal buffer would block it
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        raw += chunk
    out = p.stdout.read()
    code = p.wait(timeout=240)
    os.close(master)
    err = raw.decode()
    expect(code == 0, "exit code %d" % code)
    report = r"\r *[0-9]+/150000 +[0-9]+% (?:burn-in|sampling) +[0-9]+ it/s  ETA +[0-9:]+  acc 0\.[0-9]+  failed 0  RSS [0-9.]+ MB\033\[K"
    reports = re.findall(report, err)
    expect(len(reports) >= 2, "%d progress reports in place on a terminal: %r" % (len(reports), err[-300:]))
    expect(re.fullmatch(r"(?:%s)+\r?\n" % report, err) is not None,
           "only in-place reports, one newline at the very end: %r" % err[-300:])
    expect(reports and "150000/150000 100% sampling" in reports[-1], "the last report is the end: %r" % reports[-1:])
    print("tty: %d reports in place" % len(reports))
else:
    sys.exit("unknown check " + check)
runcheck.finish(check)
