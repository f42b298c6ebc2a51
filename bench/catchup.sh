#!/usr/bin/env bash
# How fast `webpeek --from-start` catches up with an existing log (issue 3: "at full disk
# speed"), beside `cat` and `wc -l` on the same file in the same run.
# Usage: bench/catchup.sh [LOG]   (default: bench/data/access-1m.log, generated if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
log=${1:-bench/data/access-1m.log}
if [ ! -f "$log" ]; then mkdir -p "$(dirname "$log")"; python3 bench/gen_log.py "$log"; fi
cargo build --release -q
bin=target/release/webpeek
lines=$(wc -l < "$log"); mb=$(( $(stat -c %s "$log") / 1000000 ))
now() { date +%s.%N; }
t0=$(now); cat "$log" > /dev/null; t_cat=$(echo "$(now) - $t0" | bc)
t0=$(now); wc -l "$log" > /dev/null; t_wc=$(echo "$(now) - $t0" | bc)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
t0=$(now)
"$bin" --listen 127.0.0.1:$port --no-dns --from-start "$log" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
deadline=$(( $(date +%s) + 120 ))
while :; do
  s=$(curl -s "http://127.0.0.1:$port/api/stats" || true)
  done_lines=$(echo "$s" | python3 -c 'import json,sys
try: d=json.load(sys.stdin); print(d["total"]+d["unparsed"])
except Exception: print(0)')
  [ "$done_lines" -ge "$lines" ] && break
  [ "$(date +%s)" -lt $deadline ] || { echo "timed out at $done_lines lines"; exit 1; }
  sleep 0.05
done
t_wp=$(echo "$(now) - $t0" | bc)
printf '| %s: %s lines, %s MB | seconds | MB/s | lines/s |\n|---|---|---|---|\n' "$(basename "$log")" "$lines" "$mb"
for row in "cat:$t_cat" "wc -l:$t_wc" "webpeek --from-start (parse, filter, enrich, hub):$t_wp"; do
  name=${row%%:*}; t=${row##*:}
  printf '| %s | %.2f | %.0f | %.0f |\n' "$name" "$t" "$(echo "$mb / $t" | bc -l)" "$(echo "$lines / $t" | bc -l)"
done
