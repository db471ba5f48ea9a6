#!/usr/bin/python3
"""An MPI singleton (mcmc-run or mcmc-diag started without a launcher)
asks Open MPI for the ob1 point-to-point layer only (src/app/singleton.c);
a pml the user set, and a process mpiexec started, keep their own choice.
Which pml components Open MPI loads is read from its own log
(pml_base_verbose).

usage: singleton_checks.py MCMC_RUN MCMC_DIAG MPIEXEC CONFIG"""
import os
import re
import subprocess
import sys

run, diag, mpiexec, config = sys.argv[1:5]
failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    failures += not cond


def loaded(cmd, **env):
    """The pml components Open MPI registered in the process(es) of cmd,
    and its exit code, with OMPI_MCA_pml from env only."""
    e = {k: v for k, v in os.environ.items() if k != "OMPI_MCA_pml"}
    e.update(OMPI_MCA_pml_base_verbose="10", **env)
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=120)
    found = re.findall(r"components_register: found loaded component (\w+)", p.stdout + p.stderr)
    return sorted(set(found)), p.returncode


got, code = loaded([run, "--check", config])
check(code == 0 and got == ["ob1"], f"mcmc-run --check, a singleton: pml components {got} (exit {code}), expected ob1 only")
got, code = loaded([diag, "none.h5"])
check(code == 1 and got == ["ob1"], f"mcmc-diag, a singleton: pml components {got} (exit {code}), expected ob1 only")
# Open MPI's cm layer leaks what LeakSanitizer reports (the sanitizer build):
# not ours to check here.
got, code = loaded([run, "--check", config], OMPI_MCA_pml="^v",
                   ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
check(code == 0 and "cm" in got and "v" not in got, f"the user's OMPI_MCA_pml=^v is kept: pml components {got}")
got, code = loaded([mpiexec, "-n", "1", "--oversubscribe", "--bind-to", "none", run, "--check", config])
check(code == 0 and "cm" in got, f"under mpiexec Open MPI chooses: pml components {got} (exit {code})")
print(f"singleton: {failures} failed")
sys.exit(1 if failures else 0)
