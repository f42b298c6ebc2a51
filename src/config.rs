//! The command line (DESIGN.md section 2), parsed by clap and checked into a [`Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::enrich::{EnrichError, Geo};
use crate::filter::{FilterRules, IpBlock};
use crate::nats::{NatsOptionError, NatsOptions};
use crate::parse::{FormatError, JsonKeys, JsonKeysError, LogFormat};
use crate::source::{Input, InputError};
use crate::web::{Limits, TlsError, TlsFiles};

/// webpeek: see, live in a browser, which pages people are visiting on your web server.
#[derive(Debug, Parser)]
#[command(
    name = "webpeek",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  webpeek /var/log/nginx/access.log     follow it; the dashboard is on http://127.0.0.1:8083/
  webpeek demo                          a demo site with synthetic visitors, shown live
  webpeek report access.log*            the aggregates of whole files, as JSON (--text: a table)

The README has the rest: running it on the public web, behind nginx, and over NATS."
)]
pub struct Cli {
    /// What to do; without one, follow LOG files and serve the dashboard.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the main command.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
// Parsed once per run: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a built-in demo site with synthetic visitors, and follow its log live.
    Demo(ServeArgs),
    /// Follow logs and publish their hits to NATS, for a hub (`webpeek --nats URL`) that shows
    /// many servers in one view; no web server.
    Publish(PublishArgs),
    /// Read whole log files (also .gz), print their aggregates as JSON (or a table), and exit.
    Report(crate::report::ReportArgs),
    /// List the log format names `--format` takes, with an example line of each.
    Formats,
}

/// Which logs to read, how to read them, which hits to keep and what to call them: the options
/// the main command, `demo` and `publish` share.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Logs, and what to show of them")]
pub struct LogArgs {
    /// Log files to follow: paths, quoted name patterns (`'/var/log/nginx/*access.log'`),
    /// `.gz` files (read once), or `-` for standard input.
    #[arg(value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// Log format: a name (`webpeek formats` lists them: combined, common, vcombined, json, w3c,
    /// cloudfront, awsalb, squid, ...) or an Apache LogFormat / nginx log_format string
    /// (detected from the first lines if not given).
    #[arg(long, value_name = "FMT")]
    pub format: Option<String>,
    /// Zone of times logged without one (format strings' %{...}t without %z, HAProxy): `UTC`,
    /// `+02:00`, `-0530`, or `local` (this machine's offset at start).
    #[arg(
        long,
        value_name = "TZ",
        default_value = "UTC",
        allow_hyphen_values = true
    )]
    pub timezone: String,
    /// Take the client address from X-Forwarded-For, when the format logs it.
    #[arg(long = "client-from-header")]
    pub client_from_header: bool,
    /// For JSON logs: which keys hold which field, e.g. `client=src_ip,uri=path,status=code`.
    #[arg(long = "json-keys", value_name = "FIELD=KEY,...")]
    pub json_keys: Option<String>,
    /// Base URL of the site (`https://example.com`), to show full URLs and the page preview.
    #[arg(long, value_name = "URL")]
    pub site: Option<String>,
    /// Show every request, not only page views (and also the viewers' own requests).
    #[arg(long)]
    pub all: bool,
    /// Hide requests from this address or CIDR block (repeatable).
    #[arg(long = "exclude-ip", value_name = "IP/CIDR")]
    pub exclude_ip: Vec<IpBlock>,
    /// Hide crawlers and other programs.
    #[arg(long = "no-bots")]
    pub no_bots: bool,
    /// `--geoip` and `--asn`.
    #[command(flatten)]
    pub databases: GeoArgs,
    /// This machine's name in hits (`server`); default the host name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Read the existing log content first, then follow.
    #[arg(long = "from-start")]
    pub from_start: bool,
    /// Save read positions here (periodically and at exit) and continue from them on restart.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Do not use inotify: find new lines by checking files every --poll-interval (NFS).
    #[arg(long)]
    pub poll: bool,
    /// Seconds between the safety-net stat checks of followed files.
    #[arg(long = "poll-interval", default_value_t = 1.0, value_name = "SECONDS")]
    pub poll_interval: f64,
}

