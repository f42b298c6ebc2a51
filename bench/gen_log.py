#!/usr/bin/env python3
"""Writes a deterministic, realistic access log in Apache/nginx "combined" format.

    python3 bench/gen_log.py OUT [--lines N] [--seed S] [--json]

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

No path has a `%` escape: GoAccess URL-decodes paths and webpeek does not, and
tests/report.rs compares the two tools' per-path counts on this log.
"""

import argparse
import json
import random
import sys

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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="file to write")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", action="store_true", help="nginx escape=json lines instead of combined")
    args = ap.parse_args()
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
        if args.json:
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
