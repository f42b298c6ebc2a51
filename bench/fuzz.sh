#!/usr/bin/env bash
# Fuzzes every parser entry point for a bounded time each (not part of CI).
# Usage: bench/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 lets the stable toolchain provide them.
# Every crash found becomes a unit test in src/parse (the input is in fuzz/artifacts/TARGET/).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
printf '| target | seconds | runs | result |\n|---|---|---|---|\n'
for target in clf template json; do
  log=$(mktemp)
  if cargo fuzz run "$target" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH: see fuzz/artifacts/$target/"
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo '?')
  printf '| %s | %s | %s | %s |\n' "$target" "$secs" "$runs" "$result"
  rm -f "$log"
done
