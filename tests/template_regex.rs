//! The format-string parser against a straightforward regex reader of the same format string,
//! on generated and damaged lines. The regex reader is the specification, written the plain
//! way: every field a capture group; a field that may hold spaces (the request, the agent, a
//! header) a lazy `(.*?)`, so that later splits are tried when an earlier one does not fit; a
//! quoted field `"((?:[^"\\]|\\.)*)"`; a status from 100 to 599 `([1-5]\d\d)`; a size
//! `(\d+|-)`; an IPv4 client address as `std` reads one; the time in brackets digit by digit;
//! anything else one word (`[^ ]*`), but a user right before the time, which is read again as
//! a lazy `(.*?)` when no split with a one-word user fits. Both must accept the same lines and
//! read the same client, request, status, size, referer and agent from them. `WEBPEEK_SEED`
//! picks another run of formats and damage.

use regex::Regex;
use webpeek::parse::LogFormat;

/// An IPv4 address as `std` reads one (no leading zeros). The damage below never writes a
/// `:`, so no IPv6 address can appear where the generated lines had an IPv4 one.
const IPV4: &str =
    r"((?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d))";

/// A directive, how the regex reader reads it, and a valid value for it.
struct Piece {
    directive: &'static str,
    regex: &'static str,
    /// Which field of the hit the capture is (for the comparison).
    field: Option<&'static str>,
    value: &'static str,
}

const PIECES: &[Piece] = &[
    Piece {
        directive: "%h",
        regex: IPV4,
        field: Some("client"),
        value: "203.0.113.9",
    },
    Piece {
        directive: "%l %u",
        regex: r"([^ ]*) ([^ ]*)",
        field: None,
        value: "- bob",
    },
    Piece {
        directive: "%t",
        regex: r"\[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]",
        field: Some("time"),
        value: "[24/Nov/2026:13:08:01 +0000]",
    },
    Piece {
        directive: r#""%r""#,
        regex: r#""((?:[^"\\]|\\.)*)""#,
        field: Some("request"),
        value: r#""GET /a b.html?x=1 HTTP/1.1""#,
    },
    Piece {
        directive: "[%r]",
        regex: r"\[(.*?)\]",
        field: Some("request"),
        value: "[GET /a b.html?x=1 HTTP/1.1]",
    },
    Piece {
        directive: "%r",
        regex: r"(.*?)",
        field: Some("request"),
        value: "GET /a b.html?x=1 HTTP/1.1",
    },
    Piece {
        directive: r#""%{Referer}i""#,
        regex: r#""((?:[^"\\]|\\.)*)""#,
        field: Some("referer"),
        value: r#""https://r.example/x y""#,
    },
    Piece {
        directive: r#""%{User-Agent}i""#,
        regex: r#""((?:[^"\\]|\\.)*)""#,
        field: Some("agent"),
        value: r#""Mozilla/5.0 (X11; Linux x86_64)""#,
    },
    Piece {
        directive: "%{User-Agent}i",
        regex: r"(.*?)",
        field: Some("agent"),
        value: "Mozilla/5.0 (X11; Linux x86_64)",
    },
    Piece {
        directive: "%{Cookie}i",
        regex: r"(.*?)",
        field: None,
        value: "a=1; b=2",
    },
    Piece {
        directive: "%D",
        regex: r"([^ ]*)",
        field: None,
        value: "1234",
    },
];

/// The status and size end every generated format (a field that may hold spaces then always
/// has something after it to find its end by).
const TAIL_DIRECTIVES: &str = "%>s %b";
const TAIL_REGEX: &str = r"([1-5]\d\d) (\d+|-)";
const TAIL_VALUE: &str = "404 5120";

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// What both readers agree a line says.
#[derive(Debug, PartialEq)]
struct Read {
    client: Option<String>,
    request: Option<String>,
    referer: Option<String>,
    agent: Option<String>,
    status: u16,
    bytes: u64,
}

