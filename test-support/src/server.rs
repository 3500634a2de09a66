//! A throwaway `redis-server` process on a free loopback port.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::NetworkNamespace;

/// How long a server may take to come up before the test fails.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// A free loopback port (never 6379).
pub fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local addr").port();
        if port != 6379 {
            return port;
        }
    }
}

/// One `redis-server` process.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
    /// The password to use for `redis-cli` and readiness checks, if any.
    password: Option<String>,
    /// Where it listens and runs.
    place: Place,
}

/// The address a server binds, and the network namespace it runs in (none: the test's own).
#[derive(Clone, Debug)]
struct Place {
    host: String,
    netns: Option<String>,
}

impl Default for Place {
    fn default() -> Self {
        Place {
            host: "127.0.0.1".into(),
            netns: None,
        }
    }
}

impl RedisServer {
    /// A plain server.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[], None)
    }

    /// A server with extra arguments; `password` is what `redis-cli` must authenticate with.
    pub fn start_with(args: &[&str], password: Option<&str>) -> RedisServer {
        RedisServer::start_at(Place::default(), args, password)
    }

    /// A server inside `netns`, bound to its address there (reached through the veth pair), so a
    /// test can cut and restore the link with [`NetworkNamespace::link_down`] and
    /// [`link_up`](NetworkNamespace::link_up).
    pub fn start_in(netns: &NetworkNamespace, args: &[&str]) -> RedisServer {
        let place = Place {
            host: netns.address().to_owned(),
            netns: Some(netns.name().to_owned()),
        };
        RedisServer::start_at(place, args, None)
    }

    fn start_at(place: Place, args: &[&str], password: Option<&str>) -> RedisServer {
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                child: None,
                port,
                args: args.iter().map(|s| s.to_string()).collect(),
                dir: tempfile::tempdir().expect("temp dir"),
                password: password.map(str::to_owned),
                place: place.clone(),
            };
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let child = spawn_redis(self.dir.path(), &self.place, self.port, &self.args)?;
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("exited early with {status}"));
                }
            }
            if ping_raw(&self.place.host, self.port, self.password.as_deref()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err("no PONG before the deadline".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://HOST:PORT` (`127.0.0.1` unless the server runs in a network namespace).
    pub fn url(&self) -> String {
        format!("redis://{}:{}", self.place.host, self.port)
    }

    fn pid(&self) -> i32 {
        self.child
            .as_ref()
            .map(|c| c.id() as i32)
            .expect("server is running")
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        signal(self.pid(), libc::SIGSTOP);
    }

    /// Thaws a paused process (SIGCONT).
    pub fn resume(&self) {
        signal(self.pid(), libc::SIGCONT);
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id() as i32, libc::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill)), empty.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("restart failed: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Runs `redis-cli` against this server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.arg("-h").arg(&self.place.host);
        cmd.arg("-p").arg(self.port.to_string());
        if let Some(password) = &self.password {
            cmd.arg("--no-auth-warning").arg("-a").arg(password);
        }
        let out = cmd.args(args).output().expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Sends one raw RESP command with binary arguments (no shell, no quoting).
    pub fn raw(&self, args: &[&[u8]]) -> Vec<u8> {
        let mut stream =
            TcpStream::connect((self.place.host.as_str(), self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut out = Vec::new();
        if let Some(password) = &self.password {
            out.extend_from_slice(&resp(&[b"AUTH", password.as_bytes()]));
        }
        out.extend_from_slice(&resp(args));
        stream.write_all(&out).expect("write");
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).unwrap_or(0);
        buf.truncate(n);
        buf
    }

    /// Number of clients connected, as the server counts them (including the asking one).
    pub fn connected_clients(&self) -> usize {
        self.cli(&["INFO", "clients"])
            .lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_redis(dir: &Path, place: &Place, port: u16, args: &[String]) -> Result<Child, String> {
    let mut cmd = match &place.netns {
        // `ip netns exec` enters the namespace and execs redis-server: same process, same pid.
        Some(netns) => {
            let mut cmd = Command::new("ip");
            // Not loopback, so protected mode would refuse the test; only the veth reaches it.
            cmd.args([
                "netns",
                "exec",
                netns,
                "redis-server",
                "--protected-mode",
                "no",
            ]);
            cmd
        }
        None => Command::new("redis-server"),
    };
    cmd.current_dir(dir)
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", &place.host, "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no", "--loglevel", "warning"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the child with us.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| format!("cannot run redis-server: {e}"))
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: plain syscall on a child we spawned and have not reaped.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Whether the server answers on `port` (a refused password counts as answering).
fn ping_raw(host: &str, port: u16, password: Option<&str>) -> bool {
    let Ok(mut stream) = TcpStream::connect((host, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut out = Vec::new();
    if let Some(password) = password {
        out.extend_from_slice(&resp(&[b"AUTH", password.as_bytes()]));
    }
    out.extend_from_slice(&resp(&[b"PING"]));
    if stream.write_all(&out).is_err() {
        return false;
    }
    let mut buf = [0u8; 256];
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if text.contains("PONG") || text.contains("NOAUTH") {
                    return true;
                }
                if text.contains("LOADING") {
                    return false;
                }
            }
        }
    }
    false
}
