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
expect 1 "no FILE given" "$diag"
expect 1 "unknown option '--bogus'" "$diag" --bogus
echo "not hdf5" >"$tmp/plain.h5"
expect 1 "$tmp/plain.h5: not a readable HDF5 file" "$diag" "$tmp/plain.h5"
echo "checks: $fails failed"
[ "$fails" -eq 0 ]
