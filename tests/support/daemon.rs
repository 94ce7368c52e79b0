//! External daemons for the integration tests: where to find them, and a guard that stops one
//! by PID when the test ends, also when it panics.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a SIGTERM gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The Alertmanager daemon: Debian names it `prometheus-alertmanager`, upstream `alertmanager`.
/// `None` (locally) when neither is on `PATH`; under `CI=true` a missing daemon fails the test.
pub fn alertmanager() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("prometheus-alertmanager"))
                .find(|p| p.is_file())
        })
        .or_else(|| super::require_tool("alertmanager"))
}

/// A running daemon, its output in a log file; stopped by PID on drop.
pub struct Daemon {
    child: Option<Child>,
    name: String,
    log: PathBuf,
}

impl Daemon {
    /// Starts `binary` with `args`, stdout and stderr to `log`.
    pub fn spawn(name: &str, binary: &Path, args: &[String], log: PathBuf) -> Self {
        let out = File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone the log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({}): {e}", binary.display()));
        Self {
            child: Some(child),
            name: name.to_owned(),
            log,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the daemon wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its exit status, if it has exited (or was killed).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().expect("try_wait")
    }

    /// Panics with the log when the daemon has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            panic!("{} exited with {status}:\n{}", self.name, self.log());
        }
    }

    /// SIGKILL by PID, as a crashed or lost node would go, and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// SIGTERM by PID, up to [`STOP_GRACE`] to exit, then SIGKILL; reaped either way.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
    }
}

/// SIGTERM to `child` by PID, up to [`STOP_GRACE`] to exit, then SIGKILL; reaped either way.
pub fn stop_child(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}
