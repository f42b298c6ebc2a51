//! Named log formats against GoAccess 1.7 (Debian's `goaccess`).
//!
//! tests/data/formats/ holds one real-looking sample per format, written the way the product's
//! documentation says the product writes it (header lines, quoting, time style, IPv6 clients,
//! `-1` timers, encoded agents, ...). For every sample `webpeek report --format NAME` must read
//! every request line (none unparsed) and count the status codes, first and last times written
//! there. Where GoAccess can read the product's log, with its predefined name or with a
//! format string given here, both reports must agree key by key
//! (`common::goaccess::assert_same_totals`: requests, bytes, status classes and codes, hits per
//! path, methods, hosts, referers).
//!
//! Where GoAccess's definition disagrees with what the product writes, the case says so, with
//! the product documentation's wording. Lines the product writes that GoAccess 1.7 cannot read
//! at all (an IPv6 client written `address:port`) are left out of the copy both tools are
//! compared on, and webpeek must still read them in the whole sample.
//!
//! Without `goaccess` installed the GoAccess half of each test is skipped with a message.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::goaccess;
use serde_json::Value;

/// One named format and its sample.
struct Case {
    /// The `--format` name.
    format: &'static str,
    /// The sample, in tests/data/formats/.
    file: &'static str,
    /// Request lines in the sample (header lines and header rows are not requests).
    requests: u64,
    /// Their status codes, as written.
    codes: &'static [(&'static str, u64)],
    /// The first and last request times, to the second, in UTC (`None`: the product logs no
    /// time zone).
    span: Option<(&'static str, &'static str)>,
    /// How GoAccess reads the product's log, if it can.
    goaccess: Option<GoAccess>,
}

/// GoAccess's side of a case.
struct GoAccess {
    /// `--log-format=…`, and `--date-format`/`--time-format` where the name does not imply them.
    args: &'static [&'static str],
    /// A prefix GoAccess cannot take on some lines only: both tools compare the sample with it
    /// removed from every line (and webpeek must give the same report either way).
    strip: Option<fn(&str) -> &str>,
    /// Lines the product writes that GoAccess cannot read: both tools compare the sample
    /// without them.
    unreadable: Option<fn(&str) -> bool>,
    /// How many lines `unreadable` takes out.
    unreadable_lines: u64,
    /// Header rows GoAccess counts as failed requests, where webpeek skips them.
    header_rows: u64,
}

/// Status codes of the traffic most samples carry: a reader on Firefox, Googlebot, a reader on
/// Chrome from a search engine, a monitoring curl, a phone from a newsletter, a scanner and
/// another reader; the last two readers over IPv6.
const CODES: &[(&str, u64)] = &[
    ("200", 35),
    ("301", 2),
    ("304", 5),
    ("404", 5),
    ("500", 1),
    ("503", 2),
];

