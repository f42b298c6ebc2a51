//! The deployment files under contrib/ are checked, not just shipped: the systemd unit passes
//! `systemd-analyze verify` (when the command exists) and keeps its hardening, and its
//! command line starts a working webpeek.

mod common;

use std::process::{Command, Stdio};

const UNIT: &str = include_str!("../contrib/webpeek.service");

/// The `ExecStart=` command line with its `\` continuations joined, split into words.
fn exec_start() -> Vec<String> {
    let joined = UNIT.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart= in the unit");
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn unit_keeps_its_hardening() {
    for directive in [
        "User=webpeek",
        "SupplementaryGroups=adm",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "CapabilityBoundingSet=\n",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(
            UNIT.contains(directive),
            "contrib/webpeek.service lost {directive:?}"
        );
    }
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let Ok(which) = Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .output()
    else {
        return;
    };
    if !which.status.success() {
        eprintln!("systemd-analyze not installed: not verified here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The unit as installed, with the binary where this build put it.
    let unit = dir.path().join("webpeek.service");
    std::fs::write(
        &unit,
        UNIT.replace("/usr/local/bin/webpeek", env!("CARGO_BIN_EXE_webpeek")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Complaints about the machine's other units are not ours.
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("webpeek")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify:\n{said}"
    );
}

#[test]
fn unit_command_line_starts_webpeek() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    common::append(&log, "");
    let token = dir.path().join("token");
    std::fs::write(&token, "unit-token\n").unwrap();
    let state = dir.path().join("state");
    let args: Vec<String> = exec_start()
        .into_iter()
        .skip(1)
        .map(|a| match a.as_str() {
            "127.0.0.1:8083" => "127.0.0.1:0".into(),
            "/etc/webpeek/token" => token.display().to_string(),
            "/var/lib/webpeek/state" => state.display().to_string(),
            "/var/log/nginx/access.log" => log.display().to_string(),
            _ => a,
        })
        .collect();
    let child = Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args(&args)
        .arg("--no-dns")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let s = common::Server::adopt(child, dir, log);
    assert_eq!(s.get("/webpeek/healthz", &[]), (200, "ok".into()));
    let auth = [("authorization", "Bearer unit-token")];
    assert_eq!(
        s.request("GET", "/webpeek/api/stats", &auth, "").status,
        200
    );
    assert_eq!(s.request("GET", "/webpeek/api/stats", &[], "").status, 401);
}