/// Where the NATS server is and how to sign in to it (`publish`, and a hub with `--nats`).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Many servers over NATS")]
pub struct NatsArgs {
    /// NATS server: `nats://HOST:4222`, `tls://HOST:4222`, with `user:password@` for a user
    /// and password. The main command also shows the hits of every publisher on it.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// Sign in to NATS with this token [env: WEBPEEK_NATS_TOKEN, read only with --nats].
    #[arg(long = "nats-token", value_name = "TOKEN")]
    pub nats_token: Option<String>,
    /// Sign in to NATS with this credentials file (`.creds`: JWT and NKey seed).
    #[arg(long = "nats-creds", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// Trust this CA (PEM) for the NATS server's certificate, besides the system's.
    #[arg(long = "nats-ca", value_name = "FILE")]
    pub nats_ca: Option<PathBuf>,
    /// Keep hits in this JetStream stream (created if missing): publishers write into it, and
    /// a hub that starts replays it, so its dashboard is whole again.
    #[arg(long, value_name = "STREAM")]
    pub jetstream: Option<String>,
    /// How long a stream created by webpeek keeps hits: `24h`, `90m`, `7d`, seconds.
    #[arg(long = "jetstream-max-age", value_name = "AGE", requires = "jetstream")]
    pub jetstream_max_age: Option<String>,
}

/// Options of `publish`.
#[derive(Debug, Args, Clone)]
pub struct PublishArgs {
    /// Logs and how to read them.
    #[command(flatten)]
    pub log: LogArgs,
    /// The NATS server.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Hits kept while NATS is unreachable; past that the oldest are dropped (and counted).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub buffer: usize,
    /// Serve the publisher's counters as Prometheus text on http://ADDR/metrics.
    #[arg(long = "metrics-listen", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Options of the main command (and of `demo`).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "The dashboard, and who may see it")]
pub struct ServeArgs {
    /// Address to serve the dashboard on.
    #[arg(
        long,
        default_value = "127.0.0.1:8083",
        env = "WEBPEEK_LISTEN",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,
    /// Do not look up host names of clients.
    #[arg(long = "no-dns")]
    pub no_dns: bool,
    /// Resolver for reverse DNS (`IP:PORT`), instead of the system's.
    #[arg(long = "dns-server", value_name = "IP:PORT")]
    pub dns_server: Option<SocketAddr>,
    /// The page preview follows the feed at most this often, in seconds.
    #[arg(long = "preview-every", default_value_t = 5.0, value_name = "SECONDS")]
    pub preview_every: f64,
    /// Hits kept for viewers who connect late or reconnect.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub backlog: usize,
    /// Viewers must present this token (sign-in page, cookie, or `Authorization: Bearer`).
    // Not shown by `--help`: it is a secret.
    #[arg(
        long,
        env = "WEBPEEK_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Read the token from this file (first line; keep it mode 0600); wins over --token.
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Allow listening beyond loopback (or behind --trust-proxy) without a token.
    #[arg(long)]
    pub public: bool,
    /// Serve https/wss with this PEM certificate chain (re-read on SIGHUP and when it changes).
    #[arg(long = "tls-cert", value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long = "tls-key", value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve everything under this path prefix, for a reverse proxy (`/webpeek/`).
    #[arg(long = "base-path", value_name = "/PREFIX/", default_value = "/")]
    pub base_path: String,
    /// Take a viewer's address from X-Forwarded-For only when the connection comes from
    /// these proxies (repeatable).
    #[arg(long = "trust-proxy", value_name = "IP/CIDR")]
    pub trust_proxy: Vec<IpBlock>,
    /// Refuse further WebSocket upgrades (503) past this many viewers.
    #[arg(long = "max-viewers", default_value_t = 10_000, value_name = "N")]
    pub max_viewers: usize,
    /// Refuse further WebSocket upgrades (503) past this many viewers from one address.
    #[arg(long = "max-viewers-per-ip", default_value_t = 64, value_name = "N")]
    pub max_viewers_per_ip: usize,
    /// Seconds between pings to a viewer (for tests; the contract says 20).
    #[arg(long = "ping-interval", default_value_t = 20.0, hide = true)]
    pub ping_interval: f64,
    /// Seconds without a word from a viewer before it is dropped (the contract says 60).
    #[arg(long = "ping-timeout", default_value_t = 60.0, hide = true)]
    pub ping_timeout: f64,
    /// Seconds a connection has to send a whole request head (slowloris).
    #[arg(long = "request-timeout", default_value_t = 10.0, hide = true)]
    pub request_timeout: f64,
    /// Also accept WebSocket upgrades from this Origin (repeatable), e.g. `https://admin.example.com`.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Frames a viewer may fall behind before it misses hits.
    #[arg(long = "viewer-queue", default_value_t = 1024, value_name = "FRAMES")]
    pub viewer_queue: usize,
    // The flattened groups come last: each sets the help heading for what follows it, so
    // before them the options above were listed under "Many servers over NATS".
    /// Logs and how to read them.
    #[command(flatten)]
    pub log: LogArgs,
    /// NATS, to show the hits of other servers too.
    #[command(flatten)]
    pub nats: NatsArgs,
}

/// The checked [`LogArgs`]: what to read and how, shared by serving and publishing.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Inputs to follow.
    pub inputs: Vec<Input>,
    /// Fixed format, or `None` to detect.
    pub format: Option<LogFormat>,
    /// Client from X-Forwarded-For.
    pub client_from_header: bool,
    /// Base URL of the site, without a trailing `/`.
    pub site: Option<String>,
    /// Filter rules.
    pub rules: FilterRules,
    /// Country (`--geoip`) and network owner (`--asn`) databases, opened and checked at start.
    pub geo: Option<Geo>,
    /// This machine's name, on every hit.
    pub name: Arc<str>,
    /// Read existing content first.
    pub from_start: bool,
    /// Where to keep read positions.
    pub state: Option<PathBuf>,
    /// Safety-net stat interval.
    pub poll_interval: Duration,
    /// Use inotify.
    pub inotify: bool,
}

