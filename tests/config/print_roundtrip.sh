#!/usr/bin/env bash
# mcmc-run --print-config prints a configuration that is valid and prints
# back identically (the header comment names the file, so it is skipped).
run=$1
shift
fails=0 n=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$@"; do
  n=$((n + 1))
  if ! "$run" --print-config "$f" >"$tmp/a.toml" || ! "$run" --print-config "$tmp/a.toml" >"$tmp/b.toml" ||
    ! diff <(tail -n +2 "$tmp/a.toml") <(tail -n +2 "$tmp/b.toml"); then
    echo "FAIL: $f"
    fails=$((fails + 1))
  fi
done
echo "round trips: $n, $fails failed"
[ "$fails" -eq 0 ]
