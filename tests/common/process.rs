//! The real `orguard` binary as a child process, for what only a process can show: config
//! loading from files and env, signals, exit codes, and what it writes to its logs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_orguard");

/// A running gateway process. Killed on drop if still running.
pub struct GatewayProcess {
    pub child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
}

/// A command for the binary with a clean environment (no inherited ORGUARD_* or key).
pub fn command() -> Command {
    clean(Command::new(BIN))
}

/// The binary started through `program args…` (e.g. `nice -n 5`), which must exec it so
/// that the child is the gateway process itself; same clean environment as [`command`].
pub fn command_through(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args).arg(BIN);
    clean(cmd)
}

fn clean(mut cmd: Command) -> Command {
    cmd.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

impl GatewayProcess {
    /// Spawns `cmd` and waits for the "orguard listening" log line.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("spawn orguard");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("orguard listening") {
                    let _ = tx.send(parse_listen(&line));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!(
                "orguard did not start; logs:\n{}",
                logs.lock().unwrap().join("\n")
            );
        };
        GatewayProcess { child, addr, logs }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, returning its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_listen(line: &str) -> SocketAddr {
    let at = line.find("listen").expect("listen field");
    let rest = &line[at + "listen".len()..];
    let start = rest.find(|c: char| c.is_ascii_digit()).unwrap();
    let addr: String = rest[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    addr.parse()
        .unwrap_or_else(|_| panic!("bad listen address in {line}"))
}