/// Everything `publish` needs, checked.
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// The logs.
    pub log: LogConfig,
    /// The NATS server.
    pub nats: NatsOptions,
    /// Hits kept while NATS is unreachable.
    pub buffer: usize,
    /// `--metrics-listen`: where to serve `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
}

/// Everything a run of the main command (or `demo`) needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Run the demo site and follow its log.
    pub demo: bool,
    /// The logs.
    pub log: LogConfig,
    /// Also show the hits of every publisher on this NATS server.
    pub nats: Option<NatsOptions>,
    /// Address to serve on.
    pub listen: SocketAddr,
    /// Reverse DNS on.
    pub dns: bool,
    /// Resolver for reverse DNS, instead of the system's.
    pub dns_server: Option<SocketAddr>,
    /// Least time between two preview changes.
    pub preview_every: Duration,
    /// Backlog size.
    pub backlog: usize,
    /// Required viewer token.
    pub token: Option<String>,
    /// Serve TLS with these files (checked at start).
    pub tls: Option<Tls>,
    /// Path prefix, starting and ending with `/`.
    pub base_path: String,
    /// Proxies whose X-Forwarded-For is believed.
    pub trust_proxy: Vec<IpBlock>,
    /// Limits on viewers.
    pub limits: Limits,
    /// Extra allowed WebSocket origins.
    pub allow_origin: Vec<String>,
    /// Per-viewer queue in frames.
    pub viewer_queue: usize,
}

/// The TLS files and the configuration built from them at start.
#[derive(Debug, Clone)]
pub struct Tls {
    /// Where they are, to reload them.
    pub files: TlsFiles,
    /// What they held at start.
    pub config: Arc<rustls::ServerConfig>,
}

/// A command line that parses but makes no sense; printed as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--format` is neither a known name nor a valid format string.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// `--json-keys` does not parse.
    #[error(transparent)]
    JsonKeys(#[from] JsonKeysError),
    /// A log argument cannot be followed.
    #[error(transparent)]
    Input(#[from] InputError),
    /// No log to follow.
    #[error(
        "no LOG given: name a log file (or '-' for stdin), give --nats URL to show the hits of other servers, or run 'webpeek demo'"
    )]
    NoLog,
    /// `publish` without a log.
    #[error("publish: no LOG given: name the log files whose hits to publish")]
    NothingToPublish,
    /// `publish` without `--nats`.
    #[error("publish: give --nats nats://HOST:4222, the NATS server to publish to")]
    NeedsNats,
    /// `--nats-token`, `--nats-creds`, `--nats-ca` or `--jetstream` without `--nats`.
    #[error("--nats-token, --nats-creds, --nats-ca and --jetstream need --nats URL")]
    NatsWithoutUrl,
    /// A `--jetstream-max-age` that is not a duration.
    #[error("--jetstream-max-age: '{0}' is not an age like 24h, 90m, 7d or 3600 (seconds)")]
    MaxAge(String),
    /// A NATS option that cannot work.
    #[error(transparent)]
    Nats(#[from] NatsOptionError),
    /// `--site` is not an http(s) URL.
    #[error("--site: '{0}' is not an http:// or https:// URL")]
    Site(String),
    /// Listening beyond loopback with nobody asked for a token.
    #[error(
        "--listen: {0} is reachable beyond this machine; give --token TOKEN (or --public to allow anyone)"
    )]
    NeedsToken(SocketAddr),
    /// A number out of range.
    #[error("--{0}: must be greater than zero")]
    Zero(&'static str),
    /// A number of seconds past a day.
    #[error("--{0}: at most 86400 seconds (a day)")]
    TooLong(&'static str),
    /// A count whose memory is set aside at start, past what a machine could hold.
    #[error("--{0}: at most {1}")]
    TooLarge(&'static str, usize),
    /// `--token-file` cannot be read or is empty.
    #[error("--token-file {path}: {problem}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// `--timezone` is not a zone webpeek knows.
    #[error("--timezone: '{0}' is not UTC, local, or an offset like +02:00")]
    Timezone(String),
    /// An empty token.
    #[error("--token: the token is empty")]
    EmptyToken,
    /// The certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// `--base-path` is not a path.
    #[error("--base-path: '{0}' must be a path like /webpeek/ (letters, digits, - _ . ~ /)")]
    BasePath(String),
    /// Behind a proxy with nobody asked for a token.
    #[error(
        "--trust-proxy: a reverse proxy makes webpeek reachable beyond this machine; give --token-file FILE (or --public to allow anyone)"
    )]
    ProxyNeedsToken,
    /// A number of seconds that is negative or not a number.
    #[error("--{0}: must be a number of seconds, 0 or more")]
    Seconds(&'static str),
    /// `--name` is not a usable server name.
    #[error(
        "--name: '{0}' must be 1 to 64 letters, digits, '-', '_' or '.' (no '.' at either end, nor two in a row)"
    )]
    Name(String),
    /// `--state` cannot be written (its directory is missing or not writable).
    #[error(
        "--state: {0} (the file's directory must exist, and webpeek must be able to write there)"
    )]
    State(crate::source::StateError),
    /// `--allow-origin` is not an origin a browser could send.
    #[error(
        "--allow-origin: '{0}' is not an origin like https://example.com (scheme and host, an optional port, no path)"
    )]
    AllowOrigin(String),
    /// A `--geoip` or `--asn` database cannot be used.
    #[error(transparent)]
    Geo(EnrichError),
    /// `report`, `formats` and `publish` run on their own, without a `Config`.
    #[error("'report', 'formats' and 'publish' do not serve")]
    NotServe,
}

