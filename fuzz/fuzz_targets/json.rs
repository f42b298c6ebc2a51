//! JSON lines (nginx escape=json, Caddy) on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webpeek::parse::{JsonKeys, LogFormat};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let json = LogFormat::Json(std::sync::Arc::new(JsonKeys::default()));
    if let Some(raw) = json.parse(&line) {
        let _ = raw.to_hit(&"fuzz".into());
    }
});