fn by_regex(re: &Regex, fields: &[Option<&str>], line: &str) -> Option<Read> {
    let caps = re.captures(line)?;
    let mut read = Read {
        client: None,
        request: None,
        referer: None,
        agent: None,
        status: 0,
        bytes: 0,
    };
    let n = caps.len() - 1;
    for (i, field) in fields.iter().enumerate() {
        let v = caps.get(i + 1).map_or("", |m| m.as_str());
        let text = (!v.is_empty() && v != "-").then(|| v.to_string());
        match field {
            Some("client") => read.client = Some(v.parse::<std::net::IpAddr>().ok()?.to_string()),
            Some("time") => {
                webpeek::parse::parse_clf_time(v)?;
            }
            // The request line is kept as logged, `-` included.
            Some("request") => read.request = (!v.is_empty()).then(|| v.to_string()),
            Some("referer") => read.referer = text,
            Some("agent") => read.agent = text,
            _ => {}
        }
    }
    read.status = caps.get(n - 1)?.as_str().parse().ok()?;
    let bytes = caps.get(n)?.as_str();
    read.bytes = if bytes == "-" { 0 } else { bytes.parse().ok()? };
    Some(read)
}

fn by_template(format: &LogFormat, line: &str) -> Option<Read> {
    let h = format.parse(line)?;
    Some(Read {
        client: h.ip.map(|ip| ip.to_string()),
        request: (!h.request.is_empty()).then(|| h.request.to_string()),
        referer: h.referer.map(str::to_string),
        agent: h.agent.map(str::to_string),
        status: h.status,
        bytes: h.bytes,
    })
}

#[test]
fn format_strings_read_what_a_regex_reads() {
    let seed = std::env::var("WEBPEEK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15u64);
    let mut rng = Rng(seed | 1);
    let noise = b" \"[]\\-0123456789./ab";
    let (mut both, mut neither, mut lines) = (0, 0, 0);
    for _ in 0..300 {
        // A format: some pieces in order, no field twice, then the status and size.
        let mut pieces: Vec<&Piece> = Vec::new();
        let mut used = Vec::new();
        for _ in 0..1 + rng.below(5) {
            let p = &PIECES[rng.below(PIECES.len())];
            let kind = p.field.unwrap_or(p.directive);
            if used.contains(&kind) || (p.field.is_none() && used.contains(&p.directive)) {
                continue;
            }
            used.push(kind);
            pieces.push(p);
        }
        let directives: Vec<&str> = pieces.iter().map(|p| p.directive).collect();
        let format_string = format!("{} {TAIL_DIRECTIVES}", directives.join(" "));
        let Ok(format) = LogFormat::from_arg(&format_string) else {
            panic!("{format_string} does not compile");
        };
        let regex = format!(
            r"^{} {TAIL_REGEX}[ \t]*$",
            pieces.iter().map(|p| p.regex).collect::<Vec<_>>().join(" ")
        );
        let re = Regex::new(&regex).unwrap();
        // A user right before `%t` may hold spaces: a line that no split with a one-word user
        // fits is read again with the user running to the ` [` of a time.
        let spaced_user = pieces
            .windows(2)
            .any(|w| w[0].directive == "%l %u" && w[1].directive == "%t");
        let spaced = spaced_user.then(|| {
            let regex = regex.replacen(r"([^ ]*) ([^ ]*) \[", r"([^ ]*) (.*?) \[", 1);
            Regex::new(&regex).unwrap()
        });
        let mut fields: Vec<Option<&str>> = Vec::new();
        for p in &pieces {
            // `%l %u` is two groups.
            let groups = Regex::new(p.regex).unwrap().captures_len() - 1;
            fields.push(p.field);
            fields.extend(std::iter::repeat_n(None, groups - 1));
        }
        let whole = format!(
            "{} {TAIL_VALUE}",
            pieces.iter().map(|p| p.value).collect::<Vec<_>>().join(" ")
        );
        assert!(
            by_regex(&re, &fields, &whole).is_some(),
            "{regex} vs {whole}"
        );
        for _ in 0..200 {
            let mut b = whole.as_bytes().to_vec();
            for _ in 0..rng.below(3) {
                let at = rng.below(b.len());
                match rng.below(3) {
                    0 => b[at] = noise[rng.below(noise.len())],
                    1 => b.insert(at, noise[rng.below(noise.len())]),
                    _ => {
                        b.remove(at);
                    }
                }
            }
            let line = String::from_utf8_lossy(&b).into_owned();
            lines += 1;
            let expected = by_regex(&re, &fields, &line)
                .or_else(|| by_regex(spaced.as_ref()?, &fields, &line));
            let got = by_template(&format, &line);
            match (&expected, &got) {
                (Some(_), Some(_)) => both += 1,
                (None, None) => neither += 1,
                _ => {}
            }
            assert_eq!(
                got, expected,
                "format {format_string:?}\nregex {regex}\nline {line:?}"
            );
        }
    }
    assert!(
        both > lines / 4 && neither > lines / 20,
        "both {both}, neither {neither} of {lines}"
    );
}
