//! Many servers into one view over NATS: real `nats-server` processes on free loopback ports,
//! real `webpeek publish` processes following temp logs, and a real hub (`webpeek --nats`)
//! with WebSocket viewers.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::nats::{NatsServer, Publisher, free_port};
use common::{Server, Ws, assert_no_hits, collect_hits, line, webpeek};
use serde_json::Value;

const HUB_SUBJECT: &str = "webpeek.hits.>";

/// A hub (`webpeek --nats URL --name hub EXTRA...`) with no log of its own, subscribed.
fn hub(nats: &NatsServer, extra: &[&str]) -> Server {
    let hub = spawn_hub(&nats.url(), extra);
    nats.wait_subscribed("webpeek hub", HUB_SUBJECT, Duration::from_secs(15));
    hub
}

/// A hub started without waiting for its subscription.
fn spawn_hub(url: &str, extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("unused.log");
    let mut args: Vec<std::ffi::OsString> = vec!["--nats".into(), url.into()];
    args.extend(["--name", "hub"].iter().map(Into::into));
    args.extend(extra.iter().map(Into::into));
    Server::spawn(dir, log, &args, Stdio::null())
}

/// An empty log in a new temp dir.
fn new_log(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join(name);
    common::append(&log, "");
    (dir, log)
}

fn paths(hits: &[Value]) -> Vec<String> {
    hits.iter()
        .map(|h| h["path"].as_str().unwrap().to_string())
        .collect()
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}/{i}.html")).collect()
}

/// Appends one page view per path, from `ip`.
fn append_paths(publisher: &Publisher, ip: &str, paths: &[String]) {
    let text: String = paths.iter().map(|p| line(ip, p)).collect();
    publisher.append(text);
}

