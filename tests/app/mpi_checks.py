#!/usr/bin/python3
"""mcmc-run on several MPI ranks (one output file written by rank 0), on a
cheap configuration (tests/app/configs/tiny.toml).

usage: mpi_checks.py MCMC_RUN MPIEXEC WORKDIR CONFIG CHECK [ARGS...]
CHECK: layout N C   C chains on N ranks: exit 0, the file has C chains and
                    is equal bit for bit to a one-rank run of C chains; the
                    summary has the cross-chain R-hat; --resume of the
                    finished file has nothing to do
       sigterm      2 chains on 2 ranks, SIGTERM to every rank (as Slurm
                    sends it): every rank exits 4; --resume on 2 ranks,
                    SIGTERM again, --resume on 1 rank: equal to the
                    uninterrupted one-rank run
       sigkill R    2 chains on 2 ranks, rank R SIGKILLed: the file (h5py
                    swmr=True) holds every draw of the last flush of both
                    chains, equal to the uninterrupted run's; --resume on 2
                    ranks completes it, equal to that run
       extend0      chains = 0 (one per rank) on 2 ranks, then --resume
                    --iterations on 1 rank: the file's 2 chains continue,
                    equal to a one-rank run of 2 chains of that length
       refuse       more ranks than chains, ranks_per_chain = 2 not dividing
                    3 ranks, ranks_per_chain = 2 with kernel "am": exit 1,
                    one line naming file:line and the key
       rpc KERNEL   1 chain on 2 ranks (ranks_per_chain = 2): the file has
                    the one-rank file's datasets and shapes, the same
                    acceptance sequence and draws equal to 1e-8 (relative to
                    each dataset's largest value); the mesh file is equal
       rpc KERNEL points
                    the same with observation points from the configuration
                    (one on the boundary): the points are located on the
                    chain's distributed mesh; then the same points and one
                    outside from a file: exit 1, one line naming the point
       rpc4         2 chains x 2 ranks on 4 ranks, started from draws of the
                    prior: each chain equal to its one-rank run as above
       rpcsigterm   1 chain x 2 ranks, SIGTERM to every rank: every rank
                    exits 4; --resume with R = 2, SIGTERM again, --resume
                    with R = 1 to the end: equal to the uninterrupted
                    one-rank run as above; then a run checkpointed on one
                    rank finished with R = 2, equal as well
"Equal" means every dataset outside memory/ (sums over the ranks' RSS) and
checkpoint/ (the records' sequence differs by construction); bit for bit
unless "to tolerance" (R > 1: a distributed direct solver against the serial
one).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

import runcheck
from runcheck import datasets, expect, progress, same

run, mpiexec, work, config, check, extra = (os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3], os.path.abspath(sys.argv[4]),
                                            sys.argv[5], sys.argv[6:])
MPIFLAGS = ["--oversubscribe", "--bind-to", "none"]


def write_config(name, **changes):
    return runcheck.write_config(work, config, name, **changes)


def compare(ref, path, what):
    runcheck.compare(ref, path, what, "the one-rank run")


def compare_tol(ref, path, what, rtol=1e-8):
    """Same datasets and shapes; integer ones (accepted, failed, ...) equal,
    floating ones within rtol of the largest value of the dataset."""
    a, b = datasets(ref), datasets(path)
    bad = sorted(set(a) ^ set(b))
    worst = 0.0
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if getattr(x, "shape", None) != getattr(y, "shape", None):
            bad.append(k)
        elif getattr(x, "dtype", None) is not None and x.dtype.kind == "f":
            if x.size:
                nan = np.isnan(x)
                if not (nan == np.isnan(y)).all():
                    bad.append(k + " (NaN)")
                    continue
                x, y = x[~nan], y[~nan]
                scale = max(float(abs(x).max()), 1e-300) if x.size else 1.0
                err = float(abs(x - y).max()) / scale if x.size else 0.0
                worst = max(worst, err)
                if not err <= rtol:
                    bad.append("%s (%.2g)" % (k, err))
        elif not same(x, y):
            bad.append(k)
    expect(not bad, "%s: every dataset of the one-rank run, same shapes, integers equal, reals within %g "
           "(largest relative difference %.2g; %d compared)%s"
           % (what, rtol, worst, len(a), "; differ: " + ", ".join(bad[:8]) if bad else ""))


def wait_committed(path, n, proc, timeout=60):
    return runcheck.wait_committed(path, n, proc, timeout)


# Every rank runs through this wrapper: it records the rank's pid (to
# signal the ranks themselves, as a batch system does) and exit code.
# mpiexec ends the job's other processes (SIGTERM, then SIGKILL 1 s later)
# as soon as one rank exits with a non-zero code: the wrapper outlives
# that SIGTERM (a trap, reset to the default in the child) to record the
# code its rank exited with.
WRAP = """#!/bin/sh
trap 'true' TERM
"$MC_RUN" "$@" &
pid=$!
echo $pid > "pid.$OMPI_COMM_WORLD_RANK"
while :; do
  wait $pid
  rc=$?
  [ $rc -lt 128 ] && break
  # Interrupted by the trap, or the rank died by a signal: wait again
  # while it lives; once gone, its status if the shell still holds it.
  if ! kill -0 $pid 2>/dev/null; then
    wait $pid
    r2=$?
    [ $r2 -ne 127 ] && rc=$r2
    break
  fi
