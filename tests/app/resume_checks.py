#!/usr/bin/python3
"""Checkpoints, resume, signals, write errors and live reading of mcmc-run,
on a cheap configuration (tests/app/configs/tiny.toml).

usage: resume_checks.py MCMC_RUN WORKDIR CONFIG CHECK [ARGS...]
CHECK: extend        run N, resume with --iterations 2N: equal bit for bit to
                     a run of 2N; a complete run has nothing to do; a model
                     change is refused naming the section; a sampler-only
                     change is allowed
       sigterm       SIGTERM mid-run: exit 4, --resume completes, equal to the
                     uninterrupted run; two SIGTERMs: the process ends at once,
                     the file resumes from its last checkpoint
       sigkill K S   K SIGKILLs at moments drawn with seed S, each followed by
                     --resume; no committed draw lost, every prefix equal to
                     the uninterrupted run, the final file equal to it
       signals K S   K signals (SIGTERM, SIGINT, SIGUSR1, SIGKILL) drawn with
                     seed S, each stop followed by --resume; as sigkill
       writer        a --resume and a forced run on a file another run writes
                     are refused (exit 2); that run's file stays intact
       swmr          an h5py reader with swmr=True sees the draw count grow
       diskfull      RLIMIT_FSIZE: exit 2, one line naming the file, the file
                     readable with the draws of its last flush
       dirgone       the output directory removed during the run: exit 2, a
                     message naming the file
       staleeoa      killed, then the superblock's EOA moved back to half the
                     file and the file marked open without SWMR: --resume
                     finishes equal to the uninterrupted run
       flatmem N     N iterations of one chain keeping every draw: the RSS in
                     the file's memory trace at the end within 1 MiB of the
                     RSS after 10^4 iterations, live objects and bytes
                     constant; prints the RSS slope
"Equal" means every dataset outside memory/ (RSS and times of this process),
timing/ (wall seconds at each draw) and checkpoint/ (the records' sequence differs by construction) is equal bit
for bit, and the summaries agree.
"""
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

import runcheck
from runcheck import datasets, expect, progress, same

run, work, config, check, extra = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3]), sys.argv[4], sys.argv[5:]


def write_config(name, **changes):
    return runcheck.write_config(work, config, name, **changes)


def compare(ref, path, what):
    runcheck.compare(ref, path, what, "the uninterrupted run")


def wait_committed(path, n, proc, timeout=30):
    return runcheck.wait_committed(path, n, proc, timeout)


def mcmc(*args, **kw):
    p = subprocess.run([run, *args], cwd=work, capture_output=True, text=True, timeout=120, **kw)
    return p.returncode, p.stdout, p.stderr


