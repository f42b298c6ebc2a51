#!/usr/bin/env python3
"""Writes a deterministic, realistic access log in Apache/nginx "combined" format, or another.

    python3 bench/gen_log.py OUT [--lines N] [--seed S] [--json | --format NAME]

Defaults: 1,000,000 lines (about 230 MB), seed 2026. The same arguments always give the same
bytes (only `random.Random.random()` and `choices()` are used, whose output is stable across
Python 3 versions).

The mix, one day of traffic of a small site:
- ~2,000 distinct paths with Zipf-like popularity (pages ending in `/`, `.html`, no extension;
  assets .css/.js/.png/.jpg/.svg/.woff2/.ico; a few downloads), plus probes of paths that do
  not exist (`/wp-login.php`, `/.env`, ...) that always get 404;
- a query string on about 12% of requests (searches, paging, utm tags, asset versions);
- methods GET (most), POST, HEAD, and a few OPTIONS/PUT/DELETE; HTTP/1.1, HTTP/2.0, HTTP/1.0;
- statuses 200, 304, 404, 301, 500 (and 206/403 rarely);
- ~40,000 clients, skewed (some very busy, most seen a few times), about 8% of them IPv6;
- referers: none, internal pages, search engines and social sites;
- ~50 user agents including crawlers; about 1 line in 2,000 has an escaped quote (`\\"`) in
  its agent, as Apache writes it;
- timestamps increasing over one day (2026-11-23, zone +0100).

With --json the same requests are written as nginx `log_format ... escape=json` lines
(`{"time_local":"...","remote_addr":"...","request":"...","status":"200",...}`), for the
JSON parser's benchmark.

With --format NAME the same requests (same client, time, method, path, query, status, bytes,
referer and agent, line for line) are written as the product of that name writes them, one
name for each of webpeek's `--format` names (src/parse/mod.rs, NAMED_FORMATS):
- combined (the default), common, vhost_combined / vcombined (`www.example.com:443 ` + combined),
  vcommon; json (= --json);
- w3c: IIS 10 with its `#Software/#Version/#Date/#Fields` header, the default fields plus
  sc-bytes (in IIS's own column order, before time-taken), UTC, `+` for spaces in the agent;
- cloudfront: CloudFront standard logs, tab-separated, `#Version`/`#Fields` header, UTC,
  percent-encoded agent (`%20`, `%22`);
- cloudstorage: Google Cloud Storage usage logs, CSV with its header row, every value quoted,
  `""` for a quote; a bucket served under its own name (`www.example.com`), so cs_uri is the path;
- awselb (Classic ELB), awsalb (ALB), awss3 (S3 server access logs): UTC, `"` in the agent as
  `\"`; a zero byte count is `-` in S3 and `0` elsewhere, as those products write it;
- squid: native access.log (`%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt`),
  `strip_query_terms off` so the query is kept, URLs absolute (a reverse proxy);
- traefik: its CLF access log (combined + request count, router, service URL, `NNms`), which
  writes the agent between quotes as it is (a `"` inside is not escaped);
- haproxy: `option httplog` through syslog (`Nov 22 23:00:00 lb1 haproxy[2184]: ...`), the Host
  and User-Agent captured (`{www.example.com|Mozilla/5.0 ...}`, `"` as `#22`), time in UTC.
The fields a product logs and the generated requests do not have (timings, request ids, edge
locations, ports...) are derived from the line number, so they take nothing from the random
sequence; a field a product does not log (referer and agent in common and vcommon, the referer
in ELB, ALB, Squid and HAProxy, the agent in Squid) is left out.

No path has a `%` escape: GoAccess URL-decodes paths and webpeek does not, and
tests/report.rs compares the two tools' per-path counts on this log.
"""

import argparse
import base64
import calendar
import hashlib
import json
import random
import sys
import time

MONTH = "Nov"
DAY = 23
YEAR = 2026
ZONE = "+0100"

