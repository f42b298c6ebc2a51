//! The parser alone (DESIGN.md section 6): GB/s of combined-format log per core.
//!
//! `cargo bench --bench parse -- FILE [RUNS] [--format=F]` loads FILE into memory, cuts it into
//! lines (not timed), then times `LogFormat::parse` (combined unless `--format` names another
//! format or gives a format string, as webpeek's own `--format` does) over every line, on one
//! thread, best of RUNS (default 3). It prints one line of JSON:
//! `{"bytes":..,"lines":..,"parsed":..,"seconds":..,"gb_per_s":..,"lines_per_s":..}`
//! where `bytes` counts the lines without their newlines, and `seconds` is the best run.
//! `bench/throughput.sh` runs it on the generated log.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it only says so and exits.

use std::hint::black_box;
use std::time::Instant;

use webpeek::parse::LogFormat;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("parse bench: run with `cargo bench --bench parse -- FILE`");
        return;
    }
    let rest: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(path) = rest.first() else {
        eprintln!("usage: cargo bench --bench parse -- FILE [RUNS] [--format=F]");
        std::process::exit(2);
    };
    let runs: usize = rest.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let data = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    });
    let text = String::from_utf8_lossy(&data);
    let lines: Vec<&str> = text.lines().collect();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let format = match args.iter().find_map(|a| a.strip_prefix("--format=")) {
        None => LogFormat::Combined,
        Some(f) => LogFormat::from_arg(f).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2);
        }),
    };

    let mut best = f64::INFINITY;
    let mut parsed = 0u64;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let mut ok = 0u64;
        for line in &lines {
            // Looked at where it was returned: moving it first would time a copy, not parsing.
            let parsed = format.parse(black_box(line));
            if let Some(raw) = &parsed {
                ok += 1;
                black_box(raw);
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
        parsed = ok;
    }
    println!(
        "{{\"bytes\":{bytes},\"lines\":{},\"parsed\":{parsed},\"seconds\":{best:.6},\"gb_per_s\":{:.3},\"lines_per_s\":{:.0}}}",
        lines.len(),
        bytes as f64 / best / 1e9,
        lines.len() as f64 / best
    );
}
