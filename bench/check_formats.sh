#!/usr/bin/env bash
# Checks bench/gen_log.py --format NAME against webpeek and GoAccess (not part of CI).
#
#   bench/check_formats.sh [LINES]        (default 20,000)
#
# For every named format it generates LINES requests, then:
#   - `webpeek report --threads 1 --format NAME`: every request line read (total = lines less
#     header lines, unparsed 0), and the same aggregates as the combined log of the same requests
#     but for what the format does not log (referers: common, vcommon, awselb, awsalb, squid,
#     haproxy), and the same report with `--threads 2` (the file read in two ranges);
#   - where GoAccess has the name, `goaccess FILE --log-format=NAME --no-global-config -o x.json`:
#     general.failed_requests, and the lines it fails on, explained where known.
# Prints one table; exits 1 when webpeek does not read a file whole.
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-20000}
BIN=target/release/webpeek
cargo build --release 2>&1 | tail -1 >&2
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
NAMES="combined common vhost_combined vcombined vcommon w3c cloudfront cloudstorage awselb awsalb awss3 squid traefik haproxy"
for f in $NAMES; do
  python3 bench/gen_log.py "$DIR/$f.log" --format "$f" --lines "$LINES"
  "$BIN" report --threads 1 --format "$f" "$DIR/$f.log" >"$DIR/$f.report.json" 2>/dev/null
  "$BIN" report --threads 2 --format "$f" "$DIR/$f.log" >"$DIR/$f.report2.json" 2>/dev/null
  ga=$(echo "$f" | tr a-z A-Z)
  case $f in
  vhost_combined) ga=VCOMBINED ;;
  combined | common | vcombined | vcommon | w3c | cloudfront | cloudstorage | awselb | awsalb | awss3 | squid) ;;
  *) ga="" ;;
  esac
  if [ -n "$ga" ] && command -v goaccess >/dev/null; then
    goaccess "$DIR/$f.log" --log-format="$ga" --no-global-config -o "$DIR/$f.goaccess.json" \
      >/dev/null 2>"$DIR/$f.goaccess.err" || true
    echo "$ga" >"$DIR/$f.goaccess.name"
  fi
done

python3 - "$DIR" "$NAMES" <<'EOF'
import json, os, sys
d, names = sys.argv[1], sys.argv[2].split()
ref = json.load(open(os.path.join(d, "combined.report.json")))
no_referer = {"common", "vcommon", "awselb", "awsalb", "squid", "haproxy"}
bad = False
print("| format | request lines | webpeek total | unparsed | same aggregates as combined | --threads 2 the same | GoAccess | failed |")
print("|---|---:|---:|---:|---|---|---|---:|")
for f in names:
    path = os.path.join(d, f + ".log")
    with open(path, "rb") as fh:
        lines = fh.read().split(b"\n")[:-1]
    headers = sum(1 for l in lines[:8] if l.startswith(b"#") or l.startswith(b'"time_micros"'))
    requests = len(lines) - headers
    r = json.load(open(os.path.join(d, f + ".report.json")))
    differs = [k for k in ["total", "bytes", "visitors", "codes", "methods", "first", "last"] if r[k] != ref[k]]
    differs += ["top." + k for k, v in ref["top"].items()
                if r["top"].get(k) != v and not (k == "referers" and f in no_referer)]
    r2 = json.load(open(os.path.join(d, f + ".report2.json")))
    differs2 = [k for k in r if k not in ("seconds", "top") and r2.get(k) != r[k]]
    differs2 += ["top." + k for k, v in r["top"].items() if r2["top"].get(k) != v]
    ok = r["total"] == requests and r["unparsed"] == 0
    bad |= not ok
    ga, failed = "-", ""
    if os.path.exists(os.path.join(d, f + ".goaccess.name")):
        ga = "`" + open(os.path.join(d, f + ".goaccess.name")).read().strip() + "`"
        try:
            g = json.load(open(os.path.join(d, f + ".goaccess.json")))["general"]
            failed = f"{g['failed_requests']:,}"
            # Known causes: GoAccess splits `client:port` at the first colon (an IPv6 client),
            # and takes Cloud Storage's header row for a request.
            v6 = sum(1 for l in lines[headers:] if l.split(b" ")[3 if f == "awsalb" else 2].count(b":") > 1) \
                if f in ("awselb", "awsalb") else 0
            why = []
            if v6 and g["failed_requests"] >= v6:
                why.append(f"{v6:,} IPv6 clients")
            if f == "cloudstorage" and g["failed_requests"] >= 1:
                why.append("the header row")
            if why:
                failed += " (" + ", ".join(why) + ")"
        except (OSError, ValueError):
            err = open(os.path.join(d, f + ".goaccess.err")).read()
            failed = "no output: " + ("format errors" if "Format Errors" in err else "failed")
    print(f"| {f} | {requests:,} | {r['total']:,} | {r['unparsed']:,} | "
          f"{'yes' if not differs else 'no: ' + ', '.join(differs)} | "
          f"{'yes' if not differs2 else 'no: ' + ', '.join(differs2)} | {ga} | {failed} |")
sys.exit(1 if bad else 0)
EOF
