//! A real `nats-server` (Debian package `nats-server`) on a free 127.0.0.1 port with its own
//! temp dir (JetStream store included), killed on drop; and `webpeek publish` processes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A free loopback port (nobody listens on it when this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `nats-server`, killed on drop.
pub struct NatsServer {
    child: Option<Child>,
    /// Client port.
    pub port: u16,
    /// HTTP monitoring port (`/connz`).
    pub monitor: u16,
    /// Its temp dir: the JetStream store and its log.
    pub dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl NatsServer {
    /// Starts `nats-server -a 127.0.0.1 -p PORT -m MONITOR -js -sd DIR EXTRA...` and waits until
    /// it answers (`--no-jetstream` among `extra`: without `-js -sd DIR`).
    pub fn start(extra: &[&str]) -> NatsServer {
        Self::start_on(free_port(), extra)
    }

    /// Starts it on this client port.
    pub fn start_on(port: u16, extra: &[&str]) -> NatsServer {
        let mut server = NatsServer {
            child: None,
            port,
            monitor: free_port(),
            dir: tempfile::tempdir().unwrap(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none());
        let store = self.dir.path().join("jetstream");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("nats-server.log"))
            .unwrap();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-m", &self.monitor.to_string()])
            .args(if self.extra.iter().any(|a| a == "--no-jetstream") {
                vec![]
            } else {
                vec!["-js".into(), "-sd".into(), store.into_os_string()]
            })
            .args(self.extra.iter().filter(|a| *a != "--no-jetstream"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("nats-server (apt-get install nats-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut hello = [0u8; 4];
                if s.read_exact(&mut hello).is_ok() && &hello == b"INFO" {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats-server.log")).unwrap_or_default()
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, with the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// `GET /connz?subs=1` of the monitoring port.
    pub fn connz(&self) -> serde_json::Value {
        self.monitor("/connz?subs=1")
    }

    /// Messages stored in JetStream, in all streams (the monitoring port's `/jsz`).
    pub fn stored_messages(&self) -> u64 {
        self.monitor("/jsz")["messages"].as_u64().unwrap_or(0)
    }

    /// A JSON page of the monitoring port.
    fn monitor(&self, path: &str) -> serde_json::Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.monitor)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {raw}"))
    }

    /// Waits (bounded) until a client whose name contains `name` subscribes to `subject`.
    pub fn wait_subscribed(&self, name: &str, subject: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let connz = self.connz();
            let found = connz["connections"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| {
                    c["name"].as_str().is_some_and(|n| n.contains(name))
                        && c["subscriptions_list"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|s| s == subject)
                });
            if found {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no client {name:?} subscribed to {subject}: {connz}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `webpeek publish`, killed on drop.
pub struct Publisher {
    pub child: Child,
    /// The log it follows (`append` writes there).
    pub log: PathBuf,
    /// What it wrote to stderr so far.
    pub output: Arc<Mutex<Vec<String>>>,
}

impl Publisher {
    /// Starts `webpeek publish --nats URL --name NAME --poll-interval 0.2 EXTRA... LOG` and
    /// waits until it follows the log.
    pub fn start(url: &str, name: &str, log: &Path, extra: &[&str]) -> Publisher {
        let publisher = Self::spawn(url, name, log, extra);
        publisher.wait_output("webpeek: publishing to NATS", Duration::from_secs(20));
        publisher
    }

    /// Starts it without waiting.
    pub fn spawn(url: &str, name: &str, log: &Path, extra: &[&str]) -> Publisher {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webpeek"))
            .args([
                "publish",
                "--nats",
                url,
                "--name",
                name,
                "--poll-interval",
                "0.2",
            ])
            .args(extra)
            .arg(log)
            .env("WEBPEEK_LOG", "webpeek=debug")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let lines = output.clone();
        let tag = name.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[publish {tag}] {line}");
                lines.lock().unwrap().push(line);
            }
        });
        Publisher {
            child,
            log: log.to_owned(),
            output,
        }
    }

    /// Appends to the log it follows.
    pub fn append(&self, text: impl AsRef<[u8]>) {
        super::append(&self.log, text);
    }

    /// Waits (bounded) until it has written a line containing `needle`; returns the line.
    pub fn wait_output(&self, needle: &str, limit: Duration) -> String {
        super::wait_for_line(&self.output, needle, limit, "publish")
    }

    /// How many lines it wrote contain `needle`.
    pub fn count_output(&self, needle: &str) -> usize {
        super::count_lines(&self.output, needle)
    }

    /// Waits (bounded) for it to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "publish did not exit; it said:\n{}",
                self.output.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it with SIGTERM, as a service manager would, and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.wait_exit(Duration::from_secs(15))
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
