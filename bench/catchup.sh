#!/usr/bin/env bash
# How fast `webpeek --from-start` makes the dashboard whole on an existing log, beside
# `webpeek report`, `cat` and `wc -l` on the same file in the same run, with webpeek's peak
# memory (VmHWM) for each.
#
# Usage: bench/catchup.sh [LOG]   (default: bench/data/access-1m.log, generated if missing;
#        bench/data/access-5m.log — 1.1 GB — is made with `python3 bench/gen_log.py FILE --lines 5000000`)
set -euo pipefail
cd "$(dirname "$0")/.."
log=${1:-bench/data/access-1m.log}
if [ ! -f "$log" ]; then mkdir -p "$(dirname "$log")"; python3 bench/gen_log.py "$log"; fi
cargo build --release -q
bin=target/release/webpeek
lines=$(wc -l < "$log"); mb=$(( $(stat -c %s "$log") / 1000000 ))
now() { date +%s.%N; }
# Peak resident memory of a finished or running process, in MB.
peak() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

cat "$log" > /dev/null # warm the page cache for everyone alike
t0=$(now); cat "$log" > /dev/null; t_cat=$(echo "$(now) - $t0" | bc)
t0=$(now); wc -l "$log" > /dev/null; t_wc=$(echo "$(now) - $t0" | bc)

# webpeek report, polled for its peak memory while it runs.
t0=$(now)
"$bin" report "$log" > /tmp/catchup-report.json 2>/dev/null &
rpid=$!
rss_report=0
while kill -0 $rpid 2>/dev/null; do r=$(peak $rpid); [ "$r" != "?" ] && rss_report=$r; sleep 0.02; done
wait $rpid
t_report=$(echo "$(now) - $t0" | bc)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
t0=$(now)
"$bin" --listen 127.0.0.1:$port --no-dns --from-start "$log" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
deadline=$(( $(date +%s) + 300 ))
while :; do
  s=$(curl -s "http://127.0.0.1:$port/api/stats" || true)
  done_lines=$(echo "$s" | python3 -c 'import json,sys
try: d=json.load(sys.stdin); print(d["total"]+d["unparsed"])
except Exception: print(0)')
  [ "$done_lines" -ge "$lines" ] && break
  [ "$(date +%s)" -lt $deadline ] || { echo "timed out at $done_lines lines"; exit 1; }
  sleep 0.02
done
t_wp=$(echo "$(now) - $t0" | bc)
rss_wp=$(peak $pid)
same=$(python3 - "$port" <<'EOF'
import json, sys, urllib.request
live = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/stats"))
report = json.load(open("/tmp/catchup-report.json"))
keys = ["requests", "page_views", "bytes", "pages", "static", "not_found", "errors", "codes"]
diff = [k for k in keys if live["panels"]["all"][k] != report["panels"][k]]
print("same panels as report" if not diff else "differs: " + ",".join(diff))
EOF
)

printf '| %s: %s lines, %s MB | seconds | MB/s | lines/s | peak RSS MB |\n|---|---|---|---|---|\n' "$(basename "$log")" "$lines" "$mb"
for row in "cat:$t_cat:-" "wc -l:$t_wc:-" "webpeek report (all cores):$t_report:$rss_report" "webpeek --from-start until /api/stats has every line ($same):$t_wp:$rss_wp"; do
  IFS=: read -r name t rss <<< "$row"
  printf '| %s | %.2f | %.0f | %.0f | %s |\n' "$name" "$t" "$(echo "$mb / $t" | bc -l)" "$(echo "$lines / $t" | bc -l)" "$rss"
done