def start(*args, **kw):
    return subprocess.Popen([run, *args], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def open_killed(path):
    """Opens a file left by a killed writer. Killed in the short window of a
    resume before SWMR writing starts, the file is marked open without
    SWMR: readers then need h5clear -s (with --increment=0, for an end of
    allocation left behind blocks a killed flush wrote), applied here to a
    copy (mcmc-run --resume clears the mark itself)."""
    try:
        return h5py.File(path, "r", swmr=True)
    except OSError:
        copy = path + ".cleared"
        shutil.copyfile(path, copy)
        subprocess.run(["h5clear", "-s", "--increment=0", copy], check=True)
        print("(file marked open without SWMR: read through h5clear -s --increment=0)")
        return h5py.File(copy, "r")


def ess_lines(out):
    """The summary's ESS, R-hat and field error, less the ESS/s lines."""
    m = re.search(r"effective sample size.*?\n\n.*?prior mean error[^\n]*", out, re.S)
    return runcheck.without_rate(m.group(0)) if m else None


def resumed_rate(out, it, path):
    """A run resumed at iteration it rates its ESS over the seconds of
    both parts; the draws' seconds continue across the resume."""
    runcheck.check_rate(out, path, resumed_at=it)


def reference(name="ref"):
    cfg = write_config(name + ".toml", output__path='"%s.h5"' % name)
    code, out, err = mcmc(cfg, "--quiet")
    expect(code == 0, "uninterrupted run: exit code %d %s" % (code, err[-300:]))
    runcheck.check_rate(out, os.path.join(work, name + ".h5"))
    # Checkpoints every 10000 iterations after the memory baseline: the
    # record is built in a buffer kept from the last one, nothing allocates.
    m = re.search(r"allocation calls per iteration after it: project (\S+), PETSc (\S+)", out)
    expect(m is not None and m.groups() == ("0", "0"),
           "allocation calls per iteration after the baseline, checkpoints included: %s" % (m.groups() if m else None,))
    if "-reuse_break_even 0" in open(config).read():
        # The configuration asks for CG from the current factor at every
        # proposal: only accepted ones (and fallbacks) refactorise.
        m = re.search(r"forward factorisations per iteration after it: (\S+)", out)
        expect(m is not None and float(m.group(1)) < 0.5,
               "proposals solved by CG: factorisations per iteration %s < 0.5" % (m.group(1) if m else None))
    return os.path.join(work, name + ".h5"), out


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

if check == "extend":
    text = open(config).read()
    n2 = int(re.search(r"^iterations = (\d+)", text, re.M).group(1))
    ref, refout = reference()
    half = write_config("half.toml", output__path='"half.h5"', chain__iterations=n2 // 2)
    code, out, err = mcmc(half, "--quiet")
    expect(code == 0, "first half: exit code %d" % code)
    code, out, err = mcmc("--resume", "half.h5", "--quiet")
    expect(code == 0 and "is complete" in out and "nothing to do" in out,
           "resume of a complete run: exit %d, says it is complete" % code)
    # A sampler-only change (flush policy) in a CONFIG given with --resume is allowed.
    other = write_config("other.toml", output__path='"ignored.h5"', chain__iterations=n2 // 2, output__flush_every=100)
    code, out, err = mcmc("--resume", "half.h5", other, "--iterations", str(n2), "--quiet")
    print(err)
    expect(code == 0, "resume with --iterations %d and another flush policy: exit code %d" % (n2, code))
    compare(ref, os.path.join(work, "half.h5"), "extended")
    resumed_rate(out, n2 // 2, os.path.join(work, "half.h5"))
    expect(ess_lines(out) is not None and ess_lines(out) == ess_lines(refout),
           "summary (ESS, posterior mean error) equal to the uninterrupted run's")
    expect(not os.path.exists(os.path.join(work, "ignored.h5")), "the resumed run writes the file it resumes")
    # A model change is refused, naming the section.
    write_config("changed.toml", prior__correlation_length=0.3, observations__grid=4)
    before = os.path.getmtime(os.path.join(work, "half.h5"))
    code, out, err = mcmc("--resume", "half.h5", "changed.toml", "--iterations", str(n2 + 1000), "--quiet")
    print(err)
    expect(code == 1, "model change: exit code %d, expected 1" % code)
    expect(re.search(r"cannot resume half\.h5 with changed\.toml: the model differs from the run's in \[prior\], \[observations\]", err)
           is not None, "the refusal names the file and the sections [prior], [observations]")
    expect(os.path.getmtime(os.path.join(work, "half.h5")) == before, "the file is untouched")
    code, out, err = mcmc("--resume", "nosuch.h5", "--quiet")
    expect(code == 1 and "--resume nosuch.h5: no such file" in err, "missing file: exit %d, %r" % (code, err.strip()))

elif check == "sigterm":
    ref, refout = reference()
    cfg = write_config("run.toml", output__path='"run.h5"')
    path = os.path.join(work, "run.h5")
    p = start(cfg, "--quiet")
    wait_committed(path, 3000, p)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    print(err)
    expect(p.returncode == 4, "SIGTERM: exit code %d, expected 4" % p.returncode)
    m = re.search(r"stopped by SIGTERM at iteration (\d+) of (\d+); checkpoint written to run\.h5", err)
    expect(m is not None and 0 < int(m.group(1)) < int(m.group(2)), "message: stopped mid-run with a checkpoint")
    expect("continue with: mcmc-run --resume run.h5" in err, "message says how to continue")
    prog = progress(path)
    expect(prog is not None and prog["checkpoint_draws"] == prog["draws_committed"] and prog["draws_committed"] > 0,
           "the checkpoint holds every committed draw: %s" % prog)
    code, out, err = mcmc("--resume", "run.h5", "--quiet")
    expect(code == 0, "resume: exit code %d %s" % (code, err[-300:]))
    compare(ref, path, "after SIGTERM and --resume")
    expect(ess_lines(out) == ess_lines(refout), "summary equal to the uninterrupted run's")
    if m:
        resumed_rate(out, int(m.group(1)), path)
    # Two signals: the second ends the process at once. Both are made
    # pending while the process is stopped (SIGINT and SIGTERM, which do not
    # merge as two SIGTERMs would); on SIGCONT the first handler asks for
    # the stop and the second kills with the default action.
    cfg2 = write_config("run2.toml", output__path='"run2.h5"')
    path2 = os.path.join(work, "run2.h5")
    p = start(cfg2, "--quiet")
    wait_committed(path2, 3000, p)
    p.send_signal(signal.SIGSTOP)
    p.send_signal(signal.SIGINT)
    p.send_signal(signal.SIGTERM)
    p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=60)
    expect(p.returncode in (-signal.SIGINT, -signal.SIGTERM) and "stopped by" not in err,
           "two signals: ended at once by the second (returncode %d, stderr %r)" % (p.returncode, err[-200:]))
    code, out, err = mcmc("--resume", "run2.h5", "--quiet")
    expect(code == 0, "resume after two SIGTERMs: exit code %d %s" % (code, err[-300:]))
    compare(ref, path2, "after two SIGTERMs and --resume")

elif check == "staleeoa":
    # A SIGKILL inside a flush can leave the superblock's end of allocation
    # (EOA) behind blocks it wrote, and one in a resume's set-up the file
    # marked open for writing without SWMR, which only a writer may open
    # (and HDF5 cuts a file it closes after writing to its EOA). Both at
    # once, made by rewriting the superblock (tests/io/superblock.py): the
    # resume must keep every byte and finish equal to the uninterrupted run.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "io"))
    import superblock
    ref, refout = reference()
    cfg = write_config("run.toml", output__path='"run.h5"')
    path = os.path.join(work, "run.h5")
    p = start(cfg, "--quiet")
    prog = wait_committed(path, 3000, p)
    p.kill()
    p.communicate()
    expect(prog is not None and prog["checkpoint_seq"] > 0, "killed after a checkpoint: %s" % prog)
    size = os.path.getsize(path)
    superblock.set_eoa(path, size // 2)
    superblock.set_flags(path, 1)
    code, out, err = mcmc("--resume", "run.h5", "--quiet")
    expect(code == 0, "resume with the EOA at %d of %d bytes, marked open without SWMR: exit %d %s"
           % (size // 2, size, code, err[-400:]))
    compare(ref, path, "after a resume from a stale EOA and a non-SWMR mark")

elif check == "sigkill":
    kills, seed = int(extra[0]), int(extra[1])
    rng = random.Random(seed)
    ref, refout = reference()
    refdata = datasets(ref)
    full = refdata["posterior/draw"].shape[0]
    cfg = write_config("run.toml", output__path='"run.h5"')
    path = os.path.join(work, "run.h5")
    k, lost, resumed_from, fresh, completed = 0, 0, [], 0, 0
    while k < kills:
        # A kill before the run's first checkpoint (written before its first
        # iteration) leaves nothing to resume: start again then.
        p0 = progress(path)
        if p0 is None or p0["checkpoint_seq"] == 0:
            args = [cfg, "--quiet", "--force"]
            fresh += 1
        else:
            args = ["--resume", "run.h5", "--quiet"]
        p = start(*args)
        # Random moments over the run's life (it takes ~2.5 s uninterrupted,
        # 0.4 s of each start start-up).
        time.sleep(rng.uniform(0.2, 1.0))
        if p.poll() is not None:
            # Finished before the kill: check it, then begin a new run.
            out, err = p.communicate()
            expect(p.returncode == 0, "run ended by itself: exit %d %s" % (p.returncode, err[-300:]))
            compare(ref, path, "run %d, complete after SIGKILLs and resumes" % (completed + 1))
            completed += 1
            for suffix in ("", ".progress"):
                os.remove(path + suffix)
            continue
        p.kill()
        p.communicate()
        k += 1
        after = progress(path)
        if after is None or after["checkpoint_seq"] == 0:
            print("kill %d: before the first checkpoint" % k)
            continue
        committed = after["draws_committed"]
        with open_killed(path) as f:
            ondisk = min(f["posterior/theta"].shape[1], f["sample_stats/lp"].shape[1], f["posterior/draw"].shape[0])
            prefix_ok = all(same(f[name][:, :committed] if f[name].ndim > 1 else f[name][:committed],
                                 refdata[name][:, :committed] if refdata[name].ndim > 1 else refdata[name][:committed])
                            for name in ("posterior/theta", "sample_stats/lp", "posterior/draw", "sample_stats/accepted"))
            ckpt = after["checkpoint_draws"]
        if ondisk < committed:
            lost += 1
        expect(ondisk >= committed and prefix_ok,
               "kill %d: %d draws on file >= %d committed, equal to the uninterrupted run's (last checkpoint at %d)"
               % (k, ondisk, committed, ckpt))
        resumed_from.append(ckpt)
    if progress(path) is None or progress(path)["checkpoint_seq"] == 0:
        code, out, err = mcmc(cfg, "--quiet", "--force")
    else:
        code, out, err = mcmc("--resume", "run.h5", "--quiet")
    expect(code == 0, "final run: exit code %d %s" % (code, err[-400:]))
    compare(ref, path, "after the last SIGKILL and resume")
    # The draws' seconds run on over every resume (the work a kill lost
    # after the last checkpoint is not counted), and so does the ESS/s.
    # A kill after the last checkpoint (at the end) leaves the run complete:
    # the resume then has nothing to do and prints no summary.
    if re.search(r"^resume +\S+ is complete", out, re.M):
        runcheck.check_timing(path, float("inf"))
    else:
        m = re.search(r"^ESS/s: resumed at iteration (\d+);", out, re.M)
        runcheck.check_rate(out, path, resumed_at=int(m.group(1)) if m else None)
    completed += 1
    print("kills %d (%d fresh starts, %d runs completed), resumed from checkpoints at draws %s, "
          "kills that lost committed draws %d (%d draws per chain in a run)"
          % (k, fresh, completed, resumed_from, lost, full))

elif check == "signals":
    # A soak over every signal the run handles: at K moments drawn with seed
    # S one of SIGTERM, SIGINT (a checkpoint, exit 4), SIGKILL (nothing) or
    # SIGUSR1 (progress and a flush, the run goes on; then one of the other
    # three), each stop followed by --resume; every committed draw kept and
    # equal to the uninterrupted run, the final file equal to it.
    events, seed = int(extra[0]), int(extra[1])
    rng = random.Random(seed)
    ref, refout = reference()
    refdata = datasets(ref)
    cfg = write_config("run.toml", output__path='"run.h5"')
    path = os.path.join(work, "run.h5")
    k, counts = 0, {}
    while k < events:
        p0 = progress(path)
        fresh = p0 is None or p0["checkpoint_seq"] == 0
        p = start(*([cfg, "--quiet", "--force"] if fresh else ["--resume", "run.h5", "--quiet"]))
        time.sleep(rng.uniform(0.2, 1.0))
        if p.poll() is not None:
            out, err = p.communicate()
            expect(p.returncode == 0, "run ended by itself: exit %d %s" % (p.returncode, err[-300:]))
            compare(ref, path, "a run completed between signals")
            for suffix in ("", ".progress"):
                os.remove(path + suffix)
            continue
        sig = rng.choice([signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGKILL])
        if sig == signal.SIGUSR1:
            p.send_signal(sig)
            counts["SIGUSR1"] = counts.get("SIGUSR1", 0) + 1
            k += 1
            time.sleep(rng.uniform(0.05, 0.3))
            if p.poll() == -signal.SIGUSR1 and progress(path) == p0:
                p.communicate()  # during start-up, before the handlers: nothing written yet
                continue
            expect(p.poll() is None or p.returncode == 0, "SIGUSR1 ended the run: exit %s" % p.returncode)
            sig = rng.choice([signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
        p.send_signal(sig)
        out, err = p.communicate()
        k += 1
        counts[sig.name] = counts.get(sig.name, 0) + 1
        want = (-9,) if sig == signal.SIGKILL else (4,)
        # Before the loop installs its handlers (start-up, set-up) SIGTERM
        # and SIGINT end the process as SIGKILL would: the file must then
        # be as consistent as after a SIGKILL, which the checks below test.
        early = sig != signal.SIGKILL and p.returncode == -sig
        if early:
            counts["early " + sig.name] = counts.get("early " + sig.name, 0) + 1
        expect(p.returncode in want + (0,) or early,
               "%s: exit %d, want %s: %s" % (sig.name, p.returncode, want, err[-300:]))
        if p.returncode == 0:
            compare(ref, path, "a run completed as %s arrived" % sig.name)
            for suffix in ("", ".progress"):
                os.remove(path + suffix)
            continue
        after = progress(path)
        if after is None or after["checkpoint_seq"] == 0:
            continue
        committed = after["draws_committed"]
        with open_killed(path) as f:
            ondisk = min(f["posterior/theta"].shape[1], f["sample_stats/lp"].shape[1])
            prefix_ok = all(same(f[name][:, :committed], refdata[name][:, :committed])
                            for name in ("posterior/theta", "sample_stats/lp"))
        expect(ondisk >= committed and prefix_ok, "after %s: %d draws on file >= %d committed, equal to the "
               "uninterrupted run's" % (sig.name, ondisk, committed))
    p0 = progress(path)
    if p0 is None or p0["checkpoint_seq"] == 0:
        code, out, err = mcmc(cfg, "--quiet", "--force")
    else:
        code, out, err = mcmc("--resume", "run.h5", "--quiet")
    expect(code == 0, "final run: exit code %d %s" % (code, err[-400:]))
    compare(ref, path, "after the last signal and resume")
    print("signals %d: %s" % (k, ", ".join("%s %d" % kv for kv in sorted(counts.items()))))

elif check == "writer":
    # One writer per file: while a run writes run.h5, a --resume of it and
    # a forced new run on it are refused (exit 2, naming the lock) and the
    # running run's file ends equal to an uninterrupted run's. The forced
    # run used to truncate the file under the writer (HDF5's own lock is
    # dropped once SWMR writing starts), which corrupted it.
    ref, refout = reference()
    cfg = write_config("run.toml", output__path='"run.h5"')
    path = os.path.join(work, "run.h5")
    p = start(cfg, "--quiet", "--force")
    wait_committed(path, 2000, p)
    running = p.poll() is None
    expect(running, "the first run still runs after 2000 draws")
    for what, args in (("--resume", ["--resume", "run.h5", "--quiet"]), ("--force", [cfg, "--quiet", "--force"])):
        code, out, err = mcmc(*args)
        expect(code == 2 and "output file run.h5 is being written by another process" in err,
               "a second writer (%s) while the run writes: exit %d, %r" % (what, code, err.strip()[-200:]))
    out, err = p.communicate(timeout=120)
    expect(p.returncode == 0, "the first run: exit code %d %s" % (p.returncode, err[-300:]))
    # A damaged file is read plainly first: through SWMR reads (compare's)
    # HDF5 retries each bad checksum for minutes.
    try:
        with h5py.File(path, "r") as f:
            readable = all(f[n][...].size > 0 for n in ("posterior/theta", "sample_stats/lp", "posterior/draw"))
    except OSError as e:
        readable = False
        print(e)
    expect(readable, "the first run's file is readable after the refused writers")
    if readable:
        compare(ref, path, "the first run's file after the refused writers")

elif check == "swmr":
    cfg = write_config("run.toml", output__path='"run.h5"')
    path = os.path.join(work, "run.h5")
    p = start(cfg, "--quiet")
    wait_committed(path, 1, p)
    seen = []
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        d = f["posterior/draw"]
        t0 = time.time()
        while p.poll() is None and time.time() - t0 < 30:
            d.refresh()
            f["posterior/theta"].refresh()
            n = d.shape[0]
            if not seen or n != seen[-1]:
                seen.append(n)
                if n:
                    last = d[n - 1]
                    theta = f["posterior/theta"][:, n - 1, 0]
                    expect(last == n - 1 and np.all(np.isfinite(theta)) if len(seen) < 4 else True,
                           "live read: draw[%d] = %d, theta finite" % (n - 1, last))
            time.sleep(0.02)
    p.communicate()
    expect(p.returncode == 0, "run: exit code %d" % p.returncode)
    expect(len(seen) >= 4 and seen == sorted(seen), "the reader saw the draw count grow: %s" % seen[:12])

elif check == "diskfull":
    cfg = write_config("run.toml", output__path='"run.h5"')
    path = os.path.join(work, "run.h5")
    limit = 3 * 2 ** 20

    def limit_size():
        # Writes past the limit fail with EFBIG instead of raising SIGXFSZ.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    # PMIx (MPI start-up) keeps its store in a shared-memory file larger than
    # the limit; its hash store needs none.
    code, out, err = mcmc(cfg, "--quiet", preexec_fn=limit_size, env=dict(os.environ, PMIX_MCA_gds="hash"))
    print(err)
    expect(code == 2, "disk full: exit code %d, expected 2" % code)
    lines = err.strip().splitlines()
    expect(len(lines) == 2 and lines[0].startswith("mcmc-run: output file run.h5:") and "File too large" in lines[0],
           "one line naming the file and the cause: %r" % (lines[:1],))
    expect("PETSC ERROR" not in err, "no PETSc traceback")
    prog = progress(path)
    with h5py.File(path, "r", swmr=True) as f:
        n = f["posterior/draw"].shape[0]
        lp = f["sample_stats/lp"][:, :prog["draws_committed"]]
    expect(prog["draws_committed"] > 0 and n >= prog["draws_committed"] and np.all(np.isfinite(lp)),
           "the file holds the %d committed draws (%d on file), all finite" % (prog["draws_committed"], n))
    expect(re.search(r"run\.h5 holds the %d draws per chain of its last successful flush" % prog["draws_committed"], err)
           is not None, "the second line says how many draws are safe")

elif check == "dirgone":
    os.makedirs(os.path.join(work, "out"))
    cfg = write_config("run.toml", output__path='"out/run.h5"')
    path = os.path.join(work, "out", "run.h5")
    p = start(cfg, "--quiet")
    wait_committed(path, 500, p)
    # The directory leaves its path in one step: an rmtree of it raced the
    # writer, which may create its next progress file in it between the
    # listing and the rmdir ("Directory not empty"). For the writer, whose
    # paths start with out/, the directory is gone either way.
    os.rename(os.path.join(work, "out"), os.path.join(work, "out.gone"))
    out, err = p.communicate(timeout=60)
    shutil.rmtree(os.path.join(work, "out.gone"))
    print(err)
    expect(p.returncode == 2, "directory removed: exit code %d, expected 2" % p.returncode)
    expect(re.search(r"^mcmc-run: output file out/run\.h5: .*No such file or directory", err, re.M) is not None,
           "one line naming the file and the cause")
    expect("PETSC ERROR" not in err, "no PETSc traceback")
elif check == "flatmem":
    n = int(extra[0])
    cfg = write_config("run.toml", output__path='"run.h5"', chain__iterations=n, chain__burn_in=1000, chain__thin=1,
                       chain__chains=1, output__field_thin=100, output__checkpoint_every=max(n // 10, 1000),
                       memory__check_every=1000)
    t0 = time.time()
    code, out, err = mcmc(cfg, "--quiet")
    wall = time.time() - t0
    expect(code == 0, "exit code %d %s" % (code, err[-300:]))
    with h5py.File(os.path.join(work, "run.h5"), "r", swmr=True) as f:
        it, rss = f["memory/iteration"][:], f["memory/rss"][:]
        objs, byts = f["memory/live_objects"][:], f["memory/live_bytes"][:]
        draws = f["posterior/draw"].shape[0]
    i0 = int(np.searchsorted(it, 10000))
    grow = (rss[-1] - rss[i0]) / 2 ** 20
    slope = np.polyfit(it[i0:], rss[i0:] / 2 ** 20, 1)[0] * 1e5
    expect(it[-1] == n and draws == n - 1000, "%d memory rows up to iteration %d, %d draws" % (len(it), it[-1], draws))
    expect(abs(grow) <= 1.0, "RSS %.2f MiB after %d iterations, %.2f MiB at %d: %+.3f MiB (within 1 MiB)"
           % (rss[i0] / 2 ** 20, it[i0], rss[-1] / 2 ** 20, it[-1], grow))
    expect(np.all(objs == objs[0]) and np.all(byts == byts[0]),
           "live objects %s and live bytes %s constant" % (sorted(set(objs))[:3], sorted(set(byts))[:3]))
    print("flatmem: %d iterations in %.1f s, RSS slope %+.4f MiB per 1e5 iterations after 1e4, max-min %.3f MiB"
          % (n, wall, slope, (rss[i0:].max() - rss[i0:].min()) / 2 ** 20))
else:
    sys.exit("unknown check " + check)
runcheck.finish(check)
