#!/usr/bin/env bash
# JetStream replay: how fast a hub that starts rebuilds its dashboard from a stream holding a
# day of hits, beside how fast the same hub rebuilds it from the log file itself
# (`--from-start`), in the same run; and how fast one publisher fills the stream.
#
# Usage: bench/jetstream.sh [LOG]   (default: bench/data/access-1m.log, one day, generated if
#        missing). Needs nats-server (apt-get install nats-server). Everything on 127.0.0.1,
#        everything killed at the end; every wait bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
log=${1:-bench/data/access-1m.log}
if [ ! -f "$log" ]; then mkdir -p "$(dirname "$log")"; python3 bench/gen_log.py "$log"; fi
command -v nats-server >/dev/null || { echo "needs nats-server: apt-get install nats-server"; exit 1; }
cargo build --release -q
bin=$PWD/target/release/webpeek
lines=$(wc -l < "$log")
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
peak() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
# Polls (every 20 ms, at most $2 seconds) until the command $1 succeeds.
wait_until() {
  local deadline=$(( $(date +%s) + $2 ))
  until eval "$1"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out waiting for: $1"; exit 1; }
    sleep 0.02
  done
}

nport=$(free_port); mport=$(free_port)
nats-server -a 127.0.0.1 -p "$nport" -m "$mport" -js -sd "$work/store" > "$work/nats.log" 2>&1 &
pids+=($!)
wait_until "curl -sf http://127.0.0.1:$mport/healthz > /dev/null" 10
url=nats://127.0.0.1:$nport
# Messages and bytes the stream holds.
stream_state() {
  curl -s "http://127.0.0.1:$mport/jsz?streams=true" | python3 -c 'import json,sys
d=json.load(sys.stdin); s=[x for a in d.get("account_details",[]) for x in a.get("stream_detail",[]) if x["name"]=="BENCH"]
print("%d %d" % (s[0]["state"]["messages"], s[0]["state"]["bytes"]) if s else "0 0")'
}

cat "$log" > /dev/null # the page cache warm for everyone alike

# 1. One publisher sends the whole log (every request: --all) into the stream.
t0=$(now)
"$bin" publish --nats "$url" --name web1 --jetstream BENCH --all --from-start "$log" 2> "$work/publish.log" &
ppid=$!; pids+=($ppid)
last=""; stable_since=$(now); t_last=$t0
deadline=$(( $(date +%s) + 600 ))
while :; do
  state=$(stream_state)
  if [ "$state" != "$last" ]; then last=$state; t_last=$(now); stable_since=$t_last; fi
  # Done when the stream has not grown for 2 s.
  [ "${state%% *}" -gt 0 ] && [ "$(echo "$(now) - $stable_since > 2" | bc)" = 1 ] && break
  [ "$(date +%s)" -lt $deadline ] || { echo "publishing timed out at $state"; exit 1; }
  sleep 0.1
done
t_publish=$(echo "$t_last - $t0" | bc)
rss_publish=$(peak $ppid)
kill -TERM $ppid; wait $ppid 2>/dev/null || true
hits=$(grep -o 'published [0-9]* hits' "$work/publish.log" | grep -o '[0-9]*' || echo 0)
read -r messages bytes <<< "$(stream_state)"

# 2. A hub that starts replays the stream into its stats, charts and backlog.
hport=$(free_port)
t0=$(now)
"$bin" --listen 127.0.0.1:$hport --no-dns --nats "$url" --jetstream BENCH 2> "$work/hub.log" &
hpid=$!; pids+=($hpid)
wait_until "grep -q 'following it live' '$work/hub.log'" 300
t_hub=$(echo "$(now) - $t0" | bc)
rss_hub=$(peak $hpid)
said=$(grep -o 'replayed [0-9]* hits in [0-9.]* s' "$work/hub.log")
t_replay=$(echo "$said" | awk '{print $5}')
total=$(curl -s "http://127.0.0.1:$hport/api/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
kill $hpid; wait $hpid 2>/dev/null || true

# 3. The reference: the same hub catching up from the log file itself.
cport=$(free_port)
t0=$(now)
"$bin" --listen 127.0.0.1:$cport --no-dns --from-start "$log" 2> /dev/null &
cpid=$!; pids+=($cpid)
wait_until "curl -s http://127.0.0.1:$cport/api/stats | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d[\"total\"]+d[\"unparsed\"] < $lines)' 2>/dev/null" 300
t_catchup=$(echo "$(now) - $t0" | bc)
rss_catchup=$(peak $cpid)

echo "$(basename "$log"): $lines lines; stream BENCH: $messages messages, $(( bytes / 1000000 )) MB; hub counted $total of $hits hits published"
echo
printf '| step | hits | seconds | hits/s | peak RSS MB |\n|---|---|---|---|---|\n'
row() { printf '| %s | %s | %.2f | %.0f | %s |\n' "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l)" "$4"; }
row "publish: the log into the stream, every message acknowledged" "$hits" "$t_publish" "$rss_publish"
row "hub replay: the stream into stats, charts, backlog (its own log line)" "$total" "$t_replay" "$rss_hub"
row "hub replay: from process start until replayed" "$total" "$t_hub" "$rss_hub"
row "reference: the same hub catching up from the file (--from-start)" "$lines" "$t_catchup" "$rss_catchup"