impl LogArgs {
    /// Checks the options (all but the databases: see [`LogArgs::open_geo`]). Also sets the
    /// zone of times logged without one, for the whole process.
    pub fn check(&self) -> Result<LogConfig, ConfigError> {
        let offset = crate::parse::parse_timezone(&self.timezone)
            .ok_or_else(|| ConfigError::Timezone(self.timezone.clone()))?;
        crate::parse::set_zoneless_offset(offset);
        let mut format = self
            .format
            .as_deref()
            .map(LogFormat::from_arg)
            .transpose()?;
        if let Some(mapping) = &self.json_keys {
            let keys = std::sync::Arc::new(JsonKeys::with_mapping(mapping)?);
            format = match format {
                None | Some(LogFormat::Json(_)) => Some(LogFormat::Json(keys)),
                other => other,
            };
        }
        let inputs = self
            .logs
            .iter()
            .map(|log| Input::from_arg(log))
            .collect::<Result<Vec<_>, _>>()?;
        let site = match &self.site {
            Some(s) if s.starts_with("http://") || s.starts_with("https://") => {
                Some(s.trim_end_matches('/').to_owned())
            }
            Some(s) => return Err(ConfigError::Site(s.clone())),
            None => None,
        };
        if !self.poll_interval.is_finite() || self.poll_interval <= 0.0 {
            return Err(ConfigError::Zero("poll-interval"));
        }
        let poll_interval = at_most_a_day("poll-interval", self.poll_interval)?;
        if self.name.as_deref().is_some_and(|n| !valid_name(n)) {
            return Err(ConfigError::Name(self.name.clone().unwrap_or_default()));
        }
        if let Some(path) = &self.state {
            crate::source::Registry::check_writable(path).map_err(ConfigError::State)?;
        }
        Ok(LogConfig {
            inputs,
            format,
            client_from_header: self.client_from_header,
            site,
            rules: FilterRules {
                all: self.all,
                exclude: self.exclude_ip.clone(),
                no_bots: self.no_bots,
            },
            geo: None,
            name: self.name.clone().unwrap_or_else(host_name).into(),
            from_start: self.from_start,
            state: self.state.clone(),
            poll_interval,
            inotify: !self.poll,
        })
    }

    /// Opens the `--geoip` and `--asn` databases (read whole: tens of MB for a City database,
    /// so only once the cheap checks have passed).
    pub fn open_geo(&self) -> Result<Option<Geo>, ConfigError> {
        self.databases.open().map_err(ConfigError::Geo)
    }
}

/// The country and network databases: options of the main command, `publish` and `report`.
#[derive(Debug, Args, Clone, Default)]
pub struct GeoArgs {
    /// Country database (MaxMind GeoLite2 / DB-IP, Country or City `.mmdb`).
    #[arg(long, value_name = "FILE")]
    pub geoip: Option<PathBuf>,
    /// Network owner database (MaxMind GeoLite2 / DB-IP ASN `.mmdb`).
    #[arg(long, value_name = "FILE")]
    pub asn: Option<PathBuf>,
}

