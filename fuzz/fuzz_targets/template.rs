//! Format strings (Apache and nginx) compiled from fuzz input, then matched against a line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webpeek::parse::Template;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // First line: the format string; the rest: a log line.
    let (format, line) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(t) = Template::compile(format) {
        if let Some(raw) = t.parse(line) {
            let _ = raw.to_hit(&"fuzz".into());
        }
        // Traefik's reading: any later quote may close a quoted field.
        if let Some(raw) = t.with_unescaped_quotes().parse(line) {
            let _ = raw.to_hit(&"fuzz".into());
        }
    }
    for fixed in [
        r#"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" %v %D %{X-Forwarded-For}i"#,
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $host $http_x_forwarded_for"#,
        "%a %m %U%q %H %>s",
    ] {
        if let Some(raw) = Template::compile(fixed).unwrap().parse(&text) {
            let _ = raw.to_hit(&"fuzz".into());
        }
    }
});
