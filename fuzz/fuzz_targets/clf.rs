//! The hand-written NCSA parsers, detection, request splitting and unescaping, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webpeek::parse::{LogFormat, Parser, parse_clf_time, parse_iso8601, split_request, unescape};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    for f in [LogFormat::Combined, LogFormat::Common, LogFormat::VhostCombined] {
        if let Some(raw) = f.parse(&line) {
            let hit = raw.to_hit(&"fuzz".into());
            assert!((100..=599).contains(&hit.status), "status {}", hit.status);
        }
    }
    let _ = Parser::new(None).client_from_header(true).parse_raw(&line);
    let _ = split_request(&line);
    let _ = unescape(&line);
    let _ = parse_clf_time(&line);
    let _ = parse_iso8601(&line);
});