fn sample(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats")
        .join(file)
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `webpeek report --top 1000000 --format FORMAT LOG`, checks it succeeded, returns the JSON.
fn report(format: &str, log: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args([
            "report",
            "--top",
            "1000000",
            "--format",
            format,
            path_str(log),
        ])
        .env("WEBPEEK_LOG", "warn")
        .output()
        .expect("run webpeek");
    assert!(
        out.status.success(),
        "webpeek report --format {format} {}: {}\n{}",
        log.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The report without what differs between two inputs holding the same requests.
fn without_files(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("seconds");
    o.remove("files");
    o.remove("lines");
    v
}

/// Whether field `i` (space-separated) is an IPv6 address with its port appended, as the AWS
/// load balancers and HAProxy write an IPv6 client (`2001:db8::1f:44316`).
fn ipv6_with_port(line: &str, i: usize) -> bool {
    line.split(' ')
        .nth(i)
        .is_some_and(|f| f.matches(':').count() > 1)
}

/// A line without its syslog prefix (`Feb  6 12:14:14 lb1 haproxy[14389]: `), if it has one.
fn strip_syslog(line: &str) -> &str {
    const MONTHS: [&str; 12] = [
        "Jan ", "Feb ", "Mar ", "Apr ", "May ", "Jun ", "Jul ", "Aug ", "Sep ", "Oct ", "Nov ",
        "Dec ",
    ];
    if MONTHS.iter().any(|m| line.starts_with(m))
        && let Some(i) = line.find("]: ")
    {
        return &line[i + 3..];
    }
    line
}

fn check(c: &Case) {
    let path = sample(c.file);
    let w = report(c.format, &path);
    assert_eq!(
        w["unparsed"], 0,
        "--format {}: unparsed lines: {w}",
        c.format
    );
    assert_eq!(w["total"], c.requests, "--format {}: requests", c.format);
    let codes: BTreeMap<String, u64> = c.codes.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    let w_codes: BTreeMap<String, u64> = w["codes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(w_codes, codes, "--format {}: status codes", c.format);
    if let Some((first, last)) = c.span {
        assert_eq!(
            (w["first"].as_str(), w["last"].as_str()),
            (Some(first), Some(last)),
            "--format {}: first and last request",
            c.format
        );
    }

    let Some(ga) = &c.goaccess else {
        return;
    };
    if !goaccess::on_path("goaccess") {
        eprintln!(
            "{}: GoAccess comparison SKIPPED, goaccess is not installed (apt-get install goaccess)",
            c.format
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut compared = (w, path);
    if let Some(strip) = ga.strip {
        let stripped: String = text.lines().map(|l| format!("{}\n", strip(l))).collect();
        let log = dir.path().join(format!("stripped-{}", c.file));
        std::fs::write(&log, stripped).unwrap();
        let ws = report(c.format, &log);
        assert_eq!(
            without_files(ws.clone()),
            without_files(compared.0.clone()),
            "--format {}: the same requests with and without the prefix",
            c.format
        );
        compared = (ws, log);
    }
    if let Some(unreadable) = ga.unreadable {
        let text = std::fs::read_to_string(&compared.1).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| !unreadable(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let dropped = text.lines().count() - kept.lines().count();
        assert_eq!(
            dropped as u64, ga.unreadable_lines,
            "{}: lines left out",
            c.format
        );
        let log = dir.path().join(format!("readable-{}", c.file));
        std::fs::write(&log, kept).unwrap();
        let wr = report(c.format, &log);
        assert_eq!(
            wr["total"].as_u64().unwrap() + dropped as u64,
            c.requests,
            "--format {}: requests without the lines left out",
            c.format
        );
        compared = (wr, log);
    }
    let (w, log) = compared;

    let mut g = goaccess::report(&log, ga.args);
    if ga.header_rows > 0 {
        let general = g["general"].as_object_mut().unwrap();
        for key in ["failed_requests", "total_requests"] {
            let n = general[key].as_u64().unwrap();
            assert!(n >= ga.header_rows, "{}: GoAccess {key} {n}", c.format);
            general.insert(key.to_string(), (n - ga.header_rows).into());
        }
    }
    goaccess::assert_same_totals(&w, &g);
}

/// A sample with each of its request lines passed through `edit` (which may make one line
/// several), read by webpeek (`--format FORMAT`) and, when it is installed, by GoAccess
/// (`ga_args`): both must agree key by key. Returns webpeek's report.
fn edited(format: &str, file: &str, ga_args: &[&str], edit: impl Fn(&str) -> String) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let text: String = std::fs::read_to_string(sample(file))
        .unwrap()
        .lines()
        .map(|l| match l.starts_with('#') {
            true => format!("{l}\n"),
            false => format!("{}\n", edit(l)),
        })
        .collect();
    let log = dir.path().join(file);
    std::fs::write(&log, text).unwrap();
    let w = report(format, &log);
    if goaccess::on_path("goaccess") {
        goaccess::assert_same_totals(&w, &goaccess::report(&log, ga_args));
    } else {
        eprintln!("{format}: GoAccess comparison SKIPPED, goaccess is not installed");
    }
    w
}

/// CloudFront and Squid log `000` for a request the client aborted before a response, and codes
/// outside 100–599 belong to no status class. GoAccess counts such lines as failed; webpeek
/// counts them as unparsed, so its totals are GoAccess's and its classes add up to its total.
#[test]
fn statuses_outside_100_to_599_are_unparsed_lines() {
    const ODD: [&str; 4] = ["000", "099", "600", "999"];
    /// A line with its status replaced by another (unchanged if the status is not 200).
    type WithStatus = fn(&str, &str) -> String;
    // After every line with a 200, a copy of it with each odd status in its place.
    let cases: [(&str, &str, &[&str], u64, WithStatus); 3] = [
        (
            "combined",
            "combined.log",
            &["--log-format=COMBINED"],
            60,
            |l, code| l.replacen("\" 200 ", &format!("\" {code} "), 1),
        ),
        (
            "cloudfront",
            "cloudfront.log",
            &["--log-format=CLOUDFRONT"],
            50,
            |l, code| {
                let mut fields: Vec<&str> = l.split('\t').collect();
                if fields[8] != "200" {
                    return l.to_string();
                }
                fields[8] = code;
                fields.join("\t")
            },
        ),
        (
            "squid",
            "squid.log",
            &[
                "--log-format=%x.%^ %~%L %h %^/%s %b %m %U %^",
                "--date-format=%s",
                "--time-format=%s",
            ],
            56,
            |l, code| l.replacen("/200 ", &format!("/{code} "), 1),
        ),
    ];
    for (format, file, ga_args, requests, odd) in cases {
        let with_odd = |l: &str| {
            let copies: Vec<String> = ODD.iter().map(|code| odd(l, code)).collect();
            if copies[0] == l {
                return l.to_string();
            }
            format!("{l}\n{}", copies.join("\n"))
        };
        let w = edited(format, file, ga_args, with_odd);
        let twos = w["codes"]["200"].as_u64().unwrap();
        assert_eq!(
            (w["total"].as_u64(), w["unparsed"].as_u64()),
            (Some(requests), Some(4 * twos)),
            "{format}"
        );
        let classes: u64 = w["status"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(
            classes, requests,
            "{format}: the classes add up to the total"
        );
    }
}

/// nginx fills `$remote_user` from any Basic `Authorization` header, spaces and all, and writes
/// it as it came: a user name with spaces is still a request, as GoAccess reads it.
#[test]
fn a_user_name_with_spaces() {
    let w = edited(
        "combined",
        "combined.log",
        &["--log-format=COMBINED"],
        |l| l.replacen(" - - [", " - frank smith [", 1),
    );
    assert_eq!(
        (w["total"].as_u64(), w["unparsed"].as_u64()),
        (Some(60), Some(0))
    );
    let w = edited("vcommon", "vcommon.log", &["--log-format=VCOMMON"], |l| {
        l.replacen(" - - [", " - Frank Q. Smith [", 1)
    });
    assert_eq!(
        (w["total"].as_u64(), w["unparsed"].as_u64()),
        (Some(50), Some(0))
    );
}

// ---------------------------------------------------------------------------------------------
// The cases.

/// The harness itself, on a format webpeek has always had: 60 lines of `bench/gen_log.py
/// --seed 23`.
#[test]
fn combined() {
    check(&Case {
        format: "combined",
        file: "combined.log",
        requests: 60,
        codes: &[("200", 52), ("301", 2), ("304", 5), ("404", 1)],
        span: Some(("2026-11-22T23:00:00Z", "2026-11-23T22:36:00Z")),
        goaccess: Some(GoAccess {
            args: &["--log-format=COMBINED"],
            strip: None,
            unreadable: None,
            unreadable_lines: 0,
            header_rows: 0,
        }),
    });
}

/// Debian's Apache `vhost_combined` (`%v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\"
/// \"%{User-Agent}i\"`): three virtual hosts, the plain-HTTP one redirecting. GoAccess
/// VCOMBINED (`%v:%^ %h %^[%d:%t %^] "%r" %s %b "%R" "%u"`) agrees.
#[test]
fn vcombined() {
    check(&Case {
        format: "vcombined",
        file: "vcombined.log",
        requests: 50,
        codes: CODES,
        span: Some(("2026-11-23T07:00:09Z", "2026-11-23T07:17:44Z")),
        goaccess: Some(GoAccess {
            args: &["--log-format=VCOMBINED"],
            strip: None,
            unreadable: None,
            unreadable_lines: 0,
            header_rows: 0,
        }),
    });
}

/// `vhost:port` then common, as GoAccess VCOMMON reads it (`%v:%^ %h %^[%d:%t %^] "%r" %s %b`):
/// `%b` is `-` for no body, and one user authenticated.
///
/// Disagreement: Apache's own documentation (mod_log_config, "Common Log Format with Virtual
/// Host") gives `"%v %h %l %u %t \"%r\" %>s %b"`, the virtual host without a port; GoAccess
/// VCOMMON requires the `:port` and reads no line written that way. The sample follows
/// GoAccess's layout.
#[test]
fn vcommon() {
    check(&Case {
        format: "vcommon",
        file: "vcommon.log",
        requests: 50,
        codes: CODES,
        span: Some(("2026-11-23T07:00:04Z", "2026-11-23T07:21:32Z")),
        goaccess: Some(GoAccess {
            args: &["--log-format=VCOMMON"],
            strip: None,
            unreadable: None,
            unreadable_lines: 0,
            header_rows: 0,
        }),
    });
}

/// IIS W3C extended with IIS's default fields (`#Fields: date time s-ip cs-method cs-uri-stem
/// cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus
/// sc-win32-status time-taken`), times in UTC, spaces in the agent written `+`, and a second
/// header block where the application pool recycled.
///
/// GoAccess W3C (`%d %t %^ %m %U %q %^ %^ %h %u %R %s %^ %^ %L`) is exactly this field list by
/// position: it ignores the `#Fields:` line, so it misreads a site that logs another selection
/// (IIS lets each site choose). There is no sc-bytes in the default set: no bytes on either side.
/// GoAccess appends cs-uri-query to its request keys even with `--no-query-string` (`/?-` where
/// the field is `-`): the comparison cuts it (`common::goaccess::requests`).
#[test]
fn w3c() {
    check(&Case {
        format: "w3c",
        file: "w3c.log",
        requests: 50,
        codes: CODES,
        span: Some(("2026-11-23T07:00:16Z", "2026-11-23T07:19:53Z")),
        goaccess: Some(GoAccess {
            args: &["--log-format=W3C"],
            strip: None,
            unreadable: None,
            unreadable_lines: 0,
            header_rows: 0,
        }),
    });
}

/// CloudFront standard log (legacy): `#Version` and `#Fields` headers and all 33 tab-separated
/// fields, the agent percent-encoded (`Mozilla/5.0%20(X11;...`), a CloudFront redirect to
/// https, some HTTP/3.0.
///
/// GoAccess CLOUDFRONT reads the first 25 fields by position and agrees with the documented
/// order. Its bandwidth is sc-bytes, which AWS documents as "The total number of bytes that the
/// server sent to the viewer in response to the request, including headers"; the body alone is
/// sc-content-len. Its vhost (`%v`) is cs(Host), the distribution's own domain name
/// (d111111abcdef8.cloudfront.net), not x-host-header. As for W3C, GoAccess appends
/// cs-uri-query to its request keys even with `--no-query-string`; the comparison cuts it.
#[test]
fn cloudfront() {
    check(&Case {
        format: "cloudfront",
        file: "cloudfront.log",
        requests: 50,
        codes: CODES,
        span: Some(("2026-11-23T06:30:16Z", "2026-11-23T06:46:57Z")),
        goaccess: Some(GoAccess {
            args: &["--log-format=CLOUDFRONT"],
            strip: None,
            unreadable: None,
            unreadable_lines: 0,
            header_rows: 0,
        }),
    });
}

/// Google Cloud Storage usage logs: CSV with the header row naming the 17 fields, every value
/// quoted, times in microseconds since the epoch, no referer written `""`, a website bucket
/// and one JSON API upload.
///
/// GoAccess CLOUDSTORAGE (`"%x","%h",%^,%^,"%m","%U","%s",%^,"%b","%D",%^,"%R","%u"`) agrees
/// by position, but has no notion of the header row every usage log file starts with: it
/// counts it as a failed request (its `failed_requests` is 1 on this sample; the header row is
/// taken off its counts before comparing). Its bandwidth is sc_bytes.
#[test]
fn cloudstorage() {
    check(&Case {
        format: "cloudstorage",
        file: "cloudstorage.log",
        requests: 50,
        codes: CODES,
        span: Some(("2026-11-23T09:00:40Z", "2026-11-23T09:16:09Z")),
        goaccess: Some(GoAccess {
            args: &["--log-format=CLOUDSTORAGE"],
            strip: None,
            unreadable: None,
            unreadable_lines: 0,
            header_rows: 1,
        }),
    });
}

/// Classic Load Balancer: `timestamp elb client:port backend:port request_processing_time
/// backend_processing_time response_processing_time elb_status_code backend_status_code
/// received_bytes sent_bytes "request" "user_agent" ssl_cipher ssl_protocol`, the request target
/// in absolute form, `- -1 -1 -1 503 0` where no back end was healthy, `- -` for TLS on the
/// HTTP listener.
///
/// Disagreements: GoAccess 1.7's AWSELB (`%^ %dT%t.%^ %^ %h:%^ %^ %^ %T %^ %s %^ %^ %b "%r" "%u"
/// %k %K %^ "%^" "%v"`) is an Application Load Balancer line (a `type` field first, then
/// trace_id and domain_name at the end): it reads no Classic Load Balancer line, which starts
/// with the timestamp. The format string below is the classic layout. And an IPv6 client is
/// written `address:port` without brackets (`2001:db8::1f:44316`); GoAccess's `%h:%^` cuts it
/// at the first colon and fails the line (GoAccess issue #2557): those 16 lines are left out
/// of the comparison.
#[test]
fn awselb() {
    check(&Case {
        format: "awselb",
        file: "awselb.log",
        requests: 50,
        codes: CODES,
        span: Some(("2026-11-23T08:15:37Z", "2026-11-23T08:32:30Z")),
        goaccess: Some(GoAccess {
            args: &[
                r#"--log-format=%dT%t.%^ %^ %h:%^ %^ %^ %T %^ %s %^ %^ %b "%r" "%u" %k %K"#,
                "--date-format=%Y-%m-%d",
                "--time-format=%T",
            ],
            strip: None,
            unreadable: Some(|l| ipv6_with_port(l, 2)),
            unreadable_lines: 16,
            header_rows: 0,
        }),
    });
}

/// Application Load Balancer: all current fields (through conn_trace_id), types `http`,
/// `https`, `h2`, `ws` and `wss` (WebSocket connections, status 101, logged when they close),
/// a redirect action and no healthy targets (`-` target, `-1 -1 -1`, target status `-`).
///
/// GoAccess AWSALB (`%^ %dT%t.%^ %v %h:%^ %^ %^ %T %^ %s %^ %^ %b "%r" "%u" %k %K %^`) agrees by
/// position (its `%T` is target_processing_time, `-1` when the request was not dispatched, which
/// it takes). Disagreement: an IPv6 client is written `address:port` without brackets, which
/// GoAccess cuts at the first colon (GoAccess issue #2557): those 16 lines are left out of the
/// comparison.
#[test]
fn awsalb() {
    check(&Case {
        format: "awsalb",
        file: "awsalb.log",
        requests: 52,
        codes: &[
            ("101", 2),
            ("200", 35),
            ("301", 2),
            ("304", 5),
            ("404", 5),
            ("500", 1),
            ("503", 2),
        ],
        span: Some(("2026-11-23T08:40:21Z", "2026-11-23T08:58:30Z")),
        goaccess: Some(GoAccess {
            args: &["--log-format=AWSALB"],
            strip: None,
            unreadable: Some(|l| ipv6_with_port(l, 3)),
            unreadable_lines: 16,
            header_rows: 0,
        }),
    });
}

/// S3 server access log of a website bucket (WEBSITE.GET.OBJECT, NoSuchKey, SlowDown, 405 for
/// POST on the website endpoint), plus the deploy job's path-style REST calls from an IPv6
/// runner through the dual-stack endpoint (the website endpoint is IPv4 only), all current
/// fields through acl_required.
///
/// GoAccess AWSS3 (`%^ %v [%d:%t %^] %h %^"%r" %s %^ %b %^ %L %^ "%R" "%u"`) agrees; its
/// bandwidth is bytes_sent (`-` for none).
#[test]
fn awss3() {
    check(&Case {
        format: "awss3",
        file: "awss3.log",
        requests: 53,
        codes: &[
            ("200", 36),
            ("301", 2),
            ("304", 5),
            ("404", 4),
            ("405", 4),
            ("500", 1),
            ("503", 1),
        ],
        span: Some(("2026-11-23T07:20:15Z", "2026-11-23T07:39:03Z")),
        goaccess: Some(GoAccess {
            args: &["--log-format=AWSS3"],
            strip: None,
            unreadable: None,
            unreadable_lines: 0,
            header_rows: 0,
        }),
    });
}

/// Squid's native access.log of an office proxy (`%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru
/// %[un %Sh/%<a %mt`): epoch times with milliseconds, the elapsed time padded to six columns,
/// absolute URLs, CONNECT tunnels, cache hits, IPv6 clients.
///
/// Disagreements: GoAccess SQUID (`%^ %^ %^ %v %^: %x.%^ %~%L %h %^/%s %b %m %U`) expects a
/// syslog prefix (`Nov 23 08:00:30 proxy1 squid[812]: `) before each line, which the file squid
/// writes itself (`access_log daemon:/var/log/squid/access.log squid`) does not have: it reads
/// none of this sample. And its last field `%U` runs to the end of the line, so through syslog
/// its request keys are `http://www.example.com/ - HIER_DIRECT/93.184.215.14 text/html` (the
/// user, hierarchy and type included) unless a query string cuts them. The format string below
/// reads the file and ends `%U %^`.
#[test]
fn squid() {
    check(&Case {
        format: "squid",
        file: "squid.log",
        requests: 56,
        codes: &[
            ("200", 39),
            ("301", 2),
            ("304", 6),
            ("403", 1),
            ("404", 5),
            ("500", 1),
            ("503", 2),
        ],
        span: Some(("2026-11-23T08:00:30Z", "2026-11-23T08:17:22Z")),
        goaccess: Some(GoAccess {
            args: &[
                "--log-format=%x.%^ %~%L %h %^/%s %b %m %U %^",
                "--date-format=%s",
                "--time-format=%s",
            ],
            strip: None,
            unreadable: None,
            unreadable_lines: 0,
            header_rows: 0,
        }),
    });
}

/// Traefik's CLF access log: combined, then ` <requests since start> "<router>" "<server URL>"
/// <duration>ms`, times in UTC, `"-"` router and server where no router matched.
///
/// GoAccess 1.7 has no name for it; this format string reads it.
#[test]
fn traefik() {
    check(&Case {
        format: "traefik",
        file: "traefik.log",
        requests: 50,
        codes: CODES,
        span: Some(("2026-11-23T09:10:37Z", "2026-11-23T09:27:31Z")),
        goaccess: Some(GoAccess {
            args: &[
                r#"--log-format=%h - %e [%d:%t %^] "%r" %s %b "%R" "%u" %^ "%^" "%^" %Lms"#,
                "--date-format=%d/%b/%Y",
                "--time-format=%T",
            ],
            strip: None,
            unreadable: None,
            unreadable_lines: 0,
            header_rows: 0,
        }),
    });
}

/// HAProxy `option httplog` (`%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc
/// %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r`) with the Host header captured (`{www.example.com}
/// {}`), through syslog (`Feb  6 12:14:14 lb1 haproxy[14389]: `) on most lines and without the
/// prefix on a few (`log stdout format raw`), `<NOSRV>` and `-1` timers for the 503s and the
/// frontend's redirect, HTTP/2 requests in absolute form (HAProxy logs them so since 2.1).
/// `%tr` has no time zone: no first/last check.
///
/// GoAccess has no name for it; the format string below reads the line without the syslog
/// prefix (one format string cannot take lines with and without it, so both tools compare the
/// sample with the prefix removed). An IPv6 client is written `address:port` without brackets,
/// which GoAccess cuts at the first colon: those 16 lines are left out of the comparison.
#[test]
fn haproxy() {
    check(&Case {
        format: "haproxy",
        file: "haproxy.log",
        requests: 50,
        codes: CODES,
        span: None,
        goaccess: Some(GoAccess {
            args: &[
                r#"--log-format=%h:%^ [%d:%t.%^] %^ %^ %^ %s %b %^ %^ %^ %^ %^ {%v} {%^} "%r""#,
                "--date-format=%d/%b/%Y",
                "--time-format=%T",
            ],
            strip: Some(strip_syslog),
            unreadable: Some(|l| ipv6_with_port(l, 0)),
            unreadable_lines: 16,
            header_rows: 0,
        }),
    });
}

/// Cloudflare Logpush (http_requests dataset), one JSON object per line, `EdgeStartTimestamp`
/// in RFC 3339 (`timestamp_format=rfc3339`), no referer written `""`. GoAccess has no name for
/// it: webpeek only.
#[test]
fn cloudflare() {
    check(&Case {
        format: "cloudflare",
        file: "cloudflare.json",
        requests: 50,
        codes: CODES,
        span: Some(("2026-11-23T10:00:31Z", "2026-11-23T10:19:46Z")),
        goaccess: None,
    });
}
