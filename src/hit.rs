//! The two types that flow through the pipeline: a raw [`Line`] from a source and the
//! parsed [`Hit`] that every later stage receives and hands on.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

/// One line of a log, as a source read it: text (decoded lossily from UTF-8), and where it came from.
#[derive(Debug, Clone)]
pub struct Line {
    /// The line without its trailing newline (and without a `\r` before it).
    pub text: String,
    /// Short name of the source: the file's name, `stdin`, `demo`.
    pub source: Arc<str>,
    /// Byte offset of the start of the line in its file (0 for streams).
    pub offset: u64,
    /// The file it was read from, by device and inode (`None` for streams and `.gz` files).
    pub file: Option<(u64, u64)>,
    /// The line was longer than the limit and was cut.
    pub truncated: bool,
}

/// Where a line starts in the file it was read from: what a stage that hands hits on later
/// (the NATS publisher) keeps beside them, so that `--state` saves no position past a line
/// whose hit is not delivered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineStart {
    /// The file, by device and inode.
    pub file: (u64, u64),
    /// Byte offset of the line's start.
    pub offset: u64,
}

impl Line {
    /// Where the line starts, for a line read from a file.
    pub fn start(&self) -> Option<LineStart> {
        self.file.map(|file| LineStart {
            file,
            offset: self.offset,
        })
    }
}

/// One request to the web server, as the dashboard shows it.
///
/// Serialized as one element of the `hits` array of the WebSocket contract (DESIGN.md section 3).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    /// Sequence number stamped by the hub (0 before that).
    pub seq: u64,
    /// Time of the request, RFC 3339 in UTC (`2026-11-24T13:08:01Z`).
    #[serde(serialize_with = "serialize_time")]
    pub time: i64,
    /// Client address; `null` when the log format has none.
    pub ip: Option<IpAddr>,
    /// Host name of the client, once reverse DNS has answered (it usually follows in a `hosts` frame).
    pub host: Option<String>,
    /// HTTP method (`GET`), or `-` when the request line was not `METHOD PATH PROTO`.
    pub method: String,
    /// Path without the query string; the whole raw request when it was not `METHOD PATH PROTO`.
    pub path: String,
    /// Query string without its `?`.
    pub query: Option<String>,
    /// Protocol (`HTTP/1.1`), if the request line had one.
    pub protocol: Option<String>,
    /// Response status.
    pub status: u16,
    /// Response body size (0 for `-`).
    pub bytes: u64,
    /// `Referer` header, if logged and not `-`.
    pub referer: Option<String>,
    /// `User-Agent` header, if logged and not `-`.
    pub agent: Option<String>,
    /// Browser family from the user agent.
    pub browser: Option<String>,
    /// Operating system family from the user agent.
    pub os: Option<String>,
    /// The user agent is a crawler or another program.
    pub bot: bool,
    /// ISO country code of the client, when a GeoIP database is given.
    pub country: Option<Arc<str>>,
    /// The network the client's address belongs to, when an ASN database is given.
    pub asn: Option<Asn>,
    /// Kind of device, from the user agent.
    pub device: Option<Device>,
    /// The machine whose log the hit came from (`--name`, default the host name).
    pub server: Arc<str>,
    /// Virtual host, for formats that log one.
    pub vhost: Option<String>,
    /// Which log the hit came from.
    pub source: Arc<str>,
    /// Full URL, when `--site` (or the vhost) says where the site lives.
    pub url: Option<String>,
}

/// An autonomous system: the network an address belongs to (`{"number":3320,"org":"..."}`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct Asn {
    /// AS number.
    pub number: u32,
    /// The organisation that runs it.
    pub org: Arc<str>,
}

impl std::fmt::Display for Asn {
    /// `AS3320 Deutsche Telekom AG`, as the panels show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.org.is_empty() {
            write!(f, "AS{}", self.number)
        } else {
            write!(f, "AS{} {}", self.number, self.org)
        }
    }
}

/// What kind of device a request came from, told from its user agent.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// A desktop or laptop browser (and anything not recognised as the others).
    Desktop,
    /// A phone.
    Phone,
    /// A tablet.
    Tablet,
    /// A crawler or another program.
    Bot,
}

impl Device {
    /// The name used in hits and panels.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Desktop => "desktop",
            Device::Phone => "phone",
            Device::Tablet => "tablet",
            Device::Bot => "bot",
        }
    }

    /// The device class of a user agent, given whether it is a bot: tablets (`iPad`, `Tablet`,
    /// Android without `Mobile`), then phones (`Mobi`, `iPhone`, `Android`, as MDN advises
    /// telling mobile browsers), else desktop.
    pub fn of_agent(agent: &str, bot: bool) -> Device {
        if bot {
            return Device::Bot;
        }
        let has =
            |needle: &str| memchr::memmem::find(agent.as_bytes(), needle.as_bytes()).is_some();
        let android = has("Android");
        if has("iPad") || has("Tablet") || (android && !has("Mobile")) {
            Device::Tablet
        } else if has("Mobi") || has("iPhone") || android {
            Device::Phone
        } else {
            Device::Desktop
        }
    }
}

fn serialize_time<S: serde::Serializer>(time: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&Rfc3339(*time))
}

/// Formats Unix seconds as RFC 3339 UTC without allocating.
pub struct Rfc3339(pub i64);

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A (year, month, day) date to days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_from_agents() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                Device::Desktop,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
                Device::Phone,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
                Device::Phone,
            ),
            (
                "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
                Device::Tablet,
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15",
                Device::Tablet,
            ),
        ];
        for (agent, want) in cases {
            assert_eq!(Device::of_agent(agent, false), want, "{agent}");
        }
        assert_eq!(Device::of_agent("Googlebot/2.1", true), Device::Bot);
        assert_eq!(serde_json::to_string(&Device::Phone).unwrap(), "\"phone\"");
        let asn = Asn {
            number: 64500,
            org: "Example Net".into(),
        };
        assert_eq!(asn.to_string(), "AS64500 Example Net");
    }

    #[test]
    fn rfc3339_round_trips_dates() {
        assert_eq!(Rfc3339(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Rfc3339(1_795_957_681).to_string(), "2026-11-29T13:08:01Z");
        for days in [-800_000, -1, 0, 59, 365, 11_016, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
