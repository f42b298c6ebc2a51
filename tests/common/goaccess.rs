//! GoAccess as a second reader: its JSON report of a log, and the comparison of `webpeek report`
//! with it, key by key.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Whether `cmd --version` runs.
pub fn on_path(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs GoAccess on `log` with these format arguments (`--log-format=…`, and the date and time
/// formats where the name does not imply them) and returns its JSON report.
///
/// - `--no-global-config`: Debian's /etc/goaccess/goaccess.conf turns the referrers panel off.
/// - `--no-query-string`: webpeek's pages are paths without the query string (like the live top
///   list); GoAccess keeps the query in its request keys unless told not to.
/// - `--max-items`: every entry of every panel, not the first 366.
pub fn report(log: &Path, format_args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out_json = dir.path().join("goaccess.json");
    let out = Command::new("goaccess")
        .arg(log)
        .args(format_args)
        .args([
            "--no-global-config",
            "--no-query-string",
            "--max-items=1000000",
            "-o",
        ])
        .arg(&out_json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "goaccess {format_args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&out_json).unwrap()).unwrap()
}

/// A request key as both tools are compared on: the path. Products that log the request target
/// in absolute form (load balancers, proxies, HTTP/2 through HAProxy) give GoAccess keys such as
/// `https://www.example.com:443/blog/`; their scheme and authority are dropped, from webpeek's
/// keys too, so the comparison holds whichever of the two a parser keeps.
pub fn path_key(key: &str) -> String {
    let Some((scheme, rest)) = key.split_once("://") else {
        return key.to_string();
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return key.to_string();
    }
    match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".to_string(),
    }
}

/// GoAccess's request panels by path: `requests` (pages), `static_requests` (assets by
/// extension) and `not_found` (status 404) partition all valid requests; each entry is one
/// (method, protocol, path) with `--http-method`/`--http-protocol` on (their default), so a
/// path's hits are the sum over its entries in all three panels. Returns path → hits and
/// method → hits.
///
/// Where the format logs the query string in a field of its own (`%q`: W3C's and CloudFront's
/// cs-uri-query), GoAccess appends it to the key even with `--no-query-string`, as `?-` where
/// the field is `-`: that is cut here. (Otherwise its keys hold no `?`.)
pub fn requests(g: &Value) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut paths = BTreeMap::new();
    let mut methods = BTreeMap::new();
    for panel in ["requests", "static_requests", "not_found"] {
        for e in g[panel]["data"].as_array().unwrap() {
            let hits = e["hits"]["count"].as_u64().unwrap();
            let key = e["data"].as_str().unwrap();
            let path = key.split_once('?').map_or(key, |(path, _)| path);
            *paths.entry(path_key(path)).or_default() += hits;
            *methods
                .entry(e["method"].as_str().unwrap().to_string())
                .or_default() += hits;
        }
    }
    (paths, methods)
}

/// A webpeek list of `[key, count]` pairs as a map.
pub fn pairs(v: &Value) -> BTreeMap<String, u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_u64().unwrap()))
        .collect()
}

/// A GoAccess panel as key → hits (empty when the log format has no field for it).
pub fn panel(g: &Value, name: &str) -> BTreeMap<String, u64> {
    g[name]["data"]
        .as_array()
        .map(|data| {
            data.iter()
                .map(|e| {
                    (
                        e["data"].as_str().unwrap().to_string(),
                        e["hits"]["count"].as_u64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that webpeek's report `w` (run with `--top 1000000`) and GoAccess's `g` of the same
/// log agree: requests valid/failed/total, bandwidth, status classes and every code, hits per
/// path (all of them), methods, hosts and referrers.
pub fn assert_same_totals(w: &Value, g: &Value) {
    let general = &g["general"];

    // Requests: GoAccess's valid ones are webpeek's parsed ones; its failed ones are webpeek's
    // unparsed ones (neither counts a blank line); its total is both.
    assert_eq!(w["total"], general["valid_requests"], "requests");
    assert_eq!(w["unparsed"], general["failed_requests"], "unparsed lines");
    assert_eq!(
        w["total"].as_u64().unwrap() + w["unparsed"].as_u64().unwrap(),
        general["total_requests"].as_u64().unwrap(),
        "lines"
    );
    // Bytes: GoAccess's bandwidth (its `%b`, whichever field of the format that is).
    assert_eq!(w["bytes"], general["bandwidth"], "bytes");

    // Status codes: GoAccess groups them by class ("2xx Success"), each with its codes
    // ("200 - OK: ..."): compare classes and every code.
    let mut classes = BTreeMap::new();
    let mut codes = BTreeMap::new();
    for class in g["status_codes"]["data"].as_array().unwrap() {
        let name = class["data"].as_str().unwrap();
        classes.insert(
            name[..3].to_string(),
            class["hits"]["count"].as_u64().unwrap(),
        );
        for item in class["items"].as_array().unwrap() {
            let code = &item["data"].as_str().unwrap()[..3];
            codes.insert(code.to_string(), item["hits"]["count"].as_u64().unwrap());
        }
    }
    let w_classes: BTreeMap<String, u64> = w["status"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(w_classes, classes, "status classes");
    let w_codes: BTreeMap<String, u64> = w["codes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(w_codes, codes, "status codes");

    // Per-page hits: every path. (GoAccess URL-decodes paths, `%20` to a space, where webpeek
    // keeps them as logged: the logs compared have no `%` escapes in their paths.)
    let (g_paths, g_methods) = requests(g);
    let mut w_pages = BTreeMap::new();
    for (k, n) in pairs(&w["top"]["pages"]) {
        *w_pages.entry(path_key(&k)).or_default() += n;
    }
    assert_eq!(w_pages, g_paths, "hits per path");
    assert_eq!(pairs(&w["methods"]), g_methods, "methods");

    // Hosts: GoAccess's hosts panel has one entry per client address. (Its "unique visitors"
    // is another quantity: it also takes the day and the user agent into account.)
    let g_hosts = panel(g, "hosts");
    assert_eq!(
        w["visitors"].as_u64().unwrap(),
        g_hosts.len() as u64,
        "visitors"
    );
    assert_eq!(pairs(&w["top"]["hosts"]), g_hosts, "hosts");

    // Referers: GoAccess lists requests without one as "-"; webpeek leaves them out.
    let mut g_refs = panel(g, "referrers");
    g_refs.remove("-");
    assert_eq!(pairs(&w["top"]["referers"]), g_refs, "referers");
}