done
echo $rc > "rc.$OMPI_COMM_WORLD_RANK"
exit $rc
"""


def mpi_cmd(n, *args):
    return [mpiexec, "-n", str(n), *MPIFLAGS, os.path.join(work, "wrap.sh"), *args]


def clean_ranks():
    for f in os.listdir(work):
        if f.startswith(("pid.", "rc.")):
            os.remove(os.path.join(work, f))


def mcmc_mpi(n, *args):
    clean_ranks()
    p = subprocess.run(mpi_cmd(n, *args), cwd=work, capture_output=True, text=True, timeout=180)
    return p.returncode, p.stdout, p.stderr


def start_mpi(n, *args):
    clean_ranks()
    return subprocess.Popen(mpi_cmd(n, *args), cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rank_file(kind, r):
    try:
        with open(os.path.join(work, "%s.%d" % (kind, r))) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def rank_pids(n, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        pids = [rank_file("pid", r) for r in range(n)]
        if None not in pids:
            return pids
        time.sleep(0.01)
    return None


def mcmc(*args):
    p = subprocess.run([run, *args], cwd=work, capture_output=True, text=True, timeout=180)
    return p.returncode, p.stdout, p.stderr


def reference(name, **changes):
    cfg = write_config(name + ".toml", output__path='"%s.h5"' % name, **changes)
    code, out, err = mcmc(cfg, "--quiet")
    expect(code == 0, "one-rank run %s: exit code %d %s" % (name, code, err[-300:]))
    return os.path.join(work, name + ".h5"), out


def sigterm_all(n, args, path, draws, what):
    """Starts mcmc-run ARGS on n ranks, sends SIGTERM to every rank once
    the file holds draws committed draws, and expects exit code 4 from
    every rank and from mpiexec. Returns mpiexec's stderr."""
    p = start_mpi(n, *args, "--quiet")
    pids = rank_pids(n)
    wait_committed(path, draws, p)
    for pid in pids or []:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    out, err = p.communicate(timeout=120)
    codes = [rank_file("rc", r) for r in range(n)]
    print(err[-1500:])
    expect(codes == [4] * n, "%s: exit codes %s, expected 4 on all" % (what, codes))
    expect(p.returncode == 4, "%s: mpiexec's exit code %d, expected 4" % (what, p.returncode))
    return err


def summary_tail(out):
    """The summary from the ESS table on (the per-chain times differ)."""
    m = re.search(r"effective sample size.*?prior mean error[^\n]*", out, re.S)
    return runcheck.without_rate(m.group(0)) if m else None


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
with open(os.path.join(work, "wrap.sh"), "w") as f:
    f.write(WRAP)
os.chmod(os.path.join(work, "wrap.sh"), 0o755)
os.environ["MC_RUN"] = run
SHORT = dict(chain__iterations=20000, chain__burn_in=2000)

