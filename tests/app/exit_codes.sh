#!/usr/bin/env bash
# Exit codes and messages of the programs' command lines.
run=$1 diag=$2
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect CODE REGEX CMD...: CMD exits with CODE and its stderr matches REGEX.
expect() {
  local want=$1 re=$2 got
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -ne "$want" ] || ! grep -Eq "$re" "$tmp/err"; then
    echo "FAIL: $* -> exit $got (want $want), stderr:"; cat "$tmp/err"
    fails=$((fails + 1))
  fi
}

expect 1 "no CONFIG given" "$run"
expect 1 "unknown option '--frobnicate'" "$run" --frobnicate x.toml
expect 1 "more than one CONFIG given: 'a.toml' and 'b.toml'" "$run" a.toml b.toml
expect 1 "$tmp/missing.toml: cannot open configuration: No such file or directory" "$run" "$tmp/missing.toml"
expect 1 "iterations needs a whole number in .1, 1e9., got 'x'" "$run" --iterations x a.toml
expect 1 "iterations needs a whole number in .1, 1e9., got '0'" "$run" --iterations=0 a.toml
expect 1 "seed needs a whole number in .0, 2147483647., got '-1'" "$run" --seed -1 a.toml
expect 1 "seed needs a whole number in .0, 2147483647., got '2147483648'" "$run" --seed=2147483648 a.toml
expect 1 "output needs the path of the output file" "$run" --output= a.toml
expect 1 "resume continues FILE with the seed of its checkpoint: --seed and --output do not apply" "$run" --resume x.h5 --seed 3
expect 1 "serve samples nothing: --seed, --output and --iterations do not apply" "$run" --serve a.toml --output y.h5
expect 1 "no FILE given" "$diag"
expect 1 "unknown option '--bogus'" "$diag" --bogus
# Mistakes only visible against the mesh: one line naming the file, exit 1.
small="[mesh]
cells = [4, 4]
[observations]
grid = 2
[output]
path = \"$tmp/x.h5\""
printf '%s\n[prior]\nkl_modes = 25\n' "$small" >"$tmp/kl.toml"
expect 1 "^$tmp/kl.toml: \[prior\] kl_modes = 25 must be less than the 25 parameter dofs of this mesh$" "$run" "$tmp/kl.toml"
printf '%s\n[[qoi]]\nname = "far"\nkind = "point"\npoint = [2.0, 0.5]\n' "$small" >"$tmp/qoi.toml"
expect 1 "^$tmp/qoi.toml: \[\[qoi\]\] #1 \"far\": the point is outside the mesh$" "$run" "$tmp/qoi.toml"
printf '1 0 0\n0 1 0\n0 0 1\n' >"$tmp/cov3.txt"
printf '%s\n[noise]\ncovariance_file = "%s"\n' "$small" "$tmp/cov3.txt" >"$tmp/cov.toml"
expect 1 "^$tmp/cov3.txt:1: expected 4 numbers per line \(noise covariance entries, one row per observation\), got 3$" "$run" "$tmp/cov.toml"
printf '1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 -1\n' >"$tmp/cov4.txt"
printf '%s\n[noise]\ncovariance_file = "%s"\n' "$small" "$tmp/cov4.txt" >"$tmp/cov4.toml"
expect 1 "^$tmp/cov4.txt: the noise covariance is not positive definite$" "$run" "$tmp/cov4.toml"
# --check finds them too, before a job is queued (and says nothing else).
expect 1 "^$tmp/kl.toml: \[prior\] kl_modes = 25 must be less than the 25 parameter dofs of this mesh$" "$run" --check "$tmp/kl.toml"
expect 1 "^$tmp/qoi.toml: \[\[qoi\]\] #1 \"far\": the point is outside the mesh$" "$run" --check "$tmp/qoi.toml"
expect 1 "^$tmp/cov4.txt: the noise covariance is not positive definite$" "$run" --check "$tmp/cov4.toml"
printf '[mesh]\nkind = "file"\nfile = "%s"\n[output]\npath = "%s"\n' "$tmp/none.msh" "$tmp/x.h5" >"$tmp/nomesh.toml"
expect 1 "^$tmp/nomesh.toml: \[mesh\] file \"$tmp/none.msh\" cannot be opened: No such file or directory$" "$run" --check "$tmp/nomesh.toml"
printf '[output]\npath = "%s"\n' "$tmp/nodir/x.h5" >"$tmp/nodir.toml"
expect 1 "^$tmp/nodir.toml: \[output\] path \"$tmp/nodir/x.h5\": the directory $tmp/nodir does not exist$" "$run" --check "$tmp/nodir.toml"
: >"$tmp/afile"
expect 1 "^$tmp/nodir.toml: \[output\] path \"$tmp/afile/y.h5\": the directory $tmp/afile is not a directory$" "$run" --check --output "$tmp/afile/y.h5" "$tmp/nodir.toml"
: >"$tmp/exists.h5"
printf '[output]\npath = "%s"\n' "$tmp/exists.h5" >"$tmp/exists.toml"
expect 1 "^$tmp/exists.toml: output file $tmp/exists.h5 exists; a run would refuse to overwrite it \(remove it, pass --force, or set \[output\] overwrite = true\)$" "$run" --check "$tmp/exists.toml"
if ! "$run" --check --force "$tmp/exists.toml" 2>&1 | grep -q "^$tmp/exists.toml: ok$"; then
  echo "FAIL: --check --force of a configuration whose output file exists"; fails=$((fails + 1))
fi
"$run" --check "$tmp/qoi.toml" >"$tmp/out" 2>/dev/null
if grep -q ": ok" "$tmp/out"; then echo "FAIL: --check printed ok for a failing configuration"; fails=$((fails + 1)); fi
echo "not hdf5" >"$tmp/plain.h5"
expect 1 "$tmp/plain.h5: not a readable HDF5 file" "$diag" "$tmp/plain.h5"
echo "checks: $fails failed"
[ "$fails" -eq 0 ]