AGENTS = [
    # Desktop browsers
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/114.0.0.0",
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64; Trident/7.0; rv:11.0) like Gecko",
    # Mobile
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Android 14; Mobile; rv:132.0) Gecko/132.0 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    # Crawlers and programs
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/131.0.6778.69 Safari/537.36",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
    "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
    "Mozilla/5.0 (compatible; Applebot/0.1; +http://www.apple.com/go/applebot)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "curl/8.5.0",
    "curl/7.88.1",
    "Wget/1.21.4",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
    "Go-http-client/2.0",
    "okhttp/4.12.0",
    "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 3 subscribers; like FeedFetcher-Google)",
    "NetNewsWire (RSS Reader; https://netnewswire.com/)",
    "zgrab/0.x",
]
AGENT_WEIGHTS = [
    12, 6, 5, 5, 3, 6, 4, 2, 3, 2, 1, 1, 0.3,
    10, 4, 2, 6, 3, 2, 1, 1, 2,
    4, 2, 3, 1, 0.5, 0.5, 1.5, 1.2, 0.6, 0.4, 0.8, 0.6, 0.4, 0.5, 0.4, 0.3, 0.2, 0.5,
    0.6, 0.3, 0.2, 0.4, 0.3, 0.2, 0.2, 0.3, 0.2, 0.2,
]
# An agent with an escaped quote, as Apache writes `"` inside a quoted field.
QUOTED_AGENT = r'Mozilla/5.0 (compatible; \"QuoteBot\" 1.0; +https://example.net/bot)'

EXTERNAL_REFERERS = [
    "https://www.google.com/",
    "https://www.google.de/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://news.ycombinator.com/",
    "https://www.reddit.com/r/programming/",
    "https://t.co/x4Bz9QkR2s",
    "https://www.facebook.com/",
    "https://lobste.rs/",
    "android-app://com.google.android.gm/",
]

WORDS = [
    "rust", "nginx", "logs", "tail", "websocket", "deploy", "cache", "linux", "http2", "tls",
    "docker", "metrics", "latency", "apache", "debian", "config", "proxy", "cdn", "dns", "bench",
]

PROBES = [
    "/wp-login.php", "/wp-admin/", "/.env", "/.git/config", "/xmlrpc.php", "/admin/",
    "/phpmyadmin/", "/config.php", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci", "/server-status", "/actuator/health", "/boaform/admin/formLogin",
    "/.aws/credentials", "/backup.zip", "/old/", "/test.php", "/shell.php", "/api/v1/pods",
    "/owa/auth/logon.aspx", "/remote/login", "/HNAP1/", "/solr/admin/info/system", "/console/",
    "/login.action", "/.DS_Store", "/sitemap.xml.gz", "/wp-content/plugins/", "/info.php",
    "/debug/default/view", "/telescope/requests", "/.well-known/security.txt", "/ads.txt",
    "/apple-touch-icon.png", "/apple-touch-icon-precomposed.png", "/manifest.json",
    "/_ignition/health-check", "/geoserver/web/", "/mifs/.;/services/LogService", "/jenkins/",
]