if check == "layout":
    n, C = int(extra[0]), int(extra[1])
    ref, refout = reference("ref", chain__chains=C, **SHORT)
    cfg = write_config("run.toml", output__path='"run.h5"', chain__chains=C, **SHORT)
    code, out, err = mcmc_mpi(n, cfg, "--quiet")
    print(err[-2000:])
    expect(code == 0 and all(rank_file("rc", r) == 0 for r in range(n)),
           "%d chains on %d ranks: exit code %d, ranks %s" % (C, n, code, [rank_file("rc", r) for r in range(n)]))
    expect(re.search(r"chains   %d on %d MPI ranks" % (C, n), out) is not None, "the layout is reported")
    expect(out.count("mcmc-run ") == 1, "one report (rank 0's), not one per rank")
    path = os.path.join(work, "run.h5")
    with h5py.File(path, "r") as f:
        shape = f["posterior/theta"].shape
        expect(shape[0] == C and shape[1] == 1800, "posterior/theta is %s: %d chains x 1800 draws" % (shape, C))
        expect(list(f["posterior/chain"][()]) == list(range(C)), "chain coordinate 0..%d" % (C - 1))
        expect(list(f["posterior/draw"][()]) == list(range(1800)), "draw coordinate 0..1799")
    compare(ref, path, "%d chains on %d ranks" % (C, n))
    m = re.search(r"across the %d chains: rank-normalised split R-hat and bulk ESS[^\n]*\n[^\n]*\nR-hat +([0-9. ]+)\n" % C, out)
    rh = [float(v) for v in m.group(1).split()] if m else []
    expect(len(rh) >= 3 and all(0.95 < v < 1.1 for v in rh), "R-hat across the chains in the summary: %s" % rh)
    expect(summary_tail(out) is not None and summary_tail(out) == summary_tail(refout),
           "ESS, R-hat and posterior mean error equal to the one-rank run's")
    code, out, err = mcmc_mpi(n, "--resume", "run.h5", "--quiet")
    expect(code == 0 and "is complete" in out, "--resume of the finished file on %d ranks: exit %d, complete" % (n, code))

elif check == "sigterm":
    ref, refout = reference("ref", chain__iterations=60000)
    cfg = write_config("run.toml", output__path='"run.h5"', chain__iterations=60000)
    path = os.path.join(work, "run.h5")
    done = 0
    for step, n in enumerate([2, 2]):
        args = [cfg] if step == 0 else ["--resume", "run.h5"]
        # Past the set-up (a signal there ends a rank at once, as a kill):
        # 1000 draws beyond where the last stop left the file.
        err = sigterm_all(n, args, path, done + 1000, "SIGTERM %d to every rank" % (step + 1))
        expect(err.count("stopped by SIGTERM") == 1 and "continue with: mcmc-run --resume run.h5" in err,
               "rank 0 says where it stopped and how to continue, once")
        done = (progress(path) or {}).get("draws_committed", 0)
    # The run continues on another layout: one rank runs both chains.
    code, out, err = mcmc("--resume", "run.h5", "--quiet")
    expect(code == 0, "--resume on one rank: exit %d %s" % (code, err[-300:]))
    compare(ref, path, "stopped twice on 2 ranks, finished on 1")
    expect(summary_tail(out) == summary_tail(refout), "summary equal to the uninterrupted run's")

elif check == "sigkill":
    victim = int(extra[0])
    ref, refout = reference("ref", chain__iterations=60000)
    cfg = write_config("run.toml", output__path='"run.h5"', chain__iterations=60000)
    path = os.path.join(work, "run.h5")
    p = start_mpi(2, cfg, "--quiet")
    pids = rank_pids(2)
    wait_committed(path, 2000, p)
    os.kill(pids[victim], signal.SIGKILL)
    out, err = p.communicate(timeout=120)
    expect(p.returncode != 0, "rank %d SIGKILLed: mpiexec exit code %d (not 0)" % (victim, p.returncode))
    prog = progress(path)
    committed = prog["draws_committed"] if prog else 0
    expect(committed >= 2000, "the progress file names the last flush: %d draws per chain" % committed)
    refd = datasets(ref)
    with h5py.File(path, "r", swmr=True) as f:
        theta, lp = f["posterior/theta"], f["sample_stats/lp"]
        expect(theta.shape[0] == 2 and theta.shape[1] >= committed,
               "the file holds %d draws per chain, at least the %d flushed" % (theta.shape[1], committed))
        for c in range(2):
            expect(same(theta[c, :committed], refd["posterior/theta"][c, :committed])
                   and same(lp[c, :committed], refd["sample_stats/lp"][c, :committed]),
                   "chain %d: its %d flushed draws equal the uninterrupted run's" % (c, committed))
    code, out, err = mcmc_mpi(2, "--resume", "run.h5", "--quiet")
    expect(code == 0, "--resume on 2 ranks after the kill: exit %d %s" % (code, err[-300:]))
    compare(ref, path, "killed rank %d, resumed" % victim)

elif check == "extend0":
    ref, refout = reference("ref", chain__chains=2, chain__iterations=24000, chain__burn_in=2000)
    cfg = write_config("run.toml", output__path='"run.h5"', chain__chains=0, **SHORT)
    code, out, err = mcmc_mpi(2, cfg, "--quiet")
    expect(code == 0 and "chains   2 on 2 MPI ranks" in out, "chains = 0 on 2 ranks: 2 chains, exit %d" % code)
    code, out, err = mcmc("--resume", "run.h5", "--iterations", "24000", "--quiet")
    expect(code == 0, "--resume --iterations 24000 on one rank: exit %d %s" % (code, err[-300:]))
    compare(ref, os.path.join(work, "run.h5"), "2 ranks extended on 1")

