//! A real `redis-server` process per test, on a free loopback port.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::cluster::{Node, ShapeError};
use crate::wait::NotDone;

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    dir: TempDir,
    password: Option<String>,
    /// More `redis-server` arguments, such as cluster mode's.
    extra: Vec<String>,
}

fn redis_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REDIS_SERVER_BIN") {
        return path.into();
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("redis-server")).find(|path| path.is_file()))
        .unwrap_or_else(|| {
            panic!("redis-server is not on PATH: install it (apt-get install redis-server) or set REDIS_SERVER_BIN")
        })
}

pub(super) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free loopback port").port()
}

impl RedisServer {
    pub async fn start() -> Self {
        Self::start_with_password(None).await
    }

    /// A server that requires `AUTH` with this password (`requirepass`).
    pub async fn start_with_password(password: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for redis");
        let mut server =
            Self { port: free_port(), child: None, dir, password: password.map(str::to_owned), extra: Vec::new() };
        for _ in 0..5 {
            if server.spawn().await {
                return server;
            }
            // Another process took the port between our probe and redis' bind: try another one.
            server.port = free_port();
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// A server on `port` with more arguments; panics if the port is taken.
    pub(crate) async fn start_on(port: u16, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for redis");
        let extra = extra.iter().map(|arg| (*arg).to_owned()).collect();
        let mut server = Self { port, child: None, dir, password: None, extra };
        assert!(server.spawn().await, "redis-server could not take port {port}");
        server
    }

    async fn spawn(&mut self) -> bool {
        let mut command = Command::new(redis_server_binary());
        command.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        command.args(&self.extra);
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let child = command
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().expect("redis-server status").is_some()
            {
                self.child = None;
                return false;
            }
            if self.admin().await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server on port {} did not answer PING within 10s", self.port);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis-server is running").id()
    }

    /// A direct connection that bypasses the backend, to check what Redis really holds.
    pub async fn admin(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let url = match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => self.url(),
        };
        let client = redis::Client::open(url)?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut connection).await?;
        Ok(connection)
    }

    /// `127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` against this server and gives what it printed.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs (apt-get install redis-tools)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Kills the process: connections are reset and new ones refused.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts redis again on the same port.
    pub async fn restart(&mut self) {
        assert!(self.spawn().await, "redis-server could not take back port {}", self.port);
    }

    /// Freezes the process with SIGSTOP: the kernel still accepts connections and data, but
    /// nothing answers, as when a network silently drops packets.
    pub fn freeze(&self) {
        signal(self.pid(), "-STOP");
    }

    pub fn thaw(&self) {
        signal(self.pid(), "-CONT");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What went wrong asking a server through `redis-cli`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AdminError(String);

impl From<NotDone> for AdminError {
    fn from(error: NotDone) -> Self {
        Self(error.to_string())
    }
}

impl From<ShapeError> for AdminError {
    fn from(error: ShapeError) -> Self {
        Self(error.0)
    }
}

impl Node for RedisServer {
    type Error = AdminError;

    fn endpoint(&self) -> String {
        Self::endpoint(self)
    }

    async fn redis_cli(&self, args: &[&str]) -> Result<String, AdminError> {
        let output = tokio::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|error| AdminError(format!("redis-cli does not run ({error}): apt-get install redis-tools")))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() || stdout.starts_with("ERR") {
            return Err(AdminError(format!("redis-cli {} failed: {stdout}", args.join(" "))));
        }
        Ok(stdout)
    }
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().expect("kill runs");
    assert!(status.success(), "kill {signal} {pid} failed");
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_ref() {
            // A frozen process ignores SIGKILL until continued on some kernels; thaw it first.
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
        }
        self.kill();
    }
}