impl GeoArgs {
    /// The databases, opened and checked; `None` when neither option is given.
    pub fn open(&self) -> Result<Option<Geo>, crate::enrich::EnrichError> {
        match (&self.geoip, &self.asn) {
            (None, None) => Ok(None),
            (country, asn) => Geo::open(country.as_deref(), asn.as_deref()).map(Some),
        }
    }
}

/// The largest `--backlog`: a million hits are about a gigabyte.
pub const MAX_BACKLOG: usize = 1_000_000;

/// The largest `--viewer-queue`: the ring of frames is allocated whole at start.
pub const MAX_VIEWER_QUEUE: usize = 1_000_000;

/// Where `--nats-token` is taken from when not given (with `--nats` only).
pub const NATS_TOKEN_ENV: &str = "WEBPEEK_NATS_TOKEN";

impl NatsArgs {
    /// The checked connection options, when `--nats` is given.
    pub fn check(&self) -> Result<Option<NatsOptions>, ConfigError> {
        let Some(url) = &self.nats else {
            if self.nats_token.is_some()
                || self.nats_creds.is_some()
                || self.nats_ca.is_some()
                || self.jetstream.is_some()
            {
                return Err(ConfigError::NatsWithoutUrl);
            }
            return Ok(None);
        };
        // The environment's token is read here, not by clap: exported for `publish` in a
        // shell, it must not make every other command there fail for an option not typed.
        // Explicit credentials (a creds file, a user in the URL) win over the exported token.
        let explicit = self.nats_creds.is_some() || url.contains('@');
        let token = self.nats_token.clone().or_else(|| {
            if explicit {
                return None;
            }
            std::env::var(NATS_TOKEN_ENV)
                .ok()
                .filter(|t| !t.trim().is_empty())
        });
        let options = NatsOptions::new(
            url,
            token.as_deref(),
            self.nats_creds.as_deref(),
            self.nats_ca.as_deref(),
        )?;
        let Some(stream) = &self.jetstream else {
            return Ok(Some(options));
        };
        let max_age = self
            .jetstream_max_age
            .as_ref()
            .map(|text| parse_age(text).ok_or_else(|| ConfigError::MaxAge(text.clone())))
            .transpose()?;
        Ok(Some(options.with_jetstream(stream, max_age)?))
    }
}

impl PublishConfig {
    /// Checks `publish`'s command line.
    pub fn from_args(args: PublishArgs) -> Result<PublishConfig, ConfigError> {
        let mut log = args.log.check()?;
        if log.inputs.is_empty() {
            return Err(ConfigError::NothingToPublish);
        }
        let nats = args.nats.check()?.ok_or(ConfigError::NeedsNats)?;
        // The name is a subject token: a host name that cannot be one needs --name.
        if !valid_name(&log.name) {
            return Err(ConfigError::Name(log.name.to_string()));
        }
        if args.buffer == 0 {
            return Err(ConfigError::Zero("buffer"));
        }
        log.geo = args.log.open_geo()?;
        Ok(PublishConfig {
            log,
            nats,
            buffer: args.buffer,
            metrics_listen: args.metrics_listen,
        })
    }
}

impl Config {
    /// A warning for a token that would cross the network in clear: plain HTTP on an address
    /// other machines reach, and no reverse proxy trusted (one may add the TLS).
    pub fn clear_text_warning(&self) -> Option<String> {
        (self.token.is_some()
            && self.tls.is_none()
            && self.trust_proxy.is_empty()
            && !self.listen.ip().is_loopback())
        .then(|| {
            format!(
                "plain HTTP on {}: the token and the session cookie cross the network unencrypted; give --tls-cert and --tls-key, or serve behind the site's TLS proxy (--trust-proxy)",
                self.listen
            )
        })
    }