elif check == "refuse":
    cfg = write_config("three.toml", **SHORT)
    code, out, err = mcmc_mpi(3, cfg, "--quiet")
    line = [i + 1 for i, t in enumerate(open(cfg).read().split("\n")) if t.startswith("chains =")][0]
    print(err)
    expect(code == 1 and re.search(r"three\.toml:%d: \[chain\] chains = 2 for 3 MPI ranks \(1 per chain\): 1 rank "
                                   r"would idle; start at most 2 ranks" % line, err) is not None,
           "3 ranks for 2 chains: exit %d, names three.toml:%d and [chain] chains" % (code, line))
    expect(err.count("would idle") == 1, "said once, not once per rank")
    cfg = write_config("rpc.toml", parallel__ranks_per_chain=2, **SHORT)
    code, out, err = mcmc_mpi(3, cfg, "--quiet")
    print(err)
    expect(code == 1 and re.search(r"rpc\.toml:\d+: \[parallel\] ranks_per_chain = 2 does not divide the 3 MPI "
                                   r"ranks started", err) is not None,
           "ranks_per_chain = 2 on 3 ranks: exit %d, names rpc.toml, the line and the key" % code)
    cfg = write_config("am.toml", parallel__ranks_per_chain=2, sampler__kernel='"am"', chain__chains=1, **SHORT)
    line = [i + 1 for i, t in enumerate(open(cfg).read().split("\n")) if t.startswith("kernel =")][0]
    code, out, err = mcmc_mpi(2, cfg, "--quiet")
    print(err)
    expect(code == 1 and all(rank_file("rc", r) == 1 for r in range(2))
           and re.search(r"am\.toml:%d: \[sampler\] kernel = \"am\" cannot run with \[parallel\] ranks_per_chain = 2 "
                         r"\(its dense proposal covariance is not distributed\); use pcn, mala, infmala or infhmc" % line, err)
           is not None and err.count("cannot run") == 1,
           "kernel am with ranks_per_chain = 2: exit 1 on every rank, one line naming am.toml:%d and the keys" % line)
    expect(not os.path.exists(os.path.join(work, "mcmc-run.h5")) and not os.path.exists(os.path.join(work, "tiny.h5")),
           "no output file")

elif check in ("rpc", "rpc4"):
    # A short chain: a gradient kernel's drift amplifies rounding
    # differences (a factor of ~1.07 per iteration here), pCN's contracts.
    kernel = extra[0] if check == "rpc" else "pcn"
    C, n = (1, 2) if check == "rpc" else (2, 4)
    its = dict(chain__iterations=150, chain__burn_in=50, chain__thin=1) if kernel == "pcn" else \
        dict(chain__iterations=60, chain__burn_in=20, chain__thin=1)
    kw = dict(sampler__kernel='"%s"' % kernel, chain__chains=C, output__flush_every=50, **its)
    if check == "rpc4":
        # Started from a draw of the prior, drawn in the natural numbering:
        # the same start on 1 and 2 ranks per chain.
        kw["sampler__start"] = '"prior"'
    points = check == "rpc" and extra[1:] == ["points"]
    if points:
        # Observation points instead of the grid: a copy of CONFIG without
        # its grid key (config_text replaces keys, it cannot remove one).
        pts = [[0.1, 0.1], [0.9, 0.85], [0.2, 0.8], [0.8, 0.2], [0.5, 0.5], [0.3, 0.6], [1.0, 0.4]]
        text = open(config).read()
        expect("grid = 3\n" in text, "CONFIG has [observations] grid = 3")
        config = os.path.join(work, "points.toml")
        with open(config, "w") as f:
            f.write(text.replace("grid = 3\n", 'kind = "points"\npoints = %s\n' % pts))
    ref, refout = reference("ref", **kw)
    cfg = write_config("run.toml", output__path='"run.h5"', parallel__ranks_per_chain=2, **kw)
    code, out, err = mcmc_mpi(n, cfg, "--quiet")
    print(err[-2000:])
    expect(code == 0 and all(rank_file("rc", r) == 0 for r in range(n)),
           "%d chain(s) x 2 ranks on %d ranks: exit code %d, ranks %s" % (C, n, code, [rank_file("rc", r) for r in range(n)]))
    expect(re.search(r"chains   %d on %d MPI ranks, 2 per chain" % (C, n), out) is not None, "the layout is reported")
    expect(out.count("mcmc-run ") == 1, "one report (rank 0's), not one per rank")
    compare_tol(ref, os.path.join(work, "run.h5"), "%s, %d chain(s) x 2 ranks" % (kernel, C))
    compare(os.path.join(work, "ref_mesh.h5"), os.path.join(work, "run_mesh.h5"), "the mesh file (natural vertex and cell order)")
    m = re.search(r"posterior mean error +([0-9.]+)", out)
    mr = re.search(r"posterior mean error +([0-9.]+)", refout)
    expect(m is not None and mr is not None and abs(float(m.group(1)) - float(mr.group(1))) < 1e-3,
           "the summary's posterior mean error (%s) is the one-rank run's (%s)" % (m and m.group(1), mr and mr.group(1)))
    if points:
        expect(re.search(r"data +7 observation points", out) is not None, "7 observation points: %s" % out[:600])
        # From a file: the configuration's own check catches points outside
        # a box before the mesh exists.
        with open(os.path.join(work, "obs.csv"), "w") as f:
            f.write("# x, y\n" + "".join("%s, %s\n" % tuple(p) for p in pts) + "0.5, 1.25\n")
        with open(config, "w") as f:
            f.write(text.replace("grid = 3\n", 'kind = "file"\nfile = "obs.csv"\n'))
        cfg = write_config("outside.toml", output__path='"outside.h5"', parallel__ranks_per_chain=2, **kw)
        code, out, err = mcmc_mpi(n, cfg, "--quiet")
        print(err[-600:])
        expect(code != 0 and rank_file("rc", 0) == 1,
               "a point outside: exit code %d, rank 0 %s, expected 1" % (code, rank_file("rc", 0)))
        expect(re.search(r"^.*outside\.toml: 1 of the 8 observation points \(obs\.csv\) lie outside the "
                         r"mesh; the first is point 7 \(counting from 0\) at \(0\.5, 1\.25\)$", err, re.M) is not None,
               "the message names the point: %r" % err[-400:])

