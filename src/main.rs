//! The `webpeek` command: parse the command line into a `Config` (or a `PublishConfig`), run.

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
        .init();
    let cli = Cli::parse();
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