    /// Checks the parsed command line.
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let (demo, args) = match cli.command {
            Some(Command::Demo(args)) => (true, args),
            Some(Command::Report(_) | Command::Formats | Command::Publish(_)) => {
                return Err(ConfigError::NotServe);
            }
            None => (false, cli.serve),
        };
        let mut log = args.log.check()?;
        let nats = args.nats.check()?;
        if log.inputs.is_empty() && !demo && nats.is_none() {
            return Err(ConfigError::NoLog);
        }
        let token = match (&args.token, &args.token_file) {
            (_, Some(path)) => Some(read_token_file(path)?),
            (Some(t), None) if t.trim().is_empty() => return Err(ConfigError::EmptyToken),
            (Some(t), None) => Some(t.trim().to_owned()),
            (None, None) => None,
        };
        if !args.listen.ip().is_loopback() && token.is_none() && !args.public {
            return Err(ConfigError::NeedsToken(args.listen));
        }
        if !args.trust_proxy.is_empty() && token.is_none() && !args.public {
            return Err(ConfigError::ProxyNeedsToken);
        }
        let base_path = base_path(&args.base_path)?;
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                let files = TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                };
                let config = files.load()?;
                Some(Tls { files, config })
            }
            _ => None,
        };
        let seconds = |name: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 {
                at_most_a_day(name, v)
            } else {
                Err(ConfigError::Zero(name))
            }
        };
        if args.max_viewers == 0 {
            return Err(ConfigError::Zero("max-viewers"));
        }
        if args.max_viewers_per_ip == 0 {
            return Err(ConfigError::Zero("max-viewers-per-ip"));
        }
        let limits = Limits {
            max_viewers: args.max_viewers,
            max_viewers_per_ip: args.max_viewers_per_ip,
            ping_every: seconds("ping-interval", args.ping_interval)?,
            silent_for: seconds("ping-timeout", args.ping_timeout)?,
            request_head_timeout: seconds("request-timeout", args.request_timeout)?,
            ..Limits::default()
        };
        if args.backlog == 0 {
            return Err(ConfigError::Zero("backlog"));
        }
        if args.viewer_queue == 0 {
            return Err(ConfigError::Zero("viewer-queue"));
        }
        // Both are allocated whole at start: a value past these ended in an abort ("memory
        // allocation of ... bytes failed") with a backtrace, not in one line.
        if args.backlog > MAX_BACKLOG {
            return Err(ConfigError::TooLarge("backlog", MAX_BACKLOG));
        }
        if args.viewer_queue > MAX_VIEWER_QUEUE {
            return Err(ConfigError::TooLarge("viewer-queue", MAX_VIEWER_QUEUE));
        }
        let preview_every = if args.preview_every.is_finite() && args.preview_every >= 0.0 {
            at_most_a_day("preview-every", args.preview_every)?
        } else {
            return Err(ConfigError::Seconds("preview-every"));
        };
        let allow_origin = args
            .allow_origin
            .iter()
            .map(|o| origin(o).ok_or_else(|| ConfigError::AllowOrigin(o.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        // Last: the databases are read whole, once the cheap checks have passed.
        log.geo = args.log.open_geo()?;
        Ok(Config {
            demo,
            log,
            nats,
            listen: args.listen,
            dns: !args.no_dns,
            dns_server: args.dns_server,
            preview_every,
            backlog: args.backlog,
            token,
            tls,
            base_path,
            trust_proxy: args.trust_proxy,
            limits,
            allow_origin,
            viewer_queue: args.viewer_queue,
        })
    }
}

/// This machine's host name, as `hostname` prints it (`localhost` when it has none).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer we own.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..len]) {
        Ok(name) if ok && !name.is_empty() => name.to_owned(),
        _ => "localhost".to_owned(),
    }
}

/// A server name: 1 to 64 letters, digits, `-`, `_` or `.`, no `.` at either end nor two in a
/// row (it ends a NATS subject, where an empty token makes a subject nothing is delivered to).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name.split('.').all(|part| !part.is_empty())
}

/// A finite, non-negative number of seconds as a `Duration`, refused past a day: more means
/// nothing for these options, and `Duration::from_secs_f64` panics past about 10^19 s (and a
/// deadline that far ahead overflows `Instant`).
fn at_most_a_day(name: &'static str, seconds: f64) -> Result<Duration, ConfigError> {
    if seconds > 86_400.0 {
        return Err(ConfigError::TooLong(name));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `24h`, `90m`, `7d`, `30s` or plain seconds, above zero and at most ten years.
fn parse_age(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: u64 = number.trim().parse().ok()?;
    let seconds = n.checked_mul(match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    })?;
    (1..=10 * 365 * 86_400)
        .contains(&seconds)
        .then(|| Duration::from_secs(seconds))
}

/// An `--allow-origin` value as browsers send `Origin`: `https://example.com` or
/// `http://host:8080` (a trailing `/` is dropped). `None` for anything else: a value without a
/// scheme (`example.com`) or with a path (the dashboard's URL) would never match, and every
/// WebSocket from that page would be refused with 403 without a word at start.
fn origin(given: &str) -> Option<String> {
    let trimmed = given.strip_suffix('/').unwrap_or(given);
    let authority = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))?;
    let host = match authority.rsplit_once(':') {
        // An IPv6 address is bracketed; a port is digits after the last colon.
        Some((host, port)) if !authority.ends_with(']') => {
            port.parse::<u16>().ok()?;
            host
        }
        _ => authority,
    };
    let fine = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    fine.then(|| trimmed.to_owned())
}

/// `/webpeek`, `webpeek/`, `/webpeek/` → `/webpeek/`; `/` stays `/`.
fn base_path(given: &str) -> Result<String, ConfigError> {
    let inner = given.trim_matches('/');
    let fine = inner
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~/".contains(&b))
        && !inner.contains("//")
        && !inner.split('/').any(|seg| seg == "." || seg == "..");
    if !fine {
        return Err(ConfigError::BasePath(given.to_owned()));
    }
    Ok(if inner.is_empty() {
        "/".to_owned()
    } else {
        format!("/{inner}/")
    })
}

