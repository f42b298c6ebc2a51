//! A real nginx (Debian `nginx-light`) as a child process with its own config in a temp dir,
//! on a free loopback port: writing an access log, or standing in front of webpeek.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A real nginx (master + 1 worker) in a temp dir, stopped on drop.
pub struct Nginx {
    pub child: Child,
    pub conf: PathBuf,
    pub prefix: PathBuf,
    pub port: u16,
}

impl Nginx {
    /// Starts nginx on a free loopback port with its access log in `dir/access.log` and one
    /// `server` whose body (after `listen`) is `locations`.
    pub fn start(dir: &Path, locations: &str) -> Nginx {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let d = dir.display();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\n\
                 pid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n  access_log {d}/access.log combined;\n\
                 client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
                 fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n\
                 scgi_temp_path {d}/tmp/scgi;\n\
                 server {{\n    listen 127.0.0.1:{port};\n    {locations}\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("nginx is installed (/usr/sbin/nginx)");
        let mut ng = Nginx {
            child,
            conf,
            prefix: dir.to_owned(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = ng.child.try_wait() {
                let err = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                panic!("nginx exited at start ({status}): {err}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && dir.join("access.log").exists()
            {
                return ng;
            }
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `nginx -s reopen`: the master reopens the log and tells its worker to.
pub fn reopen(conf: &Path, prefix: &Path) {
    {
        let out = Command::new("/usr/sbin/nginx")
            .arg("-c")
            .arg(conf)
            .arg("-p")
            .arg(prefix)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .args(["-s", "reopen"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nginx -s reopen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
