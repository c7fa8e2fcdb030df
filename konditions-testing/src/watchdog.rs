//! Stops a control plane when the process that started it ends, however it
//! ends: normal exit (Rust does not drop statics), a panic, `abort`,
//! SIGINT, SIGTERM or SIGKILL.
//!
//! The watchdog is a tiny `/bin/sh` child that reads lines from a pipe the
//! test process holds open. The test process sends it the pid of each
//! server it starts. When the test process is gone, for any reason, the
//! kernel closes its end of the pipe and the watchdog's `read` sees the end
//! of input: it sends SIGTERM to the servers (only if their command line
//! still names the instance's directory, so a reused pid is never hit),
//! waits up to 15 seconds, sends SIGKILL, and removes the directory.
//! Rust opens pipes close-on-exec, so no other child keeps the pipe open.
//! The watchdog and the servers run in their own process groups, so the
//! SIGINT of a Ctrl-C reaches only the test process, and the watchdog does
//! the cleanup instead of racing it.
//!
//! A control plane stopped by its owner sends `release`, and the watchdog
//! exits without touching anything (also how `ControlPlane::detach` hands
//! the servers over to a caller that outlives this process).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::Error;

/// What the watchdog runs. `$1` is the instance directory, `$2` is `rm` to
/// remove it after the servers are gone.
const SCRIPT: &str = r#"
trap '' INT HUP
dir=$1
pids=
while read -r word arg; do
  case $word in
    pid) pids="$pids $arg" ;;
    release) exit 0 ;;
  esac
done
ours() { [ -r "/proc/$1/cmdline" ] && tr '\0' '\n' < "/proc/$1/cmdline" | grep -qF -- "$dir"; }
for pid in $pids; do ours "$pid" && kill -TERM "$pid" 2>/dev/null; done
tries=0
while [ $tries -lt 30 ]; do
  left=
  for pid in $pids; do ours "$pid" && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && left=yes; done
  [ -z "$left" ] && break
  sleep 0.5 2>/dev/null || sleep 1
  tries=$((tries + 1))
done
for pid in $pids; do ours "$pid" && kill -KILL "$pid" 2>/dev/null; done
[ "$2" = rm ] && rm -rf -- "$dir"
exit 0
"#;

/// The test process's end of the pipe, and the watchdog process.
#[derive(Debug)]
pub(crate) struct Watchdog {
    pipe: Option<ChildStdin>,
    child: Child,
}

impl Watchdog {
    /// Starts a watchdog for the servers of `dir`; it removes `dir` after
    /// them when `remove_dir` is set.
    pub(crate) fn start(dir: &Path, remove_dir: bool) -> Result<Self, Error> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("konditions-watchdog")
            .arg(dir)
            .arg(if remove_dir { "rm" } else { "keep" })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| Error::io("starting the watchdog (/bin/sh)", e))?;
        let pipe = child.stdin.take();
        Ok(Self { pipe, child })
    }

    /// Adds a server to stop if this process dies.
    pub(crate) fn watch(&mut self, pid: u32) -> Result<(), Error> {
        self.send(&format!("pid {pid}\n"))
    }

    fn send(&mut self, line: &str) -> Result<(), Error> {
        let pipe = self
            .pipe
            .as_mut()
            .ok_or_else(|| Error::io("the watchdog", std::io::ErrorKind::BrokenPipe.into()))?;
        pipe.write_all(line.as_bytes())
            .and_then(|()| pipe.flush())
            .map_err(|e| Error::io("writing to the watchdog", e))
    }

    /// Ends the watchdog without it touching anything: the servers were
    /// stopped, or are handed over.
    pub(crate) fn release(mut self) {
        let _ = self.send("release\n");
        self.pipe = None;
        let _ = self.child.wait();
    }

    /// Closes the pipe as a dying process would, and waits until the
    /// watchdog has stopped the servers.
    pub(crate) fn fire(mut self) {
        self.pipe = None;
        let _ = self.child.wait();
    }
}
