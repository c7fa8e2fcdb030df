//! What `/proc` says about the processes a benchmark measures: their CPU
//! seconds and peak RSS, the control plane's and PostgreSQL's processes
//! found by name, and the load average. Linux only, as the benchmarks are.

use std::process::Command;

/// The peak resident set size (VmHWM) of process `pid`, in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Clock ticks per second of `/proc/PID/stat`'s times (`getconf CLK_TCK`,
/// 100 on Linux when it cannot be asked).
pub(crate) fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The CPU time of process `pid` so far, user and system, in seconds.
pub(crate) fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    stat_seconds(pid, ticks, &[14, 15])
}

/// The sum of `/proc/PID/stat` time fields `fields` (numbered from 1), in
/// seconds.
pub(crate) fn stat_seconds(pid: u32, ticks: f64, numbers: &[usize]) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // `pid (comm) state ...`: comm may hold spaces; the fields after it
    // start with state (field 3), utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| -> f64 {
        fields
            .get(n - 3)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    numbers.iter().map(|&n| field(n)).sum::<f64>() / ticks
}

/// The CPU seconds of the control plane's processes (kube-apiserver and
/// etcd, found by name under /proc): what each operator costs the server
/// side, which the load average only blurs.
pub(crate) fn control_plane_cpu_seconds(ticks: f64) -> f64 {
    processes_named(&["kube-apiserver", "etcd"])
        .map(|pid| cpu_seconds(pid, ticks))
        .sum()
}

/// The CPU seconds of PostgreSQL: every `postgres` process, and the
/// connections that ended (the postmaster's children's times, fields 16
/// and 17).
pub(crate) fn database_cpu_seconds(ticks: f64) -> f64 {
    processes_named(&["postgres"])
        .map(|pid| stat_seconds(pid, ticks, &[14, 15, 16, 17]))
        .sum()
}

/// The processes whose command name is one of `names`.
pub(crate) fn processes_named(names: &[&str]) -> impl Iterator<Item = u32> {
    let entries = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    entries
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(move |pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| names.contains(&comm.trim()))
        })
}

/// The three load averages of `/proc/loadavg`.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
