#!/usr/bin/env bash
# Batch throughput (DESIGN.md section 6, issue 4): one table from one run on a generated
# 1,000,000-line combined log.
#
#   bench/throughput.sh [LOG]
#
# Builds the release binary and the parse bench, generates bench/data/access-1m.log with
# bench/gen_log.py if it is missing (bench/data/ is git-ignored), warms the page cache, then
# times, best of 3 runs each, one after another (never two at once):
#   - `wc -l LOG`                          the floor: reading the file and counting newlines
#   - parser alone                         `cargo bench --bench parse`: LogFormat::Combined.parse
#                                          over the lines held in memory, one thread
#   - the other parsers alone             the same requests as an Apache LogFormat string, an
#                                          nginx log_format string, and JSON lines (LOG's .json
#                                          twin, generated with gen_log.py --json)
#   - `webpeek report --threads 1 LOG`     everything: read, parse, all aggregates, JSON out
#   - `webpeek report --threads 2 LOG`
#   - GoAccess (Debian `goaccess`)         `goaccess LOG --log-format=COMBINED -o OUT.json`
# and prints MB/s (10^6 bytes of log per second), lines/s and the ratios. It also checks that
# webpeek and GoAccess counted the same requests.
#
# The machine is a shared 2-core VM: other work on it shows up as noise; best-of-3 takes the
# least disturbed run. Ratios are from the same run, minutes apart at most.
set -euo pipefail
cd "$(dirname "$0")/.."

LOG=${1:-bench/data/access-1m.log}
if [ ! -s "$LOG" ]; then
  mkdir -p "$(dirname "$LOG")"
  echo "== generating $LOG (bench/gen_log.py, 1,000,000 lines)" >&2
  python3 bench/gen_log.py "$LOG"
fi

JSONLOG=${LOG%.log}.json
if [ ! -s "$JSONLOG" ]; then
  echo "== generating $JSONLOG (bench/gen_log.py --json, the same requests as JSON lines)" >&2
  python3 bench/gen_log.py "$JSONLOG" --json --lines "$(wc -l <"$LOG")"
fi

echo "== cargo build --release" >&2
cargo build --release 2>&1 | tail -1 >&2
cargo bench --bench parse --no-run 2>&1 | tail -1 >&2
BIN=target/release/webpeek

cat "$LOG" >/dev/null # page cache
SIZE=$(stat -c %s "$LOG")
LINES=$(wc -l <"$LOG")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# best3 NAME CMD...: runs CMD 3 times (output to $TMP/NAME.out), prints the best wall time in s.
best3() {
  local name=$1 best="" t0 t1 s
  shift
  for _ in 1 2 3; do
    t0=$(date +%s%N)
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || {
      echo "failed: $* (see below)" >&2
      cat "$TMP/$name.err" >&2
      exit 1
    }
    t1=$(date +%s%N)
    s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
    if [ -z "$best" ] || awk -v x="$s" -v y="$best" 'BEGIN { exit !(x < y) }'; then best=$s; fi
  done
  echo "$best"
}

echo "== timing (best of 3 each)" >&2
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_WC=$(best3 wc wc -l "$LOG")
PARSE_JSON=$(cargo bench --bench parse -- "$LOG" 3 2>/dev/null | tail -1)
T_PARSE=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$PARSE_JSON")
PARSE_BYTES=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["parsed"]==d["lines"], d; print(d["bytes"])' "$PARSE_JSON")
# The other parsers on the same requests: the combined format given as an Apache LogFormat and
# as an nginx log_format string (the same file), and nginx escape=json lines (generated).
APACHE_FMT='%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"'
NGINX_FMT='$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
cargo bench --bench parse -- "$LOG" 3 "--format=$APACHE_FMT" 2>/dev/null | tail -1 >"$TMP/parse-apache.json"
cargo bench --bench parse -- "$LOG" 3 "--format=$NGINX_FMT" 2>/dev/null | tail -1 >"$TMP/parse-nginx.json"
cargo bench --bench parse -- "$JSONLOG" 3 --format=json 2>/dev/null | tail -1 >"$TMP/parse-json.json"
T_R1=$(best3 r1 "$BIN" report --threads 1 "$LOG")
T_R2=$(best3 r2 "$BIN" report --threads 2 "$LOG")
if command -v goaccess >/dev/null; then
  GOACCESS_VERSION=$(goaccess --version | head -1 | tr -d '\n')
  T_GA=$(best3 ga goaccess "$LOG" --log-format=COMBINED -o "$TMP/goaccess.json")