/// The token from `--token-file`: its first line, trimmed. Warns when every user may read it
/// (a group may: `root:webpeek` mode 640 is how the systemd unit gives it to the service).
fn read_token_file(path: &Path) -> Result<String, ConfigError> {
    let problem = |problem: String| ConfigError::TokenFile {
        path: path.to_owned(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
    let token = text.lines().next().unwrap_or("").trim();
    if text.trim().is_empty() {
        return Err(problem("the file is empty".into()));
    }
    // The token is the first line only: a file that starts with a blank line is not "empty".
    if token.is_empty() {
        return Err(problem(
            "the first line is empty (the token is read from the first line)".into(),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o007 != 0
        {
            tracing::warn!(
                "--token-file {}: others can read it (mode {:o}); chmod 600 it (or 640 with a group of its own)",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        Config::from_cli(
            Cli::try_parse_from(std::iter::once("webpeek").chain(args.iter().copied())).unwrap(),
        )
    }

    #[test]
    fn a_token_in_clear_beyond_this_machine_is_warned_of() {
        let warning = |args: &[&str]| config(args).unwrap().clear_text_warning();
        let w = warning(&["--listen", "0.0.0.0:8083", "--token", "s3cret", "-"]).unwrap();
        assert!(w.starts_with("plain HTTP on 0.0.0.0:8083: "), "{w}");
        assert!(!w.contains("s3cret"), "{w}");
        for quiet in [
            &["--listen", "127.0.0.1:8083", "--token", "s3cret", "-"][..],
            &["--listen", "[::1]:8083", "--token", "s3cret", "-"],
            &["--listen", "0.0.0.0:8083", "--public", "-"],
            &[
                "--listen",
                "0.0.0.0:8083",
                "--token",
                "s3cret",
                "--trust-proxy",
                "10.0.0.2",
                "-",
            ],
        ] {
            assert_eq!(warning(quiet), None, "{quiet:?}");
        }
    }

    #[test]
    fn ages() {
        let h = |n: u64| Some(Duration::from_secs(n * 3600));
        assert_eq!(parse_age("24h"), h(24));
        assert_eq!(parse_age("90m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_age("7d"), h(168));
        assert_eq!(parse_age("3600"), h(1));
        assert_eq!(parse_age(" 30s "), Some(Duration::from_secs(30)));
        for bad in [
            "",
            "0",
            "h",
            "5x",
            "-1h",
            "1.5h",
            "99999999999999999d",
            "11000d",
        ] {
            assert_eq!(parse_age(bad), None, "{bad}");
        }
    }

    #[test]
    fn defaults_and_demo() {
        let c = config(&["demo"]).unwrap();
        assert!(c.demo && c.dns && !c.log.rules.all);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8083");
        assert_eq!(c.backlog, 1000);
        let c = config(&[
            "-",
            "--all",
            "--exclude-ip",
            "10.0.0.0/8",
            "--format",
            "common",
        ])
        .unwrap();
        assert!(matches!(c.log.inputs[..], [Input::Stdin]));
        assert_eq!(c.log.format, Some(LogFormat::Common));
        assert_eq!(c.log.rules.exclude.len(), 1);
    }

    #[test]
    fn bad_input_names_the_option() {
        assert!(matches!(
            config(&["/no/such.log"]),
            Err(ConfigError::Input(InputError::Missing(_)))
        ));
        assert!(matches!(config(&[]), Err(ConfigError::NoLog)));
        assert!(
            config(&["-", "--format", "xml"])
                .unwrap_err()
                .to_string()
                .starts_with("--format")
        );
        assert!(
            config(&["-", "--site", "example.com"])
                .unwrap_err()
                .to_string()
                .starts_with("--site")
        );
        let e = config(&["-", "--listen", "0.0.0.0:8083"]).unwrap_err();
        assert!(e.to_string().contains("--token"), "{e}");
        assert!(config(&["-", "--listen", "0.0.0.0:8083", "--token", "s3cret"]).is_ok());
        assert!(Cli::try_parse_from(["webpeek", "-", "--exclude-ip", "nope"]).is_err());
        let e = config(&["-", "--trust-proxy", "127.0.0.1"]).unwrap_err();
        assert!(e.to_string().starts_with("--trust-proxy"), "{e}");
        assert!(config(&["-", "--trust-proxy", "127.0.0.1", "--token", "t"]).is_ok());
        let e = config(&["-", "--base-path", "/a/../b"]).unwrap_err();
        assert!(e.to_string().starts_with("--base-path"), "{e}");
        let e = config(&["-", "--max-viewers", "0"]).unwrap_err();
        assert!(e.to_string().starts_with("--max-viewers"), "{e}");
        let e = config(&["-", "--token", "  "]).unwrap_err();
        assert!(e.to_string().starts_with("--token"), "{e}");
        assert!(Cli::try_parse_from(["webpeek", "-", "--tls-cert", "a.pem"]).is_err());
    }

    #[test]
    fn publish_and_nats() {
        let publish = |args: &[&str]| {
            let cli =
                Cli::try_parse_from(["webpeek", "publish"].iter().chain(args.iter()).copied())
                    .unwrap();
            match cli.command {
                Some(Command::Publish(args)) => PublishConfig::from_args(args),
                other => panic!("{other:?}"),
            }
        };
        let c = publish(&[
            "--nats",
            "nats://127.0.0.1:4222",
            "--name",
            "web1",
            "--all",
            "--format",
            "common",
            "--from-start",
            "-",
        ])
        .unwrap();
        assert_eq!((&*c.log.name, c.buffer), ("web1", 100_000));
        assert!(c.log.rules.all && c.log.from_start);
        assert_eq!(c.log.format, Some(LogFormat::Common));
        assert_eq!(c.nats.url(), "nats://127.0.0.1:4222");
        let e = publish(&["-"]).unwrap_err();
        assert!(e.to_string().starts_with("publish: give --nats"), "{e}");
        let e = publish(&["--nats", "nats://h"]).unwrap_err();
        assert!(e.to_string().starts_with("publish: no LOG"), "{e}");
        let e = publish(&["--nats", "localhost", "-"]).unwrap_err();
        assert!(e.to_string().starts_with("--nats: "), "{e}");
        let e = publish(&["--nats", "nats://h", "--buffer", "0", "-"]).unwrap_err();
        assert!(e.to_string().starts_with("--buffer"), "{e}");
        let e = publish(&["--nats", "nats://h", "--name", "a b", "-"]).unwrap_err();
        assert!(e.to_string().starts_with("--name"), "{e}");
        // Serving options are not publishing options.
        assert!(
            Cli::try_parse_from(["webpeek", "publish", "--listen", "127.0.0.1:1", "-"]).is_err()
        );
        // A hub needs no log with --nats.
        let c = config(&["--nats", "nats://127.0.0.1:4222"]).unwrap();
        assert!(c.log.inputs.is_empty() && c.nats.is_some());
        assert!(config(&["-"]).unwrap().nats.is_none());
        let e = config(&["-", "--nats-token", "t"]).unwrap_err();
        assert!(e.to_string().starts_with("--nats-token"), "{e}");
        assert!(matches!(config(&["publish"]), Err(ConfigError::NotServe)));
    }

    #[test]
    fn allowed_origins() {
        for (given, kept) in [
            ("https://example.com", "https://example.com"),
            ("https://example.com/", "https://example.com"),
            (
                "http://admin.example.com:8080",
                "http://admin.example.com:8080",
            ),
            ("http://[2001:db8::1]:8083", "http://[2001:db8::1]:8083"),
            ("http://[::1]", "http://[::1]"),
        ] {
            assert_eq!(origin(given).as_deref(), Some(kept), "{given}");
        }
        for bad in [
            "example.com",
            "https://",
            "https://example.com/webpeek/",
            "https://example.com:port",
            "ftp://example.com",
            "https://user@example.com",
            "garbage",
        ] {
            assert_eq!(origin(bad), None, "{bad}");
        }
        assert!(matches!(
            config(&["--allow-origin", "example.com", "-"]),
            Err(ConfigError::AllowOrigin(_))
        ));
    }

    #[test]
    fn base_paths() {
        assert_eq!(base_path("/").unwrap(), "/");
        assert_eq!(base_path("").unwrap(), "/");
        assert_eq!(base_path("/webpeek").unwrap(), "/webpeek/");
        assert_eq!(base_path("tools/webpeek/").unwrap(), "/tools/webpeek/");
        for bad in ["/a b/", "/a//b/", "/../", "/a?b", "/<x>/"] {
            assert!(base_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = config(&["-", "--token-file", path.to_str().unwrap()]).unwrap();
        assert_eq!(c.token.as_deref(), Some("s3cret"));
        std::fs::write(&path, "\n").unwrap();
        let e = config(&["-", "--token-file", path.to_str().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("the file is empty"), "{e}");
        std::fs::write(&path, "\ns3cret\n").unwrap();
        let e = config(&["-", "--token-file", path.to_str().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("the first line is empty"), "{e}");
        let e = config(&["-", "--token-file", "/no/such/token"]).unwrap_err();
        assert!(
            e.to_string().starts_with("--token-file /no/such/token"),
            "{e}"
        );
    }
}
