"""mcmc-run as a client of mcmc-run --serve: the same chain as the
in-process model, bit for bit, with the same seeds (pcn and mala, two
chains), and --map refused with a served model. The client samples the server's loglikelihood model with output =
"loglikelihood": the sampler's potential is then -(-Phi), exactly Phi, and
its gradient the exactly negated adjoint gradient, so every accept/reject
decision and every stored number is the in-process one.

usage: roundtrip.py MCMC_RUN CONFIG WORKDIR"""
import os
import subprocess
import sys

import h5py
import numpy as np

from umb import check, finish, start, stop

run, config, work = [os.path.abspath(a) for a in sys.argv[1:4]]
os.makedirs(work, exist_ok=True)
base = open(config).read()

proc, port = start([run, "--serve", config, "--listen", "127.0.0.1:0"], cwd=work)
for kernel, extra in [("pcn", ""), ("mala", 'step_size = 0.05\ntarget_acceptance = 0.57\n')]:
    sampler = '[sampler]\nkernel = "%s"\n%s' % (kernel, extra)
    local = os.path.join(work, "local_%s.toml" % kernel)
    remote = os.path.join(work, "remote_%s.toml" % kernel)
    with open(local, "w") as f:
        f.write(base.replace('path = "inprocess.h5"', 'path = "local_%s.h5"' % kernel) + sampler)
    # The same file with the model served: the PDE sections stay (unused).
    with open(remote, "w") as f:
        f.write(base.replace('path = "inprocess.h5"', 'path = "remote_%s.h5"' % kernel) + sampler +
                '[model]\nkind = "umbridge"\nurl = "http://127.0.0.1:%d"\nname = "loglikelihood"\n'
                'output = "loglikelihood"\n' % port)
    # 1000 iterations (burn-in 167): enough to adapt and move, quick under
    # the sanitizer build too.
    # The server solves every evaluation directly; in process, pcn would
    # solve proposals by CG on the current state's factor (last bits differ).
    a = subprocess.run([run, local, "--quiet", "--force", "--iterations", "1000", "-reuse_factorisation", "0"],
                       capture_output=True, text=True, cwd=work)
    b = subprocess.run([run, remote, "--quiet", "--force", "--iterations", "1000"], capture_output=True, text=True,
                       cwd=work)
    check("%s: both runs exit 0" % kernel, a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr))
    if a.returncode or b.returncode:
        continue
    with h5py.File(os.path.join(work, "local_%s.h5" % kernel)) as fa, \
            h5py.File(os.path.join(work, "remote_%s.h5" % kernel)) as fb:
        for name in ["posterior/theta", "sample_stats/lp", "sample_stats/accepted", "sample_stats/step_size",
                     "sample_stats/acceptance_rate"]:
            x, y = fa[name][()], fb[name][()]
            check("%s: %s %s identical" % (kernel, name, x.shape), x.shape == y.shape == (2, 417) + x.shape[2:] and
                  np.array_equal(x, y),
                  np.abs(x - y).max() if x.shape == y.shape else (x.shape, y.shape))
        check("%s: the chain moved" % kernel, fa["sample_stats/accepted"][()].mean() > 0.1)
# --map asks for the MAP point, which needs the PDE model's adjoint Hessian:
# with a served model it is a usage error naming the file, not a crash.
r = subprocess.run([run, remote, "--map"], capture_output=True, text=True, cwd=work)
want = '%s: --map needs the PDE model (the MAP point uses its adjoint Hessian), not [model] kind = "umbridge"' % remote
check("--map with a served model: exit 1 and one line naming the file", r.returncode == 1 and want in r.stderr,
      (r.returncode, r.stderr[-500:]))
code, out, err = stop(proc)
check("server stopped cleanly, memory flat", code == 0 and "live objects and bytes flat" in out, out[-500:])
finish("roundtrip")
