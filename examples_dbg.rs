fn main() {
    let t = webpeek::parse::LogFormat::from_arg(r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"%{X-Trailer}o"#).unwrap();
    for l in [r#"10.0.0.1 - bob [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 404 123457 "https://r.example/" "agent""#,
              r#"10.0.0.1 - bob [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 404 123457 "https://r.example/" "agent"x"#] {
        println!("{:?}", t.parse(l).map(|h| h.status));
    }
    println!("{t:?}");
}