def make_paths(rng):
    """About 2,000 paths of a site, in popularity order (index 0 = most popular)."""
    pages = ["/", "/about/", "/blog/", "/docs/", "/contact.html", "/pricing", "/search", "/feed.xml"]
    for i in range(600):
        pages.append("/blog/%d/%s-%s.html" % (2015 + i % 11, WORDS[i % 20], WORDS[(i * 7 + 3) % 20] + str(i)))
    for i in range(400):
        pages.append("/docs/%s/%s/" % (WORDS[i % 20], WORDS[(i * 3 + 1) % 20] + "-" + str(i)))
    for i in range(300):
        pages.append("/products/item-%d" % i)
    for i in range(80):
        pages.append("/tag/%s%d/" % (WORDS[i % 20], i // 20))
    assets = ["/favicon.ico", "/robots.txt", "/static/css/site.css", "/static/js/app.js"]
    for i in range(250):
        assets.append("/static/img/photo-%d.jpg" % i)
    for i in range(200):
        assets.append("/static/img/icon-%s-%d.png" % (WORDS[i % 20], i))
    for i in range(60):
        assets.append("/static/js/chunk-%03d.js" % i)
    for i in range(40):
        assets.append("/static/css/page-%03d.css" % i)
    for i in range(30):
        assets.append("/static/fonts/font-%d.woff2" % i)
    for i in range(20):
        assets.append("/static/svg/logo-%d.svg" % i)
    for i in range(12):
        assets.append("/downloads/release-1.%d.tar.gz" % i)
    # Interleave: the head is a mix of the busiest pages and assets, as on a real site.
    head = pages[:8] + assets[:4]
    tail = pages[8:] + assets[4:]
    # Deterministic shuffle (Fisher-Yates with rng.random()).
    for i in range(len(tail) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        tail[i], tail[j] = tail[j], tail[i]
    return head + tail


def make_clients(rng, n):
    out = []
    for i in range(n):
        if rng.random() < 0.08:
            out.append("2001:db8:%x:%x::%x" % (int(rng.random() * 65536), int(rng.random() * 65536), int(rng.random() * 65536) + 1))
        else:
            first = [203, 198, 192, 100, 81, 93, 37, 5, 185, 62][int(rng.random() * 10)]
            out.append("%d.%d.%d.%d" % (first, int(rng.random() * 256), int(rng.random() * 256), 1 + int(rng.random() * 254)))
    return out


def cumulative(weights):
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


FORMATS = [
    "combined", "common", "vhost_combined", "vcombined", "vcommon", "json", "w3c", "cloudfront",
    "cloudstorage", "awselb", "awsalb", "awss3", "squid", "traefik", "haproxy",
]
VHOST = "www.example.com"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
# 00:00 on DAY in ZONE, as Unix seconds: the products that log UTC start at 23:00 the day before.
DAY_START = calendar.timegm((YEAR, MONTHS.index(MONTH) + 1, DAY, 0, 0, 0)) - (
    (1 if ZONE[0] == "+" else -1) * (int(ZONE[1:3]) * 3600 + int(ZONE[3:5]) * 60))

W3C_FIELDS = ("date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
              "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status sc-bytes time-taken")
CLOUDFRONT_FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) "
    "cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header "
    "cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
    "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end")
CLOUDSTORAGE_FIELDS = [
    "time_micros", "c_ip", "c_ip_type", "c_ip_region", "cs_method", "cs_uri", "sc_status",
    "cs_bytes", "sc_bytes", "time_taken_micros", "cs_host", "cs_referer", "cs_user_agent",
    "s_request_id", "cs_operation", "cs_bucket", "cs_object",
]
EDGES = ["FRA56-P1", "FRA60-P3", "AMS58-P2", "CDG52-P4", "LHR61-P5", "IAD89-C1", "LAX50-C3"]
CONTENT_TYPES = {
    "html": "text/html", "css": "text/css", "js": "application/javascript", "png": "image/png",
    "jpg": "image/jpeg", "svg": "image/svg+xml", "woff2": "font/woff2", "ico": "image/x-icon",
    "txt": "text/plain", "xml": "application/xml", "gz": "application/gzip",
    "json": "application/json", "php": "text/html", "zip": "application/zip",
}
# CloudFront percent-encodes these in the agent (and `%` itself).
PERCENT = {c: "%%%02X" % ord(c) for c in ' "%<>\\^`{|}'}


def line_id(i, n):
    """`n` bytes that look random, the same for line `i` every time."""
    return hashlib.blake2b(i.to_bytes(8, "little"), digest_size=n).digest()


def content_type(path):
    last = path.rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[-1] if "." in last else "html"
    return CONTENT_TYPES.get(ext, "text/html")


class Writer:
    """Writes one request as the product named `fmt` logs it (everything but combined/json).

    The fields the generated request does not have are derived from the line number `i`, never
    from the random sequence, so every format gets the same requests.
    """

    def __init__(self, fmt, n, write):
        self.fmt, self.n, self.write = fmt, n, write
        self.sec = -1
        self.line = getattr(self, "line_" + fmt.replace("vcombined", "vhost_combined"))

    def clock(self, sec):
        """UTC renderings of the line's second, computed once per second."""
        if sec == self.sec:
            return
        self.sec = sec
        t = time.gmtime(DAY_START + sec)
        self.utc_date = "%04d-%02d-%02d" % (t.tm_year, t.tm_mon, t.tm_mday)
        self.utc_time = "%02d:%02d:%02d" % (t.tm_hour, t.tm_min, t.tm_sec)
        self.clf_utc = "%02d/%s/%04d:%s" % (t.tm_mday, MONTHS[t.tm_mon - 1], t.tm_year, self.utc_time)
        self.syslog = "%s %2d %s" % (MONTHS[t.tm_mon - 1], t.tm_mday, self.utc_time)

    def micros(self, i):
        """The microseconds within the line's second (lines are evenly spread over the day)."""
        return i * 86_400 % self.n * 1_000_000 // self.n

    def header(self):
        w = self.write
        if self.fmt == "w3c":
            self.clock(0)
            w("#Software: Microsoft Internet Information Services 10.0\n")
            w("#Version: 1.0\n")
            w("#Date: %s %s\n" % (self.utc_date, self.utc_time))
            w("#Fields: %s\n" % W3C_FIELDS)
        elif self.fmt == "cloudfront":
            w("#Version: 1.0\n")
            w("#Fields: %s\n" % CLOUDFRONT_FIELDS)
        elif self.fmt == "cloudstorage":
            w(",".join('"%s"' % f for f in CLOUDSTORAGE_FIELDS) + "\n")

    # -- NCSA and its kin ----------------------------------------------------------------------

    def line_common(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        self.write('%s - - %s "%s %s %s" %d %s\n' % (ip, ts, method, path, proto, status, size))

    def line_vhost_combined(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        self.write('%s:443 %s - - %s "%s %s %s" %d %s "%s" "%s"\n'
                   % (VHOST, ip, ts, method, path, proto, status, size, ref, agent))

    def line_vcommon(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        self.write('%s:443 %s - - %s "%s %s %s" %d %s\n' % (VHOST, ip, ts, method, path, proto, status, size))

    def line_traefik(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        # Traefik quotes the agent as it is (no escape for a `"` inside) and logs sizes as numbers.
        router, port = ("static@file", 8080) if path.startswith("/static/") else ("website@docker", 80)
        self.write('%s - - %s "%s %s %s" %d %d "%s" "%s" %d "%s" "http://172.17.0.%d:%d" %dms\n' % (
            ip, ts, method, path, proto, status, 0 if size == "-" else int(size), ref,
            agent.replace('\\"', '"'), i + 1, router, 2 + i % 3, port, i * 7 % 97))

    # -- W3C: IIS, CloudFront, Cloud Storage ---------------------------------------------------

    def line_w3c(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        self.clock(sec)
        stem, _, query = path.partition("?")
        self.write("%s %s 10.0.0.4 %s %s %s 443 - %s %s %s %d 0 0 %s %d\n" % (
            self.utc_date, self.utc_time, method, stem, query or "-", ip,
            agent.replace('\\"', '"').replace(" ", "+"), ref, status,
            "0" if size == "-" else size, 15 + i * 7 % 250))

    def line_cloudfront(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        self.clock(sec)
        stem, _, query = path.partition("?")
        agent = agent.replace('\\"', '"')
        if any(c in PERCENT for c in agent):
            agent = "".join(PERCENT.get(c, c) for c in agent)
        result = "Error" if status >= 400 else "RefreshHit" if status == 304 else ("Hit", "Miss", "Hit")[i % 3]
        request_id = base64.urlsafe_b64encode(line_id(i, 39)).decode()
        taken = "%.3f" % ((1 + i * 13 % 400) / 1000)
        self.write("\t".join((
            self.utc_date, self.utc_time, EDGES[len(ip) % len(EDGES)], "0" if size == "-" else size,
            ip, method, "d111111abcdef8.cloudfront.net", stem, str(status), ref, agent,
            query or "-", "-", result, request_id, VHOST, "https", str(300 + i * 31 % 900), taken,
            "-", "TLSv1.3", "TLS_AES_128_GCM_SHA256", result, proto, "-", "-",
            str(1024 + i * 7919 % 64000), taken, result, content_type(stem), size, "-", "-")) + "\n")

    def line_cloudstorage(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        stem = path.partition("?")[0]
        request_id = line_id(i, 24).hex()
        self.write(",".join('"%s"' % v for v in (
            str((DAY_START + sec) * 1_000_000 + self.micros(i)), ip, "2" if ":" in ip else "1", "",
            method, path, str(status), "0", "0" if size == "-" else size, str(20_000 + i * 7919 % 900_000),
            VHOST, "" if ref == "-" else ref, agent.replace('\\"', '""'), request_id,
            method + "_Object", VHOST, stem[1:])) + "\n")

    # -- AWS -----------------------------------------------------------------------------------

    def line_awselb(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        self.clock(sec)
        self.write('%sT%s.%06dZ my-loadbalancer %s:%d 10.0.0.%d:80 0.000%03d 0.00%04d 0.000%03d %d %d %d %s "%s https://%s:443%s %s" "%s" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2\n' % (
            self.utc_date, self.utc_time, self.micros(i), ip, 1024 + i * 7919 % 64000, 10 + i % 3,
            20 + i % 80, 100 + i * 37 % 9000, 10 + i % 50, status, status,
            180 + i * 13 % 700,
            0 if size == "-" else size, method, VHOST, path, proto, agent))

    def line_awsalb(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        self.clock(sec)
        us = self.micros(i)
        kind = "h2" if proto == "HTTP/2.0" else "https"
        rid = line_id(i, 28).hex()
        trace = "Root=1-%08x-%s" % (DAY_START + sec, rid[:24])
        self.write('%s %sT%s.%06dZ app/my-loadbalancer/50dc6c495c0c9188 %s:%d 10.0.0.%d:80 0.000 0.%03d 0.000 %d %d %d %s "%s https://%s:443%s %s" "%s" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/web/73e2d6bc24d8a067 "%s" "%s" "arn:aws:acm:eu-central-1:123456789012:certificate/12345678-1234-1234-1234-123456789012" 0 %sT%s.%06dZ "forward" "-" "-" "10.0.0.%d:80" "%d" "-" "-" TID_%s\n' % (
            kind, self.utc_date, self.utc_time, us, ip, 1024 + i * 7919 % 64000, 10 + i % 3,
            i * 37 % 900, status, status,
            180 + i * 13 % 700,
            0 if size == "-" else size, method, VHOST, path, proto, agent, trace, VHOST,
            self.utc_date, self.utc_time, max(0, us - 1000), 10 + i % 3, status, rid[24:]))

    def line_awss3(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        # A bucket named after the site (a static website, virtual-hosted): the request's path
        # is the object's key. S3 writes `-` for no bytes.
        self.clock(sec)
        stem = path.partition("?")[0]
        op = "REST.OPTIONS.PREFLIGHT" if method == "OPTIONS" else "REST.%s.OBJECT" % method
        error = {403: "AccessDenied", 404: "NoSuchKey", 500: "InternalError", 301: "PermanentRedirect"}.get(status, "-")
        sent = "-" if size in ("-", "0") else size
        host_id = base64.b64encode(line_id(i, 57)).decode()
        self.write('79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be %s [%s +0000] %s - %s %s %s "%s %s %s" %d %s %s %s %d %d "%s" "%s" - %s SigV4 ECDHE-RSA-AES128-GCM-SHA256 - %s.s3.eu-central-1.amazonaws.com TLSv1.2 - -\n' % (
            VHOST, self.clf_utc, ip, line_id(i, 8).hex().upper(), op, stem[1:] or "-", method, path,
            proto, status, error, sent, sent, 5 + i % 60, 3 + i % 40, ref, agent, host_id, VHOST))

    # -- Proxies -------------------------------------------------------------------------------

    def line_squid(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        # A reverse proxy (accel mode): the URL is absolute; `strip_query_terms off`.
        stem = path.partition("?")[0]
        static = stem.startswith("/static/") or stem == "/favicon.ico"
        if status == 304:
            code, hier = "TCP_IMS_HIT", "HIER_NONE/-"
        elif static and status == 200:
            code, hier = ("TCP_MEM_HIT", "TCP_HIT")[i % 2], "HIER_NONE/-"
        else:
            code, hier = "TCP_MISS", "HIER_DIRECT/10.0.0.%d" % (10 + i % 3)
        self.write("%d.%03d %6d %s %s/%03d %s %s https://%s%s - %s %s\n" % (
            DAY_START + sec, self.micros(i) // 1000, i * 37 % 2000, ip, code, status,
            "0" if size == "-" else size, method, VHOST, path, hier,
            "-" if size in ("-", "0") else content_type(stem)))

    def line_haproxy(self, i, sec, ts, ip, method, path, proto, status, size, ref, agent):
        # option httplog through syslog, with `capture request header Host len 64` and
        # `capture request header User-Agent len 128` (`"` becomes #22, as HAProxy encodes it).
        self.clock(sec)
        tr = i * 37 % 400
        captured = agent.replace('\\"', '"')[:128].replace("#", "#23").replace('"', "#22")
        self.write('%s lb1 haproxy[2184]: %s:%d [%s.%03d] https-in~ web/srv%d 0/0/1/%d/%d %d %s - - ---- %d/%d/0/0/0 0/0 {%s|%s} "%s %s %s"\n' % (
            self.syslog, ip, 1024 + i * 7919 % 64000, self.clf_utc, self.micros(i) // 1000,
            1 + i % 3, tr, tr + 2, status, "0" if size == "-" else size, 5 + i % 20, 3 + i % 10,
            VHOST, captured, method, path, proto))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="file to write")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", action="store_true", help="nginx escape=json lines instead of combined")
    ap.add_argument("--format", choices=FORMATS, default=None,
                    help="write the requests as this product writes them (webpeek's --format names)")
    args = ap.parse_args()
    fmt = args.format or ("json" if args.json else "combined")
    if args.json and fmt != "json":
        ap.error("--json and --format %s disagree" % fmt)
    n = args.lines
    rng = random.Random(args.seed)

    paths = make_paths(rng)
    path_cw = cumulative([1.0 / (r + 1) ** 1.05 for r in range(len(paths))])
    clients = make_clients(rng, 40_000)
    client_cw = cumulative([1.0 / (r + 1) ** 0.8 for r in range(len(clients))])
    agent_cw = cumulative(AGENT_WEIGHTS)
    assert len(AGENTS) == len(AGENT_WEIGHTS) == 50

    path_ix = rng.choices(range(len(paths)), cum_weights=path_cw, k=n)
    client_ix = rng.choices(range(len(clients)), cum_weights=client_cw, k=n)
    # Each client keeps one agent (mostly): pick per client, then per line occasionally another.
    client_agent = rng.choices(range(len(AGENTS)), cum_weights=agent_cw, k=len(clients))

    month_day = "%02d/%s/%d" % (DAY, MONTH, YEAR)
    out = open(args.out, "w", encoding="utf-8", newline="\n")
    buf = []
    write = buf.append
    emit = None if fmt in ("combined", "json") else Writer(fmt, n, write)
    if emit:
        emit.header()
    rnd = rng.random
    for i in range(n):
        sec = i * 86_400 // n
        ts = "[%s:%02d:%02d:%02d %s]" % (month_day, sec // 3600, sec // 60 % 60, sec % 60, ZONE)
        ip = clients[client_ix[i]]
        r = rnd()
        if r < 0.025:
            path = PROBES[int(rnd() * len(PROBES))]
            status = 404
        else:
            path = paths[path_ix[i]]
            s = rnd()
            if s < 0.80:
                status = 200
            elif s < 0.91:
                status = 304
            elif s < 0.945:
                status = 404
            elif s < 0.975:
                status = 301
            elif s < 0.988:
                status = 500
            elif s < 0.995:
                status = 206
            else:
                status = 403
        q = rnd()
        if q < 0.04:
            path += "?q=%s+%s" % (WORDS[int(rnd() * 20)], WORDS[int(rnd() * 20)])
        elif q < 0.07:
            path += "?page=%d" % (2 + int(rnd() * 9))
        elif q < 0.10:
            path += "?utm_source=newsletter&utm_medium=email&utm_campaign=nov%d" % int(rnd() * 4)
        elif q < 0.12:
            path += "?v=%d" % (100 + int(rnd() * 3))
        m = rnd()
        method = "GET" if m < 0.93 else "POST" if m < 0.97 else "HEAD" if m < 0.995 else ("OPTIONS", "PUT", "DELETE")[int(rnd() * 3)]
        p = rnd()
        proto = "HTTP/1.1" if p < 0.62 else "HTTP/2.0" if p < 0.97 else "HTTP/1.0"
        if status == 304 or method == "HEAD":
            size = "-" if rnd() < 0.5 else "0"
        elif status == 301:
            size = str(162 + int(rnd() * 40))
        elif status >= 400:
            size = str(150 + int(rnd() * 400))
        else:
            size = str(200 + int(rnd() * rnd() * 300_000))
        f = rnd()
        if f < 0.40:
            ref = "-"
        elif f < 0.82:
            ref = "https://www.example.com" + paths[int(rnd() * rnd() * 200)]
        else:
            ref = EXTERNAL_REFERERS[int(rnd() * len(EXTERNAL_REFERERS))]
        a = rnd()
        if a < 0.0005:
            agent = QUOTED_AGENT
        elif a < 0.05:
            agent = AGENTS[int(rnd() * len(AGENTS))]
        else:
            agent = AGENTS[client_agent[client_ix[i]]]
        if emit:
            emit.line(i, sec, ts, ip, method, path, proto, status, size, ref, agent)
        elif fmt == "json":
            # As nginx writes escape=json: every value a string; Apache's \" becomes JSON's.
            write(json.dumps({
                "time_local": ts[1:-1],
                "remote_addr": ip,
                "request": "%s %s %s" % (method, path, proto),
                "status": str(status),
                "body_bytes_sent": "0" if size == "-" else size,
                "http_referer": ref,
                "http_user_agent": agent.replace('\\"', '"'),
            }, separators=(",", ":")) + "\n")
        else:
            write('%s - - %s "%s %s %s" %d %s "%s" "%s"\n' % (ip, ts, method, path, proto, status, size, ref, agent))
        if len(buf) >= 10_000:
            out.write("".join(buf))
            buf.clear()
    out.write("".join(buf))
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