/// Polls `/api/stats` (bounded) until `ok` holds; returns the stats.
fn wait_stats(hub: &Server, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let stats = hub.stats();
        if ok(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "never {what}: {stats}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn server_count(stats: &Value, server: &str) -> u64 {
    stats["panels"]["all"]["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e[0] == server)
        .and_then(|e| e[1].as_u64())
        .unwrap_or(0)
}

async fn viewer(hub: &Server) -> Ws {
    hub.viewer().await
}

#[tokio::test]
async fn two_publishers_one_hub() {
    let nats = NatsServer::start(&[]);
    // The hub follows a log of its own too.
    let hub = Server::start(&["--nats", &nats.url(), "--name", "hub"]);
    nats.wait_subscribed("webpeek hub", HUB_SUBJECT, Duration::from_secs(15));
    let (_d1, log1) = new_log("web1-access.log");
    let (_d2, log2) = new_log("web2-access.log");
    let web1 = Publisher::start(&nats.url(), "web1", &log1, &[]);
    let web2 = Publisher::start(&nats.url(), "web2", &log2, &[]);
    let mut ws = viewer(&hub).await;
    let (one, two, here) = (
        numbered("/one", 3),
        numbered("/two", 3),
        numbered("/here", 3),
    );
    for i in 0..3 {
        append_paths(&web1, "203.0.113.1", &one[i..=i]);
        append_paths(&web2, "203.0.113.2", &two[i..=i]);
        hub.append(line("203.0.113.3", &here[i]));
    }
    let (hits, _) = collect_hits(&mut ws, 9, Duration::from_secs(15)).await;
    for (server, source, want) in [
        ("web1", "web1-access.log", &one),
        ("web2", "web2-access.log", &two),
        ("hub", "access.log", &here),
    ] {
        let mine: Vec<&Value> = hits.iter().filter(|h| h["server"] == server).collect();
        assert_eq!(
            mine.iter()
                .map(|h| h["path"].as_str().unwrap())
                .collect::<Vec<_>>(),
            *want,
            "{server}'s hits, in order: {hits:?}"
        );
        for h in mine {
            assert_eq!(h["source"], source, "{h}");
            assert_eq!(h["browser"], "Firefox", "enriched: {h}");
            assert_eq!(h["status"], 200);
            assert!(h["seq"].as_u64().unwrap() > 0, "stamped by the hub: {h}");
        }
    }
    let stats = wait_stats(&hub, "every server counted", |s| {
        server_count(s, "web1") == 3 && server_count(s, "web2") == 3 && server_count(s, "hub") == 3
    });
    assert_eq!(stats["total"], 9, "{stats}");
    assert_eq!(stats["shown"], 9, "{stats}");
    assert_eq!(stats["panels"]["all"]["page_views"], 9, "{stats}");
    let n = &stats["nats"];
    assert_eq!(n["state"], "connected", "{n}");
    assert_eq!(n["url"], nats.url(), "{n}");
    assert_eq!(
        (n["hits"].as_u64(), n["undecodable"].as_u64()),
        (Some(6), Some(0)),
        "{n}"
    );
    assert_eq!(hub.metric(None, "webpeek_nats_connected"), 1);
    assert_eq!(hub.metric(None, "webpeek_nats_hits_total"), 6);
    // Without --nats the field is null.
    let plain = Server::start(&[]);
    assert!(plain.stats()["nats"].is_null());
}

/// Publishes one raw message with the NATS text protocol.
fn raw_publish(nats: &NatsServer, subject: &str, payload: &[u8]) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", nats.port)).unwrap();
    write!(
        s,
        "CONNECT {{\"verbose\":false}}\r\nPUB {subject} {}\r\n",
        payload.len()
    )
    .unwrap();
    s.write_all(payload).unwrap();
    s.write_all(b"\r\nPING\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // INFO, then PONG once the server has read the message.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("PONG") {
        let n = std::io::Read::read(&mut s, &mut buf).unwrap();
        assert!(
            n > 0,
            "nats-server closed: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn bad_messages_are_counted_and_logged_once() {
    let nats = NatsServer::start(&[]);
    let hub = hub(&nats, &[]);
    for _ in 0..3 {
        raw_publish(&nats, "webpeek.hits.evil", b"hello, world");
    }
    raw_publish(
        &nats,
        "webpeek.hits.future",
        br#"{"v":2,"server":"future","run":"r","seq":1,"hits":[]}"#,
    );
    raw_publish(
        &nats,
        "webpeek.hits.odd",
        br#"{"v":1,"server":"no spaces","run":"r","seq":1,"hits":[]}"#,
    );
    wait_stats(&hub, "5 undecodable", |s| s["nats"]["undecodable"] == 5);
    hub.wait_output("message version 2", Duration::from_secs(5));
    hub.wait_output("is not a server name", Duration::from_secs(5));
    let told = hub.count_output("webpeek.hits.evil");
    assert_eq!(told, 1, "logged once per subject");
    assert_eq!(
        hub.metric(None, "webpeek_nats_messages_total{result=\"undecodable\"}"),
        5
    );
    // Still serving, still taking good messages.
    let (_d, log) = new_log("access.log");
    let web1 = Publisher::start(&nats.url(), "web1", &log, &[]);
    let mut ws = viewer(&hub).await;
    append_paths(&web1, "203.0.113.1", &numbered("/ok", 1));
    let (hits, _) = collect_hits(&mut ws, 1, Duration::from_secs(15)).await;
    assert_eq!(hits[0]["server"], "web1");
}

#[tokio::test]
async fn a_message_names_the_server_of_its_subject() {
    // Where each web server may publish only on its own subject (NATS permissions), the
    // subject is what says who sent a message: one claiming another server is refused.
    let nats = NatsServer::start(&[]);
    let hub = hub(&nats, &[]);
    let message = |server: &str| {
        format!(
            r#"{{"v":1,"server":"{server}","run":"r","seq":1,"hits":[{{"time":1795957681,"method":"GET","path":"/x","status":200,"source":"a"}}]}}"#
        )
    };
    raw_publish(&nats, "webpeek.hits.web1", message("web2").as_bytes());
    raw_publish(
        &nats,
        "webpeek.hits.web1.example.com",
        message("web1.example.com").as_bytes(),
    );
    let stats = wait_stats(&hub, "both judged", |s| {
        s["nats"]["undecodable"].as_u64().unwrap_or(0) + s["nats"]["hits"].as_u64().unwrap_or(0)
            == 2
    });
    assert_eq!(stats["nats"]["undecodable"], 1, "{stats}");
    assert_eq!(server_count(&stats, "web1.example.com"), 1, "{stats}");
    assert_eq!(server_count(&stats, "web2"), 0, "{stats}");
    hub.wait_output("webpeek.hits.web1: ", Duration::from_secs(5));
}

#[tokio::test]
async fn an_outage_is_buffered_and_delivered_once() {
    let mut nats = NatsServer::start(&[]);
    let hub = hub(&nats, &[]);
    let (_d, log) = new_log("access.log");
    let web1 = Publisher::start(&nats.url(), "web1", &log, &[]);
    let mut ws = viewer(&hub).await;
    let before = numbered("/before", 5);
    append_paths(&web1, "203.0.113.1", &before);
    let (hits, _) = collect_hits(&mut ws, 5, Duration::from_secs(15)).await;
    assert_eq!(paths(&hits), before);

    nats.kill();
    web1.wait_output("disconnected, retrying", Duration::from_secs(10));
    hub.wait_output("disconnected, retrying", Duration::from_secs(10));
    wait_stats(&hub, "disconnected shown", |s| {
        s["nats"]["state"] == "disconnected, retrying"
    });
    assert_eq!(hub.metric(None, "webpeek_nats_connected"), 0);
    let during = numbered("/during", 200);
    for chunk in during.chunks(20) {
        append_paths(&web1, "203.0.113.1", chunk);
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    nats.restart();
    let after = numbered("/after", 5);
    append_paths(&web1, "203.0.113.1", &after);
    let (hits, _) = collect_hits(&mut ws, 205, Duration::from_secs(20)).await;
    let want: Vec<String> = during.iter().chain(&after).cloned().collect();
    assert_eq!(paths(&hits), want, "every line once, in order");
    assert_no_hits(&mut ws, Duration::from_millis(1500)).await;
    web1.wait_output("connected again", Duration::from_secs(5));
    let stats = wait_stats(&hub, "connected again", |s| {
        s["nats"]["state"] == "connected"
    });
    assert_eq!(stats["nats"]["disconnects"], 1, "{stats}");
    assert_eq!(stats["total"], 210, "{stats}");
    // One line per change of state, not one per attempt.
    assert_eq!(web1.count_output("disconnected, retrying"), 1);
}

/// A hub, a publisher of a new log with `--state`, and a viewer that has had its first three
/// hits: (hub, the log's dir, log, state file, publisher, viewer).
async fn publishing_with_state(
    nats: &NatsServer,
) -> (Server, tempfile::TempDir, PathBuf, String, Publisher, Ws) {
    let hub = hub(nats, &[]);
    let (dir, log) = new_log("access.log");
    let state = dir.path().join("state.json").to_str().unwrap().to_owned();
    let web1 = Publisher::start(&nats.url(), "web1", &log, &["--state", &state]);
    let mut ws = viewer(&hub).await;
    let first = numbered("/first", 3);
    append_paths(&web1, "203.0.113.1", &first);
    let (hits, _) = collect_hits(&mut ws, 3, Duration::from_secs(15)).await;
    assert_eq!(paths(&hits), first);
    (hub, dir, log, state, web1, ws)
}

#[tokio::test]
async fn a_restarted_publisher_neither_loses_nor_repeats() {
    let nats = NatsServer::start(&[]);
    let (_hub, _dir, log, state, mut web1, mut ws) = publishing_with_state(&nats).await;
    let state_arg = state.as_str();
    // `systemctl reload` (SIGHUP) reloads nothing and ends nothing.
    std::process::Command::new("kill")
        .args(["-HUP", &web1.child.id().to_string()])
        .status()
        .unwrap();
    web1.wait_output("SIGHUP: nothing to reload", Duration::from_secs(5));
    assert!(web1.terminate().success());
    web1.wait_output("positions saved", Duration::from_secs(1));
    let down = numbered("/while-down", 4);
    common::append(
        &log,
        down.iter()
            .map(|p| line("203.0.113.1", p))
            .collect::<String>(),
    );
    let web1 = Publisher::start(&nats.url(), "web1", &log, &["--state", state_arg]);
    let back = numbered("/back", 2);
    append_paths(&web1, "203.0.113.1", &back);
    let (hits, _) = collect_hits(&mut ws, 6, Duration::from_secs(15)).await;
    let want: Vec<String> = down.iter().chain(&back).cloned().collect();
    assert_eq!(paths(&hits), want);
    assert_no_hits(&mut ws, Duration::from_secs(1)).await;
}

/// `--state` saves no position past a line whose hit NATS has not taken: the hits buffered
/// through an outage are sent by the next run, after a crash (SIGKILL after a periodic save)
/// and after a stop (SIGTERM), none twice.
#[tokio::test]
async fn buffered_hits_survive_a_publisher_restart() {
    let mut nats = NatsServer::start(&[]);
    let (_hub, _dir, log, state, mut web1, mut ws) = publishing_with_state(&nats).await;
    let state_arg = state.as_str();

    nats.kill();
    web1.wait_output("disconnected, retrying", Duration::from_secs(10));
    let crashed = numbered("/buffered-then-killed", 20);
    append_paths(&web1, "203.0.113.1", &crashed);
    // A periodic save (every 5 s) comes after the lines are read; then the process dies.
    std::thread::sleep(Duration::from_secs(6));
    web1.child.kill().unwrap();
    web1.child.wait().unwrap();

    // Started again while NATS is still down: what the last run buffered is read again.
    let mut web1 = Publisher::start(&nats.url(), "web1", &log, &["--state", state_arg]);
    let stopped = numbered("/buffered-then-stopped", 10);
    append_paths(&web1, "203.0.113.1", &stopped);
    std::thread::sleep(Duration::from_millis(500));
    assert!(web1.terminate().success());
    let exit = web1.wait_output("not delivered", Duration::from_secs(1));
    assert!(
        exit.contains("30 not delivered") && exit.contains("the next run with this --state"),
        "{exit}"
    );

    nats.restart();
    let _web1 = Publisher::start(&nats.url(), "web1", &log, &["--state", state_arg]);
    let (hits, _) = collect_hits(&mut ws, 30, Duration::from_secs(20)).await;
    let want: Vec<String> = crashed.iter().chain(&stopped).cloned().collect();
    assert_eq!(paths(&hits), want, "every buffered line once, in order");
    assert_no_hits(&mut ws, Duration::from_millis(1500)).await;
}

#[tokio::test]
async fn a_full_buffer_drops_the_oldest_and_counts() {
    let nats = NatsServer::start(&[]);
    let (_d, log) = new_log("access.log");
    let metrics_addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let metrics_arg = metrics_addr.to_string();
    let web1 = Publisher::start(
        &nats.url(),
        "web1",
        &log,
        &["--buffer", "5", "--metrics-listen", &metrics_arg],
    );
    // The publisher's own counters (`--metrics-listen`), as Prometheus reads them.
    let metric = |sample: &str| -> u64 {
        let (status, body) = common::http_get(metrics_addr, "/metrics", &[]);
        assert_eq!(status, 200, "{body}");
        body.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {sample} in {body}"))
    };
    assert_eq!(common::http_get(metrics_addr, "/", &[]).0, 404);
    // No hub yet: nothing can be delivered, so the buffer keeps the newest 5.
    let all = numbered("/n", 20);
    append_paths(&web1, "203.0.113.1", &all);
    web1.wait_output("dropping the oldest hits", Duration::from_secs(10));
    let hub = hub(&nats, &[]);
    let mut ws = viewer(&hub).await;
    let stats = wait_stats(&hub, "the buffer delivered", |s| {
        s["nats"]["hits"].as_u64().unwrap_or(0)
            + s["nats"]["dropped_by_publishers"].as_u64().unwrap_or(0)
            == 20
    });
    // The newest 5, after what was already taken for the first message (the reader waited
    // for it until the publisher learnt that no hub listens).
    let got = stats["nats"]["hits"].as_u64().unwrap() as usize;
    assert!((5..20).contains(&got), "{stats}");
    let (hits, _) = collect_hits(&mut ws, got, Duration::from_secs(5)).await;
    let paths = paths(&hits);
    assert_eq!(
        paths[paths.len() - 5..],
        all[15..],
        "the newest are kept: {paths:?}"
    );
    let index = |p: &String| all.iter().position(|a| a == p).unwrap();
    assert!(
        paths.windows(2).all(|w| index(&w[0]) < index(&w[1])),
        "in order: {paths:?}"
    );
    assert_eq!(
        hub.metric(None, "webpeek_nats_publisher_dropped_hits"),
        20 - got as u64
    );
    web1.wait_output("dropped while none could be", Duration::from_secs(5));
    assert_eq!(metric("webpeek_publish_connected"), 1);
    assert_eq!(
        metric("webpeek_publish_hits_total{result=\"published\"}"),
        got as u64
    );
    assert_eq!(
        metric("webpeek_publish_hits_total{result=\"dropped\"}"),
        20 - got as u64
    );
    assert_eq!(metric("webpeek_publish_buffered_hits"), 0);
    assert!(metric("webpeek_publish_messages_total") >= 1);
}

#[tokio::test]
async fn from_start_waits_for_nats_instead_of_dropping() {
    let nats = NatsServer::start(&[]);
    let hub = hub(&nats, &[]);
    let (_d, log) = new_log("access.log");
    let all = numbered("/old", 3000);
    common::append(
        &log,
        all.iter()
            .map(|p| line("203.0.113.1", p))
            .collect::<String>(),
    );
    let mut ws = viewer(&hub).await;
    // A buffer far smaller than the log: the reader waits for NATS, nothing is dropped.
    let _web1 = Publisher::start(
        &nats.url(),
        "web1",
        &log,
        &["--from-start", "--buffer", "100"],
    );
    let (hits, _) = collect_hits(&mut ws, 3000, Duration::from_secs(30)).await;
    assert_eq!(paths(&hits), all);
    let stats = hub.stats();
    assert_eq!(stats["nats"]["dropped_by_publishers"], 0, "{stats}");
}

#[tokio::test]
async fn a_restarted_hub_gets_new_hits() {
    let nats = NatsServer::start(&[]);
    let first_hub = hub(&nats, &[]);
    let (_d, log) = new_log("access.log");
    let web1 = Publisher::start(&nats.url(), "web1", &log, &[]);
    let mut ws = viewer(&first_hub).await;
    append_paths(&web1, "203.0.113.1", &numbered("/a", 1));
    collect_hits(&mut ws, 1, Duration::from_secs(15)).await;
    drop(ws);
    drop(first_hub);
    // No hub listens: the publisher keeps what comes meanwhile.
    let meanwhile = numbered("/meanwhile", 3);
    append_paths(&web1, "203.0.113.1", &meanwhile);
    web1.wait_output("no hub listens", Duration::from_secs(10));
    let second_hub = hub(&nats, &[]);
    let mut ws = viewer(&second_hub).await;
    let new = numbered("/new", 2);
    append_paths(&web1, "203.0.113.1", &new);
    let (hits, _) = collect_hits(&mut ws, 5, Duration::from_secs(15)).await;
    let want: Vec<String> = meanwhile.iter().chain(&new).cloned().collect();
    assert_eq!(paths(&hits), want);
    assert_no_hits(&mut ws, Duration::from_millis(500)).await;
    web1.wait_output("a hub listens again", Duration::from_secs(5));
}

#[tokio::test]
async fn a_server_down_at_start_is_waited_for() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let (_d, log) = new_log("access.log");
    let web1 = Publisher::start(&url, "web1", &log, &[]);
    web1.wait_output("cannot connect", Duration::from_secs(10));
    let early = numbered("/early", 2);
    append_paths(&web1, "203.0.113.1", &early);
    // Several attempts, one line.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(web1.count_output("cannot connect"), 1);
    let nats = NatsServer::start_on(port, &[]);
    web1.wait_output(": connected", Duration::from_secs(10));
    let hub = hub(&nats, &[]);
    let mut ws = viewer(&hub).await;
    let (hits, _) = collect_hits(&mut ws, 2, Duration::from_secs(15)).await;
    assert_eq!(paths(&hits), early);
}

#[tokio::test]
async fn token_authorization() {
    let nats = NatsServer::start(&["--auth", "s3cret"]);
    // The hub takes the token from the environment, as the README shows (out of `ps`).
    let hub = {
        let dir = tempfile::tempdir().unwrap();
        let unused = dir.path().join("unused.log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
            .args(["--listen", "127.0.0.1:0", "--no-dns", "--name", "hub"])
            .args(["--nats", &nats.url()])
            .env("WEBPEEK_NATS_TOKEN", "s3cret")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let hub = Server::adopt(child, dir, unused);
        nats.wait_subscribed("webpeek hub", HUB_SUBJECT, Duration::from_secs(15));
        hub
    };
    // In that shell, the main command without --nats ignores it (and starts).
    {
        let (dir, log) = new_log("access.log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
            .args(["--listen", "127.0.0.1:0", "--no-dns"])
            .arg(&log)
            .env("WEBPEEK_NATS_TOKEN", "s3cret")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let plain = Server::adopt(child, dir, log);
        assert_eq!(plain.get("/healthz", &[]).0, 200);
    }
    let (_d, log) = new_log("access.log");
    let web1 = Publisher::start(&nats.url(), "web1", &log, &["--nats-token", "s3cret"]);
    let mut ws = viewer(&hub).await;
    append_paths(&web1, "203.0.113.1", &numbered("/signed-in", 1));
    let (hits, _) = collect_hits(&mut ws, 1, Duration::from_secs(15)).await;
    assert_eq!(hits[0]["server"], "web1");
    // The token in the URL, as the NATS clients take it (`nats://TOKEN@host`), never logged.
    let in_url = nats.url().replacen("nats://", "nats://s3cret@", 1);
    let (_d3, log3) = new_log("access.log");
    let web3 = Publisher::start(&in_url, "web3", &log3, &[]);
    append_paths(&web3, "203.0.113.3", &numbered("/token-in-url", 1));
    let (hits, _) = collect_hits(&mut ws, 1, Duration::from_secs(15)).await;
    assert_eq!(hits[0]["server"], "web3");
    assert_eq!(web3.count_output("s3cret"), 0);

    // A publisher with a wrong token, or none, stops at the first refusal: one line, exit 1.
    for extra in [&["--nats-token", "wrong"][..], &[]] {
        let mut bad = Publisher::spawn(&nats.url(), "web2", &log, extra);
        let status = bad.wait_exit(Duration::from_secs(15));
        assert_eq!(status.code(), Some(1), "{extra:?}");
        let said = bad.output.lock().unwrap().clone();
        let refusals: Vec<&String> = said
            .iter()
            .filter(|l| l.contains("authorization violation"))
            .collect();
        assert_eq!(refusals.len(), 1, "{said:#?}");
        assert!(
            refusals[0].starts_with("webpeek: error: NATS "),
            "{}",
            refusals[0]
        );
        assert!(
            !said.iter().any(|l| l.contains("wrong")),
            "the token is never shown"
        );
    }

    // A hub with a wrong token keeps serving and says why it has no NATS hits.
    let bad_hub = spawn_hub(&nats.url(), &["--nats-token", "wrong"]);
    let stats = wait_stats(&bad_hub, "refused shown", |s| {
        s["nats"]["error"] == "authorization violation"
    });
    assert_eq!(stats["nats"]["state"], "disconnected, retrying");
    assert_eq!(bad_hub.get("/healthz", &[]).0, 200);
    std::thread::sleep(Duration::from_millis(1500));
    let refusals = bad_hub.count_output("authorization violation");
    assert_eq!(refusals, 1, "logged once, not once per attempt");
}

#[test]
fn bad_options_exit_2() {
    let (_d, log) = new_log("access.log");
    let log = log.to_str().unwrap();
    let cases: [&[&str]; 9] = [
        &["publish", "--nats", "localhost:4222", log],
        &["publish", "--nats", "http://127.0.0.1:4222", log],
        &["publish", "--nats", "nats://u:hunter2@", log],
        &["publish", log],
        &["--nats", "nats:// bad", log],
        &[
            "publish",
            "--nats",
            "nats://127.0.0.1:4222",
            "--nats-creds",
            "/no/such.creds",
            log,
        ],
        &[
            "publish",
            "--nats",
            "nats://127.0.0.1:4222",
            "--jetstream",
            "web.hits",
            log,
        ],
        &[
            "--nats",
            "nats://127.0.0.1:4222",
            "--jetstream",
            "S",
            "--jetstream-max-age",
            "5 weeks",
            log,
        ],
        &["--jetstream", "S", log],
    ];
    for args in cases {
        let out = webpeek(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {err}");
        assert!(lines[0].starts_with("webpeek: error: "), "{err}");
        assert!(
            ["--nats", "--jetstream", "publish: "]
                .iter()
                .any(|o| lines[0].contains(o)),
            "names the option: {err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
}

#[test]
fn help_never_shows_a_token_from_the_environment() {
    for args in [&["--help"][..], &["publish", "--help"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
            .args(args)
            .env("WEBPEEK_TOKEN", "viewer-s3cret")
            .env("WEBPEEK_NATS_TOKEN", "nats-s3cret")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--nats-token"), "{args:?}: {text}");
        assert!(!text.contains("s3cret"), "{args:?}: {text}");
    }
}

#[test]
fn names_that_make_no_subject_are_refused() {
    // `webpeek.hits.web1.` and the like: no hub would ever get a hit of theirs.
    let (_d, log) = new_log("access.log");
    for name in ["web1.", ".web1", "web..1"] {
        let mut publisher = Publisher::spawn("nats://127.0.0.1:4222", name, &log, &[]);
        let status = publisher.wait_exit(Duration::from_secs(10));
        assert_eq!(status.code(), Some(2), "{name}");
        let said = publisher.wait_output("--name", Duration::from_secs(5));
        assert!(said.starts_with("webpeek: error: --name: "), "{said}");
    }
}

/// `publish --metrics-listen` on an address in use: one line naming that option, before
/// anything starts (it said "--listen", an option publish does not have, after the NATS
/// connection was tried and the logs were being read).
#[test]
fn metrics_listen_in_use_names_its_option() {
    let (_d, log) = new_log("access.log");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = webpeek(&[
        "publish",
        "--nats",
        "nats://127.0.0.1:1",
        "--metrics-listen",
        &addr,
        log.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!("webpeek: error: --metrics-listen {addr}: ")),
        "{err}"
    );
}

#[tokio::test]
async fn tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert_pem, key_pem) = certificates();
    let (ca, cert, key) = (
        write(dir.path(), "ca.pem", &ca_pem),
        write(dir.path(), "server.pem", &cert_pem),
        write(dir.path(), "server.key", &key_pem),
    );
    let nats = NatsServer::start(&[
        "--tls",
        "--tlscert",
        cert.to_str().unwrap(),
        "--tlskey",
        key.to_str().unwrap(),
    ]);
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let ca = ca.to_str().unwrap();
    let hub = spawn_hub(&url, &["--nats-ca", ca]);
    nats.wait_subscribed("webpeek hub", HUB_SUBJECT, Duration::from_secs(15));
    let (_d, log) = new_log("access.log");
    let web1 = Publisher::start(&url, "web1", &log, &["--nats-ca", ca]);
    let mut ws = viewer(&hub).await;
    append_paths(&web1, "203.0.113.1", &numbered("/tls", 1));
    let (hits, _) = collect_hits(&mut ws, 1, Duration::from_secs(15)).await;
    assert_eq!(hits[0]["server"], "web1");
    assert!(nats.connz()["connections"][0]["tls_version"].is_string());
    // Without the CA the server's certificate is not trusted: retried, never connected.
    let (_d2, log2) = new_log("access.log");
    let untrusting = Publisher::start(&url, "web2", &log2, &[]);
    untrusting.wait_output("cannot connect", Duration::from_secs(10));
    assert_eq!(untrusting.count_output("connected"), 0);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A CA, and a certificate it signed for 127.0.0.1: (CA PEM, certificate PEM, key PEM).
fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "webpeek test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// A hub reading the JetStream stream `stream`, once it has replayed what the stream holds.
fn js_hub(nats: &NatsServer, stream: &str) -> Server {
    let hub = spawn_hub(&nats.url(), &["--jetstream", stream]);
    hub.wait_output("following it live", Duration::from_secs(20));
    hub
}

/// The parts of `/api/stats` a replay must rebuild exactly: totals, status codes, the
/// per-server counts and every panel since start.
fn replayable(stats: &Value) -> Value {
    serde_json::json!({
        "total": stats["total"],
        "shown": stats["shown"],
        "status": stats["status"],
        "panels": stats["panels"]["all"],
    })
}

#[tokio::test]
async fn jetstream_replay_rebuilds_a_restarted_hub() {
    let nats = NatsServer::start(&[]);
    let (_d1, log1) = new_log("web1-access.log");
    let (_d2, log2) = new_log("web2-access.log");
    let js = ["--jetstream", "WEBPEEK", "--jetstream-max-age", "2h"];
    // The publishers start first and create the stream; no hub runs yet: the stream keeps
    // the hits.
    let web1 = Publisher::start(&nats.url(), "web1", &log1, &js);
    let web2 = Publisher::start(&nats.url(), "web2", &log2, &js);
    // Few distinct pages: the top lists are exact (not a sketch's estimate), so two hubs'
    // lists compare equal.
    let cycle = |prefix: &str, n: usize| -> Vec<String> {
        (0..n).map(|i| format!("{prefix}/{}.html", i % 7)).collect()
    };
    let early1 = cycle("/early/one", 150);
    let early2 = cycle("/early/two", 100);
    append_paths(&web1, "203.0.113.1", &early1);
    append_paths(&web2, "198.51.100.2", &early2);
    common::append(
        &log1,
        line("203.0.113.9", "/missing").replace(" 200 ", " 404 "),
    );
    std::thread::sleep(Duration::from_millis(500));

    let first = js_hub(&nats, "WEBPEEK");
    let stats = wait_stats(&first, "the stream replayed", |s| s["total"] == 251);
    assert_eq!(server_count(&stats, "web1"), 151, "{stats}");
    assert_eq!(server_count(&stats, "web2"), 100, "{stats}");
    assert_eq!(stats["nats"]["stream"], "WEBPEEK", "{stats}");
    // Live after the replay.
    let mut ws = viewer(&first).await;
    let live = cycle("/live", 20);
    append_paths(&web2, "198.51.100.2", &live);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut got = Vec::new();
    while got.len() < 20 && Instant::now() < deadline {
        let (hits, _) = collect_hits(&mut ws, 1, Duration::from_secs(15)).await;
        got.extend(paths(&hits).into_iter().filter(|p| p.starts_with("/live")));
    }
    assert_eq!(got, live);
    let before = wait_stats(&first, "live hits counted", |s| s["total"] == 271);
    drop(ws);
    drop(first);

    // A new hub: the stream gives it everything again, each hit once.
    let second = js_hub(&nats, "WEBPEEK");
    let after = wait_stats(&second, "the stream replayed again", |s| s["total"] == 271);
    assert_eq!(replayable(&after), replayable(&before));
    assert_eq!(after["nats"]["duplicates"], 0, "{after}");
    assert_eq!(after["nats"]["replayed"], 271, "{after}");
    // The backlog holds the replayed hits, once each, oldest first.
    let mut ws = viewer(&second).await;
    let (hits, _) = collect_hits(&mut ws, 271, Duration::from_secs(15)).await;
    let of = |server: &str| -> Vec<String> {
        let mine: Vec<Value> = hits
            .iter()
            .filter(|h| h["server"] == server)
            .cloned()
            .collect();
        paths(&mine)
    };
    let mut want1 = early1.clone();
    want1.push("/missing".into());
    assert_eq!(of("web1"), want1);
    assert_eq!(of("web2"), [early2, live].concat());
    assert_no_hits(&mut ws, Duration::from_millis(500)).await;
    second.wait_output("replayed 271 hits", Duration::from_secs(1));
}

#[tokio::test]
async fn jetstream_survives_a_server_restart() {
    let mut nats = NatsServer::start(&[]);
    let (_d, log) = new_log("access.log");
    let web1 = Publisher::start(&nats.url(), "web1", &log, &["--jetstream", "HITS"]);
    let before = numbered("/before", 5);
    append_paths(&web1, "203.0.113.1", &before);
    let deadline = Instant::now() + Duration::from_secs(10);
    while nats.stored_messages() == 0 {
        assert!(
            Instant::now() < deadline,
            "the publisher never stored a message"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Another age than the stream the publisher made (24 h): said at start, not again at each
    // reconnect.
    let hub = spawn_hub(
        &nats.url(),
        &["--jetstream", "HITS", "--jetstream-max-age", "2h"],
    );
    hub.wait_output("following it live", Duration::from_secs(20));
    hub.wait_output("keeps messages for 86400 s", Duration::from_secs(1));
    let mut ws = viewer(&hub).await;
    let (hits, _) = collect_hits(&mut ws, 5, Duration::from_secs(15)).await;
    assert_eq!(paths(&hits), before);
    nats.kill();
    hub.wait_output("disconnected, retrying", Duration::from_secs(10));
    let during = numbered("/during", 50);
    append_paths(&web1, "203.0.113.1", &during);
    std::thread::sleep(Duration::from_millis(300));
    // The same store: the stream and what it held are still there.
    nats.restart();
    let after = numbered("/after", 5);
    append_paths(&web1, "203.0.113.1", &after);
    let (hits, _) = collect_hits(&mut ws, 55, Duration::from_secs(30)).await;
    let want: Vec<String> = during.iter().chain(&after).cloned().collect();
    assert_eq!(paths(&hits), want, "every line once, in order");
    assert_no_hits(&mut ws, Duration::from_millis(1000)).await;
    let stats = wait_stats(&hub, "all counted", |s| s["total"] == 60);
    assert_eq!(stats["nats"]["duplicates"], 0, "{stats}");
    assert_eq!(hub.count_output("keeps messages for"), 1);
}

#[tokio::test]
async fn two_hubs_on_one_stream_serve_alike() {
    let nats = NatsServer::start(&[]);
    let (_d, log) = new_log("access.log");
    let web1 = Publisher::start(&nats.url(), "web1", &log, &["--jetstream", "WEBPEEK"]);
    let a = js_hub(&nats, "WEBPEEK");
    // A hub without --jetstream beside them sees the live messages, and its answers must not
    // stand in for the stream's acknowledgements (the publisher would stall).
    let core = hub(&nats, &[]);
    let mut on_a = viewer(&a).await;
    let mut on_core = viewer(&core).await;
    let first = numbered("/first", 30);
    append_paths(&web1, "203.0.113.1", &first);
    let (from_a, _) = collect_hits(&mut on_a, 30, Duration::from_secs(15)).await;
    assert_eq!(paths(&from_a), first);
    // The second hub starts later and replays what the first saw live.
    let b = js_hub(&nats, "WEBPEEK");
    let mut on_b = viewer(&b).await;
    let (from_b, _) = collect_hits(&mut on_b, 30, Duration::from_secs(15)).await;
    assert_eq!(paths(&from_b), first);
    let second = numbered("/second", 10);
    append_paths(&web1, "203.0.113.1", &second);
    for ws in [&mut on_a, &mut on_b] {
        let (hits, _) = collect_hits(ws, 10, Duration::from_secs(15)).await;
        assert_eq!(paths(&hits), second);
    }
    let (from_core, _) = collect_hits(&mut on_core, 40, Duration::from_secs(15)).await;
    assert_eq!(paths(&from_core), [first, second].concat());
    let sa = wait_stats(&a, "a counted", |s| s["total"] == 40);
    let sb = wait_stats(&b, "b counted", |s| s["total"] == 40);
    assert_eq!(replayable(&sa), replayable(&sb));
    assert_eq!(web1.count_output("storing not confirmed"), 0);
}

#[tokio::test]
async fn a_stream_made_again_is_read_from_its_start() {
    let nats = NatsServer::start(&[]);
    let (_d, log) = new_log("access.log");
    let web1 = Publisher::start(&nats.url(), "web1", &log, &["--jetstream", "WEBPEEK"]);
    let hub = js_hub(&nats, "WEBPEEK");
    let mut ws = viewer(&hub).await;
    let before = numbered("/before", 5);
    append_paths(&web1, "203.0.113.1", &before);
    let (hits, _) = collect_hits(&mut ws, 5, Duration::from_secs(15)).await;
    assert_eq!(paths(&hits), before);
    // `nats stream rm WEBPEEK`: the stream made again numbers its messages from 1.
    raw_publish(
        &nats,
        "$JS.API.STREAM.DELETE.WEBPEEK _INBOX.test.delete",
        b"",
    );
    let after = numbered("/after", 3);
    append_paths(&web1, "203.0.113.1", &after);
    let (hits, _) = collect_hits(&mut ws, 3, Duration::from_secs(20)).await;
    assert_eq!(paths(&hits), after);
    hub.wait_output("was made again", Duration::from_secs(1));
    let stats = wait_stats(&hub, "all counted", |s| s["total"] == 8);
    assert_eq!(stats["nats"]["duplicates"], 0, "{stats}");
}

#[tokio::test]
async fn jetstream_not_enabled_is_said_once() {
    let nats = NatsServer::start(&["--no-jetstream"]);
    let (_d, log) = new_log("access.log");
    let web1 = Publisher::start(&nats.url(), "web1", &log, &["--jetstream", "WEBPEEK"]);
    append_paths(&web1, "203.0.113.1", &numbered("/n", 3));
    let said = web1.wait_output("JetStream is not enabled", Duration::from_secs(10));
    assert!(said.contains("start nats-server with -js"), "{said}");
    let hub = spawn_hub(&nats.url(), &["--jetstream", "WEBPEEK"]);
    hub.wait_output("JetStream is not enabled", Duration::from_secs(10));
    // Retried quietly: one line each.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(web1.count_output("JetStream is not enabled"), 1);
    let stats = hub.stats();
    assert_eq!(stats["nats"]["state"], "connected", "{stats}");
    assert_eq!(stats["nats"]["stream"], "WEBPEEK", "{stats}");
    let shown = stats["nats"]["stream_error"].as_str().unwrap_or_default();
    assert!(shown.contains("JetStream is not enabled"), "{stats}");
    assert_eq!(stats["total"], 0, "{stats}");
}

#[tokio::test]
async fn a_publishers_own_site_is_not_a_referring_site() {
    let nats = NatsServer::start(&[]);
    let hub = hub(&nats, &[]);
    let (_d1, log1) = new_log("web1.log");
    let (_d2, log2) = new_log("web2.log");
    // The lines' referer is https://example.com/: web1 serves that site, web2 another.
    let web1 = Publisher::start(
        &nats.url(),
        "web1",
        &log1,
        &["--site", "https://example.com"],
    );
    let web2 = Publisher::start(
        &nats.url(),
        "web2",
        &log2,
        &["--site", "https://other.example"],
    );
    append_paths(&web1, "203.0.113.1", &numbered("/one", 2));
    append_paths(&web2, "203.0.113.2", &numbered("/two", 3));
    let stats = wait_stats(&hub, "both counted", |s| s["total"] == 5);
    assert_eq!(
        stats["panels"]["all"]["sites"],
        serde_json::json!([["example.com", 3]]),
        "only web2's hits came from another site: {stats}"
    );
}