elif check == "rpcsigterm":
    # 400 iterations: the second stop comes 30 draws after the resume's
    # start, with 250 left, so the signal never lands after the loop (a
    # run that has finished its loop exits on SIGTERM with 143).
    kw = dict(chain__chains=1, chain__iterations=400, chain__burn_in=20, chain__thin=1, output__flush_every=10)
    ref, refout = reference("ref", **kw)
    cfg = write_config("run.toml", output__path='"run.h5"', parallel__ranks_per_chain=2, **kw)
    one = write_config("one.toml", output__path='"run.h5"', parallel__ranks_per_chain=1, **kw)
    path = os.path.join(work, "run.h5")
    done = 0
    for step in range(2):
        args = [cfg] if step == 0 else ["--resume", "run.h5"]
        sigterm_all(2, args, path, done + 30, "SIGTERM %d to both ranks of the chain" % (step + 1))
        now = (progress(path) or {}).get("draws_committed", 0)
        expect(now > done, "stop %d: %d draws in the file (%d before)" % (step + 1, now, done))
        done = now
    # The stored configuration says ranks_per_chain = 2; one rank runs the
    # chain with R = 1 (the checkpoint is in the natural numbering).
    code, out, err = mcmc("--resume", "run.h5", one, "--quiet")
    expect(code == 0, "--resume with ranks_per_chain = 1 on one rank: exit %d %s" % (code, err[-300:]))
    compare_tol(ref, path, "stopped twice with R = 2, finished with R = 1")
    # And the other way: stopped on one rank, finished with R = 2.
    kw = dict(kw, chain__iterations=160)
    ref, refout = reference("ref160", **kw)
    shutil.copy(ref, os.path.join(work, "back.h5"))
    code, out, err = mcmc(write_config("short.toml", output__path='"back.h5"', **dict(kw, chain__iterations=100)),
                          "--quiet", "--force")
    expect(code == 0, "a one-rank run of 100 iterations: exit %d %s" % (code, err[-300:]))
    code, out, err = mcmc_mpi(2, "--resume", "back.h5", "--iterations", "160",
                              write_config("back.toml", output__path='"back.h5"', parallel__ranks_per_chain=2, **kw),
                              "--quiet")
    expect(code == 0, "--resume --iterations 160 with ranks_per_chain = 2: exit %d %s" % (code, err[-300:]))
    compare_tol(ref, os.path.join(work, "back.h5"), "100 iterations on one rank, extended to 160 with R = 2")

else:
    sys.exit("unknown check " + check)

runcheck.finish(check)
