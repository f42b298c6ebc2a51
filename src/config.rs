//! The command line (DESIGN.md section 2), parsed by clap and checked into a [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::filter::{FilterRules, IpBlock};
use crate::parse::{FormatError, JsonKeys, JsonKeysError, LogFormat};
use crate::source::{Input, InputError};

/// webpeek: see, live in a browser, which pages people are visiting on your web server.
#[derive(Debug, Parser)]
#[command(name = "webpeek", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; without one, follow LOG files and serve the dashboard.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the main command.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a built-in demo site with synthetic visitors, and follow its log live.
    Demo(ServeArgs),
    /// Read whole log files (also .gz), print their aggregates as JSON (or a table), and exit.
    Report(crate::report::ReportArgs),
}

/// Options of the main command (and of `demo`).
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Log files to follow: paths, quoted name patterns (`'/var/log/nginx/*access.log'`),
    /// `.gz` files (read once), or `-` for standard input.
    #[arg(value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// Address to serve the dashboard on.
    #[arg(long, default_value = "127.0.0.1:8083", env = "WEBPEEK_LISTEN")]
    pub listen: SocketAddr,
    /// Log format: combined, common, vhost_combined, json, or an Apache LogFormat / nginx
    /// log_format string (detected from the first lines if not given).
    #[arg(long, value_name = "FMT")]
    pub format: Option<String>,
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
    /// Do not look up host names of clients.
    #[arg(long = "no-dns")]
    pub no_dns: bool,
    /// Read the existing log content first, then follow.
    #[arg(long = "from-start")]
    pub from_start: bool,
    /// Hits kept for viewers who connect late or reconnect.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub backlog: usize,
    /// Viewers must present this token (`?token=` or `Authorization: Bearer`).
    #[arg(long, env = "WEBPEEK_TOKEN", value_name = "TOKEN")]
    pub token: Option<String>,
    /// Allow listening beyond loopback without a token.
    #[arg(long)]
    pub public: bool,
    /// Also accept WebSocket upgrades from this Origin (repeatable), e.g. `https://admin.example.com`.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Frames a viewer may fall behind before it misses hits.
    #[arg(long = "viewer-queue", default_value_t = 1024, value_name = "FRAMES")]
    pub viewer_queue: usize,
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

/// Everything a run needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Run the demo site and follow its log.
    pub demo: bool,
    /// Inputs to follow.
    pub inputs: Vec<Input>,
    /// Address to serve on.
    pub listen: SocketAddr,
    /// Fixed format, or `None` to detect.
    pub format: Option<LogFormat>,
    /// Client from X-Forwarded-For.
    pub client_from_header: bool,
    /// Base URL of the site, without a trailing `/`.
    pub site: Option<String>,
    /// Filter rules.
    pub rules: FilterRules,
    /// Reverse DNS on.
    pub dns: bool,
    /// Read existing content first.
    pub from_start: bool,
    /// Backlog size.
    pub backlog: usize,
    /// Required viewer token.
    pub token: Option<String>,
    /// Extra allowed WebSocket origins.
    pub allow_origin: Vec<String>,
    /// Per-viewer queue in frames.
    pub viewer_queue: usize,
    /// Safety-net stat interval.
    pub poll_interval: Duration,
    /// Use inotify.
    pub inotify: bool,
    /// Where to keep read positions.
    pub state: Option<PathBuf>,
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
    #[error("no LOG given: name a log file (or '-' for stdin), or run 'webpeek demo'")]
    NoLog,
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
    /// `report` runs on its own (`webpeek::report::run`), without a `Config`.
    #[error("'report' does not follow logs or serve")]
    NotServe,
}

impl Config {
    /// Checks the parsed command line.
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let (demo, args) = match cli.command {
            Some(Command::Demo(args)) => (true, args),
            Some(Command::Report(_)) => return Err(ConfigError::NotServe),
            None => (false, cli.serve),
        };
        let mut format = args
            .format
            .as_deref()
            .map(LogFormat::from_arg)
            .transpose()?;
        if let Some(mapping) = &args.json_keys {
            let keys = std::sync::Arc::new(JsonKeys::with_mapping(mapping)?);
            format = match format {
                None | Some(LogFormat::Json(_)) => Some(LogFormat::Json(keys)),
                other => other,
            };
        }
        let inputs = args
            .logs
            .iter()
            .map(|log| Input::from_arg(log))
            .collect::<Result<Vec<_>, _>>()?;
        if inputs.is_empty() && !demo {
            return Err(ConfigError::NoLog);
        }
        let site = match &args.site {
            Some(s) if s.starts_with("http://") || s.starts_with("https://") => {
                Some(s.trim_end_matches('/').to_owned())
            }
            Some(s) => return Err(ConfigError::Site(s.clone())),
            None => None,
        };
        if !args.listen.ip().is_loopback() && args.token.is_none() && !args.public {
            return Err(ConfigError::NeedsToken(args.listen));
        }
        if args.backlog == 0 {
            return Err(ConfigError::Zero("backlog"));
        }
        if args.viewer_queue == 0 {
            return Err(ConfigError::Zero("viewer-queue"));
        }
        if !args.poll_interval.is_finite() || args.poll_interval <= 0.0 {
            return Err(ConfigError::Zero("poll-interval"));
        }
        Ok(Config {
            demo,
            inputs,
            listen: args.listen,
            format,
            client_from_header: args.client_from_header,
            site,
            rules: FilterRules {
                all: args.all,
                exclude: args.exclude_ip,
                no_bots: args.no_bots,
            },
            dns: !args.no_dns,
            from_start: args.from_start,
            backlog: args.backlog,
            token: args.token,
            allow_origin: args.allow_origin,
            viewer_queue: args.viewer_queue,
            poll_interval: Duration::from_secs_f64(args.poll_interval),
            inotify: !args.poll,
            state: args.state,
        })
    }
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
    fn defaults_and_demo() {
        let c = config(&["demo"]).unwrap();
        assert!(c.demo && c.dns && !c.rules.all);
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
        assert!(matches!(c.inputs[..], [Input::Stdin]));
        assert_eq!(c.format, Some(LogFormat::Common));
        assert_eq!(c.rules.exclude.len(), 1);
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
    }
}
