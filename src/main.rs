//! The `webpeek` command: parse the command line into a `Config` (or a `PublishConfig`), run.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use webpeek::config::{Cli, Command, Config, PublishConfig};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEBPEEK_LOG")
                .unwrap_or_else(|_| "webpeek=info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: not into a file, a pipe or the journal.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return refused_by_clap(&e),
    };
    let cli = match cli.command {
        Some(Command::Report(args)) => {
            return match webpeek::report::run(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("webpeek: error: {e}");
                    ExitCode::from(e.exit_code())
                }
            };
        }
        Some(Command::Formats) => {
            print!("{}", webpeek::parse::formats_table());
            return ExitCode::SUCCESS;
        }
        Some(Command::Publish(args)) => {
            let config = match PublishConfig::from_args(args) {
                Ok(c) => c,
                Err(e) => return usage_error(e),
            };
            return run_to_end(webpeek::app::publish(config));
        }
        command => Cli { command, ..cli },
    };
    let config = match Config::from_cli(cli) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    run_to_end(webpeek::app::run(config))
}

/// What clap itself refuses (an unknown option, a value it cannot read) in webpeek's form: one
/// line naming the option (with clap's tip, if any), exit code 2. Help and version go out as
/// clap writes them.
fn refused_by_clap(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    }
    // Plain text: `StyledStr`'s `Display` leaves the colours out.
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("bad command line");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "the following required arguments were not provided:" is followed by them, one a line.
    // clap's usage line names the subcommand, but not every error has one (a value it cannot
    // read): then the first argument tells, as clap read it (a subcommand wins over a LOG of
    // that name), so `publish --metrics-listen x` points at `webpeek publish --help`.
    let mut command = "webpeek".to_string();
    if let Some(first) = std::env::args().nth(1)
        && <Cli as clap::CommandFactory>::command()
            .get_subcommands()
            .any(|c| c.get_name() == first)
    {
        command = format!("webpeek {first}");
    }
    let (mut listed, mut tips) = (Vec::new(), String::new());
    for line in lines {
        if let Some(tip) = line.strip_prefix("tip: ") {
            tips.push_str(&format!(" ({tip})"));
        } else if let Some(usage) = line.strip_prefix("Usage: ") {
            // "webpeek report [OPTIONS] <FILE>...": the (sub)command whose --help to point at.
            let words: Vec<&str> = usage
                .split(' ')
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect();
            if !words.is_empty() {
                command = words.join(" ");
            }
        } else if !line.starts_with("For more information") {
            listed.push(line);
        }
    }
    let listed = if first.ends_with(':') {
        format!(" {}", listed.join(", "))
    } else {
        String::new()
    };
    eprintln!("webpeek: error: {first}{listed}{tips}; '{command} --help' lists the options");
    ExitCode::from(2)
}

/// A command line that makes no sense: one line, exit code 2.
fn usage_error(e: webpeek::config::ConfigError) -> ExitCode {
    eprintln!("webpeek: error: {e}");
    ExitCode::from(2)
}

/// Runs a command on a new runtime; an error is one line and exit code 1.
fn run_to_end(
    command: impl std::future::Future<Output = Result<(), webpeek::app::AppError>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("webpeek: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webpeek: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