else
  GOACCESS_VERSION="not installed (apt-get install goaccess)"
  T_GA=""
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$SIZE" "$LINES" "$T_WC" "$T_PARSE" "$PARSE_BYTES" "$T_R1" "$T_R2" "${T_GA:-0}" \
  "$TMP" "$GOACCESS_VERSION" "$LOAD_BEFORE" "$LOAD_AFTER" "$LOG" <<'EOF'
import json, os, platform, sys
size, lines = int(sys.argv[1]), int(sys.argv[2])
t_wc, t_parse, parse_bytes, t_r1, t_r2, t_ga = map(float, sys.argv[3:9])
tmp, ga_version, load0, load1, log = sys.argv[9:14]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")

mbs = lambda t, b=size: b / t / 1e6
rows = [
    ("`wc -l`", t_wc, mbs(t_wc), lines / t_wc, 1.0, None),
    ("parser alone, 1 core (in memory)", t_parse, mbs(t_parse, parse_bytes), lines / t_parse,
     mbs(t_parse, parse_bytes) / mbs(t_wc), None),
    ("`webpeek report --threads 1`", t_r1, mbs(t_r1), lines / t_r1, mbs(t_r1) / mbs(t_wc), None),
    ("`webpeek report --threads 2`", t_r2, mbs(t_r2), lines / t_r2, mbs(t_r2) / mbs(t_wc), None),
]
if t_ga > 0:
    rows.append(("GoAccess `--log-format=COMBINED -o x.json`", t_ga, mbs(t_ga), lines / t_ga,
                 mbs(t_ga) / mbs(t_wc), None))
print(f"webpeek batch throughput: {log}, {size/1e6:.1f} MB, {lines:,} lines")
print(f"machine: {os.cpu_count()} vCPU ({cpu}), shared VM; load average {load0} before, {load1} after")
print(f"GoAccess: {ga_version}")
print()
print("| what | best of 3 | MB/s | lines/s | × wc -l | × GoAccess |")
print("|---|---:|---:|---:|---:|---:|")
for name, t, mb, ls, vs_wc, _ in rows:
    vs_ga = f"{mb / mbs(t_ga):.1f}" if t_ga > 0 else "-"
    print(f"| {name} | {t:.3f} s | {mb:,.0f} | {ls:,.0f} | {vs_wc:.2f} | {vs_ga} |")
print()
print(f"parser alone: {mbs(t_parse, parse_bytes)/1e3:.2f} GB/s per core "
      f"(bytes of line text, newlines excluded; goal 2.5)")
print(f"report, 1 thread: {mbs(t_r1)/1e3:.2f} GB/s (goal 1.0); 2 threads: {mbs(t_r2)/1e3:.2f} GB/s "
      f"({t_r1 / t_r2:.2f}x the 1-thread speed)")

print()
print("The parser alone, 1 core, in memory, per format (every line must parse):")
print()
print("| format | MB/s | lines/s |")
print("|---|---:|---:|")
print(f"| combined (`--format combined`, or detected) | {mbs(t_parse, parse_bytes):,.0f} | {lines / t_parse:,.0f} |")
for name, file in [("the same, as an Apache `LogFormat` string", "parse-apache.json"),
                   ("the same, as an nginx `log_format` string", "parse-nginx.json"),
                   ("JSON lines, nginx `escape=json` (same requests)", "parse-json.json")]:
    d = json.load(open(os.path.join(tmp, file)))
    assert d["parsed"] == d["lines"], (file, d)
    print(f"| {name} | {d['bytes'] / d['seconds'] / 1e6:,.0f} | {d['lines_per_s']:,.0f} |")
print()

# Same totals as GoAccess?
r = json.load(open(os.path.join(tmp, "r1.out")))
r2 = json.load(open(os.path.join(tmp, "r2.out")))
r.pop("seconds"); r2.pop("seconds")
print(f"--threads 1 and --threads 2 reports identical (but for seconds): {'yes' if r == r2 else 'NO'}")
if t_ga > 0:
    g = json.load(open(os.path.join(tmp, "goaccess.json")))["general"]
    same = g["valid_requests"] == r["total"] and g["failed_requests"] == r["unparsed"] + r["truncated"]
    print(f"requests: webpeek {r['total']:,} parsed + {r['unparsed']:,} unparsed; GoAccess "
          f"{g['valid_requests']:,} valid + {g['failed_requests']:,} failed: {'same' if same else 'DIFFERENT'}")
EOF

# Robustness, on request (not in CI): FUZZ_SECONDS=60 bench/throughput.sh also fuzzes every
# parser entry point for that long (bench/fuzz.sh; the first run builds cargo-fuzz).
if [ -n "${FUZZ_SECONDS:-}" ]; then
  echo
  bench/fuzz.sh "$FUZZ_SECONDS"
fi
