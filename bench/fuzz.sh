#!/usr/bin/env bash
# Fuzzes every parser entry point for a bounded time each (not part of CI).
# Usage: bench/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]   (default 60, every target)
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 lets the stable toolchain provide them.
# Every crash found becomes a unit test in src/parse (the input is in fuzz/artifacts/TARGET/).
# A target with a dictionary (fuzz/TARGET.dict) gets it; the columns target starts from a few
# lines of each column format (bench/gen_log.py --format NAME) when its corpus is empty.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(clf template json columns)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
printf '| target | seconds | runs | result |\n|---|---|---|---|\n'
for target in "${targets[@]}"; do
  log=$(mktemp)
  extra=()
  [ -f "fuzz/$target.dict" ] && extra+=("-dict=$PWD/fuzz/$target.dict")
  corpus=fuzz/corpus/$target
  if [ "$target" = columns ] && [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
    mkdir -p "$corpus"
    for f in w3c cloudfront cloudstorage awselb awsalb awss3 squid haproxy; do
      python3 bench/gen_log.py "$corpus/seed-$f" --format "$f" --lines 4
    done
  fi
  if cargo fuzz run "$target" -- -max_total_time="$secs" -rss_limit_mb=2048 "${extra[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH: see fuzz/artifacts/$target/"
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo '?')
  printf '| %s | %s | %s | %s |\n' "$target" "$secs" "$runs" "$result"
  rm -f "$log"
done
