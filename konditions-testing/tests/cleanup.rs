//! Nothing is left running when a test process dies: a child process (this
//! same binary, in child mode) starts the shared control plane, prints its
//! state directory and pids, then dies in one of four ways. The parent then
//! waits until no process names the directory in its command line (etcd,
//! kube-apiserver and the watchdog all do) and the directory is gone.
//!
//! A test target without libtest's harness, so the child mode is a `main`
//! argument rather than a test that does nothing when run normally.
// A test runner of its own: printing is its interface.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const CHILD: &str = "KONDITIONS_CLEANUP_CHILD";
/// A guard against hangs: the watchdog gives servers 15 s to exit.
const WAIT: Duration = Duration::from_secs(60);

/// How the child dies.
const ENDINGS: [&str; 4] = ["panic", "abort", "sigint", "sigkill"];

fn main() -> ExitCode {
    if let Ok(ending) = std::env::var(CHILD) {
        child(&ending);
    }
    let mut failed = 0;
    for ending in ENDINGS {
        let name = format!("a child that ends by {ending} leaves nothing running");
        match parent(ending) {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                println!("test {name} ... FAILED\n  {why}");
                failed += 1;
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        ENDINGS.len() - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts the shared control plane (a static: never dropped), reports it,
/// and dies.
fn child(ending: &str) -> ! {
    let control_plane = konditions_testing::shared();
    let state = control_plane.state();
    println!(
        "started {} {} {}",
        state.dir.display(),
        state.etcd_pid,
        state.apiserver_pid
    );
    if ending == "sigint" && sigint_ignored() {
        // Started from a shell's background job, this process inherited an
        // ignored SIGINT; a Ctrl-C handler that exits stands in for the
        // default action (neither runs destructors).
        ctrlc::set_handler(|| std::process::exit(130)).expect("a SIGINT handler");
    }
    match ending {
        "panic" => panic!("a test fails with the control plane running"),
        "abort" => std::process::abort(),
        // The parent signals us.
        _ => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
    }
}

fn parent(ending: &str) -> Result<(), String> {
    let mut child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .env(CHILD, ending)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawning the child: {e}"))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let ["started", dir, etcd, apiserver] = words[..] else {
        let _ = child.kill();
        return Err(format!("the child did not start a control plane: {line:?}"));
    };
    let dir = PathBuf::from(dir);
    for pid in [etcd, apiserver] {
        let pid: u32 = pid.parse().map_err(|e| format!("{pid}: {e}"))?;
        if !names(pid, &dir) {
            return Err(format!("pid {pid} does not run the control plane"));
        }
    }
    let before = processes_naming(&dir);
    if before.len() < 3 {
        return Err(format!(
            "expected etcd, kube-apiserver and the watchdog, found {before:?}"
        ));
    }
    match ending {
        "sigint" => signal(child.id(), Signal::SIGINT),
        "sigkill" => signal(child.id(), Signal::SIGKILL),
        _ => {}
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        return Err(format!("the child exited successfully ({status})"));
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let left = processes_naming(&dir);
        if left.is_empty() && !dir.exists() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "after {WAIT:?}: still running {left:?}, directory {} exists: {}",
                dir.display(),
                dir.exists()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether SIGINT (signal 2, bit 1 of the mask) is ignored, per /proc.
fn sigint_ignored() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & 0b10 != 0)
}

fn signal(pid: u32, signal: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), signal);
}

/// Whether `pid` runs (not a zombie) with `dir` in its command line.
fn names(pid: u32, dir: &Path) -> bool {
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    });
    !zombie
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&*dir.to_string_lossy()))
}

/// Every live process whose command line names `dir`.
fn processes_naming(dir: &Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| names(*pid, dir))
        .collect()
}
