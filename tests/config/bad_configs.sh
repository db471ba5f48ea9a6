#!/usr/bin/env bash
# Every tests/config/bad/*.toml must make `mcmc-run --check` exit 1 and print
# exactly one line on stderr: "FILE:" followed by the text of the file's
# first line "# expect: LINE:COL: message" (location, key and value).
run=$1 dir=$2
fails=0 n=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$dir" || exit 2
for f in *.toml; do
  n=$((n + 1))
  want="$f:$(head -1 "$f" | sed -n 's/^# expect: //p')"
  "$run" --check "$f" >"$tmp/out" 2>"$tmp/err"
  code=$?
  got=$(cat "$tmp/err")
  if [ "$code" -ne 1 ] || [ "$got" != "$want" ] || [ -s "$tmp/out" ] || [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
    printf 'FAIL %s: exit %d (want 1)\n  got:  %s\n  want: %s\n' "$f" "$code" "$got" "$want"
    fails=$((fails + 1))
  fi
done
echo "bad configurations: $n checked, $fails failed"
[ "$fails" -eq 0 ] && [ "$n" -ge 30 ]
