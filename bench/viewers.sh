#!/usr/bin/env bash
# Many viewers: webpeek, the floor (bench/viewers/floor.rs: nothing but a non-blocking `writev`
# to each socket in turn, to show what the machine allows) and a minimal axum broadcast server
# (bench/viewers/reference.rs), each with 1,000 then 10,000 WebSocket viewers while 1,000
# lines/s are appended to a log for 30 s.
# One table: connect time, latency (append → frame read by the client, and append → its bytes in
# the viewer's socket, from the kernel's receive stamp; p50/p99 over 100 viewers that parse every
# frame), the server's CPU and memory (over the 30 s of traffic and 2 s more), viewers that
# got every hit, viewers that lost some (a gap, `lagged`, or closed), how long after the writer
# stopped (+2 s) the last viewer had the last hit, frames/s per viewer, and what happened to one
# viewer that stopped reading.
#
# Usage: bench/viewers.sh [VIEWERS...]
#   default: 1000 10000; SECONDS_RUN=30 RATE=1000 SERVERS="webpeek floor reference";
#   FLOOR_THREADS=1; KEEP=1 keeps the run directories (the servers' logs, each client's JSON);
#   SERVER_CPUS=0 CLIENT_CPUS=1 pins the server and the viewers' clients to CPUs of their own
#   (`taskset -c`), to see the server's part apart from the viewers' (it does not bring the
#   viewers' CPU off this machine: see README, "Many viewers").
# Everything listens on and connects from 127.0.0.x only; every server and client is killed on
# exit. Takes ~8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("${@:-1000}")
[ $# -eq 0 ] && counts=(1000 10000)
seconds=${SECONDS_RUN:-30}
rate=${RATE:-1000}
servers=${SERVERS:-webpeek floor reference}
per_process=5000 # viewers per client process: each stays well within 20,000 open files
sample=100       # viewers that parse every frame for the latency

cargo build --release -q --bin webpeek --example viewers-client --example viewers-reference --example viewers-floor
target=${CARGO_TARGET_DIR:-target}/release
webpeek=$target/webpeek
client=$target/examples/viewers-client
reference=$target/examples/viewers-reference
floor=$target/examples/viewers-floor

# Every process gets as many descriptors as allowed (20,000 here).
ulimit -n "$(ulimit -Hn)"

# `taskset -c CPUS` when pinning is asked for, nothing otherwise.
server_pin=() client_pin=()
if [ -n "${SERVER_CPUS:-}" ]; then server_pin=(taskset -c "$SERVER_CPUS"); fi
if [ -n "${CLIENT_CPUS:-}" ]; then client_pin=(taskset -c "$CLIENT_CPUS"); fi

work=$(mktemp -d /tmp/webpeek-viewers.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# Waits (at most $2 s) until the command in $1 succeeds.
wait_for() {
  local deadline=$(( $(date +%s) + $2 ))
  until eval "$1"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "timed out waiting for: $1" >&2; return 1; fi
    sleep 0.1
  done
}
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k { print $2 }'; }

# A full backlog (1,000 hits) before the viewers come, as for a dashboard opened mid-day.
prefill() {
  local t
  t=$(date -u +%d/%b/%Y:%H:%M:%S)
  for i in $(seq 1 1000); do
    echo "203.0.113.$(( i % 250 + 1 )) - - [$t +0000] \"GET /old/$i HTTP/1.1\" 200 5120 \"https://example.com/\" \"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\""
  done > "$1"
}

run() {
  local server=$1 n=$2
  local dir=$work/$server-$n
  mkdir -p "$dir"
  local log=$dir/access.log port pid tailer=
  prefill "$log"
  port=$(free_port)
  if [ "$server" = webpeek ]; then
    "${server_pin[@]}" "$webpeek" --listen "127.0.0.1:$port" --no-dns --from-start --name bench \
      --max-viewers 20000 --max-viewers-per-ip 20000 "$log" 2> "$dir/server.err" &
    pid=$!
    pids+=("$pid")
    wait_for "curl -sf http://127.0.0.1:$port/healthz > /dev/null" 20
    wait_for "[ \"\$(metric $port webpeek_shown_total)\" = 1000 ]" 20
  else
    # The reference and the floor read the lines from `tail -F` on their stdin.
    local cmd=("$reference" "127.0.0.1:$port")
    if [ "$server" = floor ]; then cmd=("$floor" "127.0.0.1:$port" "${FLOOR_THREADS:-1}"); fi
    mkfifo "$dir/lines"
    "${server_pin[@]}" "${cmd[@]}" < "$dir/lines" > "$dir/server.out" 2> "$dir/server.err" &
    pid=$!
    pids+=("$pid")
    tail -n0 -F "$log" > "$dir/lines" 2> /dev/null &
    tailer=$!
    pids+=("$tailer")
    wait_for "grep -q listening $dir/server.out" 20
  fi
  sleep 1
  local baseline
  baseline=$(rss_kb "$pid")

  # Viewers: 5,000 per process at most, each process from its own address (127.0.0.2, .3, ...).
  local procs=$(( (n + per_process - 1) / per_process )) p last_hit
  # The last hit's number: webpeek's seq (after the 1,000 of the backlog), the floor's seq (from
  # 1, no backlog), the reference's line index (from 0).
  case $server in
    webpeek) last_hit=$(( 1000 + rate * seconds )) ;;
    floor) last_hit=$(( rate * seconds )) ;;
    *) last_hit=$(( rate * seconds - 1 )) ;;
  esac
  # "Connected" includes the backlog (webpeek's 1,000 hits; the reference has none).
  local backlog_last=0
  if [ "$server" = webpeek ]; then backlog_last=1000; fi
  local views=()
  # The floor sends webpeek's kind of frames.
  local mode=$server
  if [ "$server" = floor ]; then mode=webpeek; fi
  # The viewer that stops reading right after the upgrade, in a process of its own that holds
  # it open until webpeek has had the time to drop it (the others may exit sooner).
  "$client" view --url "ws://127.0.0.1:$port/ws" --mode "$mode" --viewers 0 --stalled 1 \
    --bind 127.0.0.2 --stop "$dir/released" --final 0 --drain 0 > /dev/null 2> "$dir/stalled.err" &
  local stalled_client=$! stalled_since
  stalled_since=$(date +%s)
  pids+=("$stalled_client")
  for p in $(seq 0 $(( procs - 1 ))); do
    local mine=$(( n / procs + (p < n % procs ? 1 : 0) ))
    "${client_pin[@]}" chrt -b 0 "$client" view --url "ws://127.0.0.1:$port/ws" --mode "$mode" --viewers "$mine" \
      --bind "127.0.0.$(( p + 2 ))" --sample $(( sample / procs )) \
      --stop "$dir/stop" --final "$last_hit" --drain 20 --ready "$dir/ready-$p" --backlog "$backlog_last" \
      > "$dir/view-$p.json" 2> "$dir/view-$p.err" &
    views+=($!)
    pids+=($!)
  done
  for p in $(seq 0 $(( procs - 1 ))); do wait_for "[ -f $dir/ready-$p ]" 300; done

  # The run: CPU and memory watched while the lines are appended, then 2 s to drain.
  "$client" watch --pid "$pid" --stop "$dir/stop" > "$dir/watch.json" &
  local watcher=$!
  pids+=("$watcher")
  "$client" write --log "$log" --rate "$rate" --count $(( rate * seconds ))
  sleep 2
  touch "$dir/stop"
  wait "$watcher"
  # The viewers get up to 20 s more to reach the last hit ("last hit after").
  for v in "${views[@]}"; do wait "$v"; done

  local stalled
  if [ "$server" = webpeek ]; then
    # The stalled viewer stopped reading right after its upgrade; webpeek drops it 30 s
    # after its socket stopped taking data (or 60 s after its last pong).
    wait_for "[ \"\$(metric $port 'webpeek_dropped_viewers_total{reason=\"slow\"}')\" -ge 1 ] 2>/dev/null || [ \"\$(metric $port 'webpeek_dropped_viewers_total{reason=\"silent\"}')\" -ge 1 ] 2>/dev/null" 40 || true
    local slow silent
    slow=$(metric "$port" 'webpeek_dropped_viewers_total{reason="slow"}')
    silent=$(metric "$port" 'webpeek_dropped_viewers_total{reason="silent"}')
    if [ "${slow:-0}" -ge 1 ] || [ "${silent:-0}" -ge 1 ]; then
      stalled="read nothing; dropped (/metrics: slow $slow, silent $silent; read $(( $(date +%s) - stalled_since )) s after it connected)"
    else
      stalled="read nothing; not dropped yet"
    fi
  elif [ "$server" = floor ]; then
    stalled="kept; only its own socket is full (no write timeout)"
  else
    stalled="kept, its sender blocked (no write timeout)"
  fi
  touch "$dir/released"
  wait "$stalled_client" || true
  printf '{"server":"%s","viewers":%d,"baseline_kb":%d,"stalled":"%s"}\n' \
    "$server" "$n" "$baseline" "$stalled" > "$dir/meta.json"
  kill "$pid" $tailer 2>/dev/null || true
  wait "$pid" $tailer 2>/dev/null || true
  grep -h 'view\|write' "$dir"/view-*.err >&2 || true
  rows+=("$dir")
}

rows=()
for n in "${counts[@]}"; do
  for server in $servers; do
    echo "== $server, $n viewers" >&2
    run "$server" "$n"
  done
done
echo
echo "$(date -u +%F) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $rate lines/s for $seconds s; latency over $sample viewers"
"$client" table "${rows[@]}"
