//! The `webpeek` command: parse the command line into a `Config`, run.

use std::process::ExitCode;

use clap::Parser;
use webpeek::config::{Cli, Command, Config};

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
        command => Cli { command, ..cli },
    };
    let config = match Config::from_cli(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("webpeek: error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("webpeek: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(webpeek::app::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webpeek: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
