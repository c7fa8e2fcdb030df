//! The errors of the harness: every one says what to do about it.

use std::path::PathBuf;

/// Why a control plane (or the kstatus tool) could not be found, built,
/// started or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No binaries were given or cached, and Go is not installed to build
    /// them.
    #[error(
        "no {what}, and Go cannot build it: {reason}. Install Go >= {min_go} and put `go` on \
         PATH (it is then built once from the Go module pinned in konditions-testing and cached \
         in {cache}){alternative}"
    )]
    NoGo {
        /// What was to be built.
        what: &'static str,
        /// The other way out, if there is one (", or ...").
        alternative: &'static str,
        /// Why Go cannot run (not found, too old).
        reason: String,
        /// The Go version needed.
        min_go: &'static str,
        /// Where built binaries are cached.
        cache: String,
    },
    /// A directory that should hold the binaries lacks some of them.
    #[error(
        "{origin} {} lacks {}: it must hold kube-apiserver, etcd and kubectl (executables)",
        dir.display(),
        missing.join(", ")
    )]
    IncompleteBinaries {
        /// Where the directory came from (`KUBEBUILDER_ASSETS`, an explicit path).
        origin: &'static str,
        /// The directory.
        dir: PathBuf,
        /// The binaries that are missing or not executable.
        missing: Vec<&'static str>,
    },
    /// `go build` failed.
    #[error(
        "`go build` of {what} failed ({status}). Its last output:\n{output}\nCheck that the Go \
         module proxy is reachable (GOPROXY={proxy})"
    )]
    GoBuild {
        /// What was built.
        what: &'static str,
        /// Go's exit status.
        status: String,
        /// The end of its output.
        output: String,
        /// The proxy in use.
        proxy: String,
    },
    /// A file operation failed.
    // The cause is part of the message and not also `source()`, so a
    // report that walks the chain prints it once.
    #[error("{what}: {error}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A fixed port is not free.
    #[error(
        "port {port} for kube-apiserver is not free ({error}); pick another or let the harness pick a free one"
    )]
    PortTaken {
        /// The port.
        port: u16,
        /// Why binding it failed.
        error: std::io::Error,
    },
    /// etcd or kube-apiserver did not start.
    #[error("{process} did not start: {reason}\nLast lines of {}:\n{log_tail}", log.display())]
    Start {
        /// `etcd` or `kube-apiserver`.
        process: &'static str,
        /// What went wrong.
        reason: String,
        /// The process's log file.
        log: PathBuf,
        /// Its last lines.
        log_tail: String,
    },
    /// The shared control plane of this process failed to start earlier.
    #[error("the shared control plane of this test process did not start: {0}")]
    Shared(String),
    /// The kubeconfig could not be read or turned into a client.
    #[error("kubeconfig {}: {reason}", path.display())]
    Kubeconfig {
        /// The kubeconfig.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The API server refused a request (or could not be reached).
    #[error("{what}: {error}")]
    Api {
        /// What was asked, e.g. `applying CRD "widgets.example.com"`.
        what: String,
        /// kube's error (for an API error, its `code` and `reason`).
        error: kube::Error,
    },
    /// A CRD was accepted but is not served.
    #[error("CRD {name}: {reason}")]
    CrdNotEstablished {
        /// The CRD's name.
        name: String,
        /// Not Established in time, or the watch on it failed.
        reason: String,
    },
    /// A CRD file could not be read, or holds something other than CRDs.
    #[error("{}: {reason}", path.display())]
    CrdFile {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The kstatus tool failed.
    #[error("kstatus: {0}")]
    Kstatus(String),
    /// The Argo CD health tool failed (or Argo CD refused the script or
    /// the ConfigMap: its error is in the message).
    #[error("Argo CD health: {0}")]
    ArgoCd(String),
    /// The Flux status-check tool failed.
    #[error("Flux status check: {0}")]
    FluxCheck(String),
    /// The object given to the compliance check is not a Kubernetes object
    /// (JSON with `apiVersion`, `kind` and `metadata`).
    #[error("the compliance check needs a Kubernetes object: {0}")]
    NotAnObject(String),
    /// A condition did not hold for the object's generation in time
    /// ([`wait_for_condition`](crate::wait_for_condition)).
    #[error(
        "{object}: condition {condition} was not {status} for generation {generation} within {waited:?}; last seen: {last_seen}"
    )]
    ConditionTimeout {
        /// The object, `namespace/name`.
        object: String,
        /// The condition type.
        condition: String,
        /// The status waited for.
        status: String,
        /// The object's generation when the wait gave up.
        generation: i64,
        /// How long it waited.
        waited: std::time::Duration,
        /// The condition as last seen (status, reason, message,
        /// observedGeneration), or that it was absent.
        last_seen: String,
    },
    /// An object was still there after the wait
    /// ([`wait_for_deletion`](crate::wait_for_deletion)).
    #[error(
        "{object} still exists after {waited:?}: {}",
        if finalizers.is_empty() { "not deleted (no deletionTimestamp)".to_owned() } else { format!("held by the finalizers {finalizers:?}") }
    )]
    DeletionTimeout {
        /// The object, `namespace/name`.
        object: String,
        /// How long it waited.
        waited: std::time::Duration,
        /// Its finalizers when the wait gave up (empty: nobody deleted it).
        finalizers: Vec<String>,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, error: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::Error;

    #[test]
    fn causes_are_printed_once_when_the_chain_is_walked() {
        let errors = [
            Error::io("reading x", std::io::Error::other("disk on fire")),
            Error::PortTaken {
                port: 6443,
                error: std::io::ErrorKind::AddrInUse.into(),
            },
        ];
        for error in errors {
            let mut report = error.to_string();
            let mut cause = error.source();
            while let Some(c) = cause {
                report.push_str(&format!(": {c}"));
                cause = c.source();
            }
            assert_eq!(report, error.to_string(), "the chain repeats the message");
        }
    }
}
