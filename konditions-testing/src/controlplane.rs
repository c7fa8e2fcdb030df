//! A real Kubernetes control plane (etcd + kube-apiserver) on loopback, the
//! same idea as kubebuilder's envtest, started from any crate's tests.
//!
//! [`ControlPlane::start`] finds the binaries ([`Binaries`]), makes a
//! state directory (a fresh temporary one unless [`Builder::dir`] names
//! one), picks free ports, starts etcd then kube-apiserver, waits until the
//! API server is ready and writes an admin kubeconfig. A port taken by
//! someone else between the pick and the bind is detected in the server's
//! log and the server is restarted on new ports.
//!
//! The servers stop when the [`ControlPlane`] is dropped or
//! [`stop`](ControlPlane::stop)ped, and also when the process ends without
//! dropping it (a panic, `abort`, SIGINT, SIGKILL): a watchdog process
//! stops them then (see the `watchdog` module). [`ControlPlane::detach`]
//! hands them over to a caller that outlives the process (what
//! `cargo xtask controlplane up` does), with a [`State`] to stop them later.
//!
//! No controller-manager or scheduler runs: pods are never scheduled,
//! namespaces are never fully deleted and nothing is garbage collected, so
//! tests use a fresh namespace each.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kube::Client;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::binaries::{Binaries, Lookup};
use crate::watchdog::Watchdog;

/// How long etcd may take to report healthy.
const ETCD_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long kube-apiserver may take to report ready (all post-start hooks
/// take 10-20 s on 2 busy cores).
const APISERVER_READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a server may take to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a SIGKILLed server may take to be gone.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// Starts on fresh ports after a port was taken between pick and bind.
const PORT_ATTEMPTS: usize = 5;
/// The admin user (a token in group `system:masters`, loopback only).
const ADMIN_USER: &str = "konditions-admin";

/// Options for [`ControlPlane::start`].
///
/// ```no_run
/// use konditions_testing::ControlPlane;
///
/// let control_plane = ControlPlane::builder()
///     .binaries("/opt/kubebuilder/assets") // else KUBEBUILDER_ASSETS, the cache, a build
///     .start()
///     .unwrap();
/// println!("{}", control_plane.apiserver_url());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    binaries: Option<PathBuf>,
    dir: Option<PathBuf>,
    apiserver_port: Option<u16>,
    /// Ports handed out before free ones (tests of the pick/bind race).
    first_ports: Vec<u16>,
}

impl Builder {
    /// Use the binaries in `dir` (kube-apiserver, etcd, kubectl) rather than
    /// looking them up.
    pub fn binaries(mut self, dir: impl Into<PathBuf>) -> Self {
        self.binaries = Some(dir.into());
        self
    }

    /// Keep the state (etcd data, certificates, kubeconfig, logs) in `dir`,
    /// which is kept after the servers stop; by default a fresh temporary
    /// directory, removed when they stop.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Serve kube-apiserver on `port` instead of a free one; it is an
    /// error if the port is taken.
    pub fn apiserver_port(mut self, port: u16) -> Self {
        self.apiserver_port = Some(port);
        self
    }

    #[cfg(test)]
    pub(crate) fn first_ports(mut self, ports: Vec<u16>) -> Self {
        self.first_ports = ports;
        self
    }

    /// Starts the control plane and waits until it is ready.
    ///
    /// # Errors
    /// The binaries cannot be found or built ([`Error::NoGo`],
    /// [`Error::IncompleteBinaries`], [`Error::GoBuild`]), a fixed port is
    /// taken ([`Error::PortTaken`]), or a server does not start
    /// ([`Error::Start`], with the end of its log).
    pub fn start(self) -> Result<ControlPlane, Error> {
        // Readiness is checked with a kube client on a runtime of its own,
        // which cannot be nested in the caller's: a thread of its own.
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.start_here())
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn start_here(mut self) -> Result<ControlPlane, Error> {
        let binaries = Lookup::from_env(self.binaries.take()).find()?;
        let (dir, temporary) = match self.dir.take() {
            Some(dir) => {
                fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                (dir, false)
            }
            None => (
                tempfile::Builder::new()
                    .prefix("konditions-controlplane-")
                    .tempdir()
                    .map_err(|e| Error::io("creating a temporary directory", e))?
                    .keep(),
                true,
            ),
        };
        let mut watchdog = Watchdog::start(&dir, temporary)?;
        let mut launch = Launch {
            binaries: &binaries,
            dir: &dir,
            ports: self.first_ports.clone(),
            children: Vec::new(),
            attempts: 0,
        };
        match launch.run(&mut watchdog, self.apiserver_port) {
            Ok(state) => Ok(ControlPlane {
                state,
                watchdog: Some(watchdog),
                children: launch.children,
                #[cfg(test)]
                port_attempts: launch.attempts,
            }),
            Err(error) => {
                watchdog.fire();
                for mut child in launch.children {
                    let _ = child.wait();
                }
                Err(error)
            }
        }
    }
}

/// What a running control plane is: where it serves, its pids, its files.
/// Serialisable, so a tool that detached it can find it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The state directory.
    #[serde(default)]
    pub dir: PathBuf,
    /// etcd's pid.
    pub etcd_pid: u32,
    /// kube-apiserver's pid.
    pub apiserver_pid: u32,
    /// etcd's client URL.
    pub etcd_url: String,
    /// The API server's URL (`https://127.0.0.1:<port>`).
    pub apiserver_url: String,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// The kubectl of the same release.
    pub kubectl: PathBuf,
    /// What the API server's `/version` says, e.g. `v1.36.3`.
    pub kubernetes_version: String,
    /// What etcd's `/version` says, e.g. `3.6.8`.
    pub etcd_version: String,
}

impl State {
    /// The variables that point kubectl and konditions-testing at this
    /// control plane: `KUBECONFIG`, `KONDITIONS_KUBECONFIG`, `KUBECTL`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let kubeconfig = self.kubeconfig.display().to_string();
        vec![
            ("KUBECONFIG", kubeconfig.clone()),
            (crate::KUBECONFIG_ENV, kubeconfig),
            ("KUBECTL", self.kubectl.display().to_string()),
        ]
    }

    /// Both servers run (checked by pid and command line, not by asking
    /// them) and the API server answers `/readyz`.
    pub fn is_ready(&self) -> bool {
        running(self.etcd_pid, &self.dir)
            && running(self.apiserver_pid, &self.dir)
            && std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .is_ok_and(|rt| rt.block_on(ready(&self.kubeconfig)).is_ok())
                    })
                    .join()
                    .unwrap_or(false)
            })
    }

    /// Stops the servers of a detached control plane (SIGTERM, then SIGKILL
    /// after 15 s), the API server first. Pids whose command line does not
    /// name the state directory are left alone (reused after a reboot).
    /// The directory is not removed.
    pub fn stop(&self) {
        for pid in [self.apiserver_pid, self.etcd_pid] {
            if !running(pid, &self.dir) {
                continue;
            }
            let target = Pid::from_raw(pid as i32);
            if kill(target, Signal::SIGTERM).is_err() {
                continue;
            }
            if !exited(pid, &self.dir, STOP_TIMEOUT) {
                // SIGKILL is delivered asynchronously: wait until the
                // process is gone, so a caller never sees it running after
                // `stop` returned.
                let _ = kill(target, Signal::SIGKILL);
                exited(pid, &self.dir, KILL_TIMEOUT);
            }
        }
    }
}

/// Waits up to `timeout` for `pid` to stop running; whether it did.
fn exited(pid: u32, dir: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !running(pid, dir) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` runs (not a zombie) with `dir` in its command line.
pub(crate) fn running(pid: u32, dir: &Path) -> bool {
    if pid == 0 || dir.as_os_str().is_empty() {
        return false;
    }
    let zombie = fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    });
    !zombie
        && fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
            String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy())
        })
}

/// A running etcd + kube-apiserver, stopped on drop (or by the watchdog if
/// the process ends first).
///
/// ```no_run
/// # async fn demo() {
/// use k8s_openapi::api::core::v1::Namespace;
/// use konditions_testing::ControlPlane;
///
/// let control_plane = ControlPlane::start().unwrap(); // a private one
/// let client = control_plane.client().await.unwrap();
/// let namespaces: kube::Api<Namespace> = kube::Api::all(client);
/// assert!(namespaces.get("default").await.is_ok());
/// drop(control_plane); // both servers stopped, state removed
/// # }
/// ```
#[derive(Debug)]
pub struct ControlPlane {
    state: State,
    watchdog: Option<Watchdog>,
    children: Vec<Child>,
    #[cfg(test)]
    port_attempts: usize,
}

impl ControlPlane {
    /// Options: explicit binaries, a state directory, a fixed port.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// This test process's control plane, started on the first call; later
    /// calls (from any test, any thread, any tokio runtime) return the same
    /// one. It is stopped when the process ends (by the watchdog: a
    /// `static` is never dropped).
    ///
    /// # Errors
    /// [`Error::Shared`] with the reason it could not be started; every
    /// later call returns the same error rather than trying again.
    pub fn shared() -> Result<&'static ControlPlane, Error> {
        static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
        let started = SHARED.get_or_init(|| {
            let begun = Instant::now();
            crate::say("starting a control plane for this test process");
            ControlPlane::start()
                .inspect(|control_plane| {
                    crate::say(&format!(
                        "control plane ready in {:.1?}: Kubernetes {} at {}",
                        begun.elapsed(),
                        control_plane.state().kubernetes_version,
                        control_plane.apiserver_url()
                    ));
                })
                .map_err(|e| e.to_string())
        });
        started
            .as_ref()
            .map_err(|message| Error::Shared(message.clone()))
    }

    /// Starts a control plane of its own with the defaults: binaries looked
    /// up (see [`Binaries`]), a temporary state directory, free ports.
    ///
    /// # Errors
    /// See [`Builder::start`].
    pub fn start() -> Result<Self, Error> {
        Builder::default().start()
    }

    /// What runs, and where.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.state.kubeconfig
    }

    /// The kubectl of the same release.
    pub fn kubectl(&self) -> &Path {
        &self.state.kubectl
    }

    /// `https://127.0.0.1:<port>`.
    pub fn apiserver_url(&self) -> &str {
        &self.state.apiserver_url
    }

    /// A client with admin rights. A new one per call: a client's
    /// connections belong to the tokio runtime that made it, and each
    /// `#[tokio::test]` has its own.
    ///
    /// # Errors
    /// [`Error::Kubeconfig`] when the kubeconfig cannot be loaded.
    pub async fn client(&self) -> Result<Client, Error> {
        crate::client_for(&self.state.kubeconfig).await
    }

    /// Stops both servers and, if it was temporary, removes the state
    /// directory; the same as dropping it.
    pub fn stop(self) {}

    /// Leaves the servers running after this value and this process are
    /// gone; stop them later with [`State::stop`].
    pub fn detach(mut self) -> State {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.release();
        }
        // Dropping a `Child` neither kills nor waits for it.
        self.children.clear();
        self.state.clone()
    }

    /// How many times a server had to be started on new ports.
    #[cfg(test)]
    pub(crate) fn port_attempts(&self) -> usize {
        self.port_attempts
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // The watchdog's path is the only stopping path, so it is the one
        // every test exercises.
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.fire();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}

/// One start: the servers started so far and the ports handed out.
struct Launch<'a> {
    binaries: &'a Binaries,
    dir: &'a Path,
    ports: Vec<u16>,
    children: Vec<Child>,
    attempts: usize,
}

/// Why a server did not come up.
enum Failure {
    /// It could not bind a port (someone took it after the pick).
    PortTaken,
    /// Anything else.
    Other(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Other(error)
    }
}

impl Launch<'_> {
    fn pick_port(&mut self) -> Result<u16, Error> {
        if !self.ports.is_empty() {
            return Ok(self.ports.remove(0));
        }
        TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .map_err(|e| Error::io("picking a free loopback port", e))
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    fn run(
        &mut self,
        watchdog: &mut Watchdog,
        apiserver_port: Option<u16>,
    ) -> Result<State, Error> {
        for dir in ["logs", "certs"] {
            let path = self.path(dir);
            fs::create_dir_all(&path)
                .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        }
        if let Some(port) = apiserver_port {
            TcpListener::bind(("127.0.0.1", port))
                .map_err(|error| Error::PortTaken { port, error })?;
        }
        let token = secret()?;
        write(
            &self.path("tokens.csv"),
            &format!("{token},{ADMIN_USER},{ADMIN_USER},system:masters\n"),
        )?;
        let key = rcgen::KeyPair::generate().map_err(|e| {
            Error::io(
                "generating the service-account key",
                std::io::Error::other(e),
            )
        })?;
        write(&self.path("service-account.key"), &key.serialize_pem())?;
        write(&self.path("service-account.pub"), &key.public_key_pem())?;

        let (etcd_pid, etcd_url) = self.retry("etcd", |launch| launch.etcd(watchdog))?;
        let (apiserver_pid, apiserver_url) = match apiserver_port {
            Some(port) => match self.apiserver(watchdog, &etcd_url, &token, port) {
                Ok(started) => started,
                Err(Failure::PortTaken) => {
                    return Err(Error::PortTaken {
                        port,
                        error: std::io::ErrorKind::AddrInUse.into(),
                    });
                }
                Err(Failure::Other(error)) => return Err(error),
            },
            None => self.retry("kube-apiserver", |launch| {
                let port = launch.pick_port()?;
                launch.apiserver(watchdog, &etcd_url, &token, port)
            })?,
        };
        let kubeconfig = self.path("kubeconfig");
        Ok(State {
            dir: self.dir.to_owned(),
            etcd_pid,
            apiserver_pid,
            etcd_version: etcd_version(&etcd_url).unwrap_or_else(|| "unknown".into()),
            etcd_url,
            kubernetes_version: apiserver_version(&kubeconfig).unwrap_or_else(|| "unknown".into()),
            apiserver_url,
            kubeconfig,
            kubectl: self.binaries.kubectl(),
        })
    }

    /// Runs `start` until it does not fail on a taken port.
    fn retry<T>(
        &mut self,
        process: &'static str,
        mut start: impl FnMut(&mut Self) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        for _ in 0..PORT_ATTEMPTS {
            match start(self) {
                Ok(started) => return Ok(started),
                Err(Failure::PortTaken) => self.attempts += 1,
                Err(Failure::Other(error)) => return Err(error),
            }
        }
        Err(Error::Start {
            process,
            reason: format!("its ports were taken {PORT_ATTEMPTS} times in a row"),
            log: self.log(process),
            log_tail: String::new(),
        })
    }

    fn log(&self, process: &str) -> PathBuf {
        self.path(&format!("logs/{process}.log"))
    }

    /// Spawns a server in a process group of its own (a Ctrl-C reaches the
    /// test process only; the watchdog stops the server), output to its log.
    fn spawn(
        &mut self,
        watchdog: &mut Watchdog,
        process: &'static str,
        binary: &Path,
        args: &[String],
    ) -> Result<(u32, usize), Error> {
        use std::os::unix::process::CommandExt;
        let log = self.log(process);
        let out =
            File::create(&log).map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io(format!("opening {}", log.display()), e))?;
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| Error::io(format!("starting {}", binary.display()), e))?;
        let pid = child.id();
        self.children.push(child);
        watchdog.watch(pid)?;
        Ok((pid, self.children.len() - 1))
    }

    /// Whether the child at `index` has exited; `PortTaken` if its log says
    /// it could not bind.
    fn exited(&mut self, index: usize, process: &'static str) -> Result<(), Failure> {
        let exited = self.children[index]
            .try_wait()
            .map_err(|e| Error::io(format!("waiting for {process}"), e))?;
        let Some(status) = exited else {
            return Ok(());
        };
        let log = self.log(process);
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.contains("address already in use") {
            return Err(Failure::PortTaken);
        }
        Err(Failure::Other(Error::Start {
            process,
            reason: format!("it exited during start-up ({status})"),
            log_tail: tail(&text),
            log,
        }))
    }

    fn etcd(&mut self, watchdog: &mut Watchdog) -> Result<(u32, String), Failure> {
        let client_port = self.pick_port()?;
        let peer_port = self.pick_port()?;
        let url = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let data = self.path("etcd");
        let _ = fs::remove_dir_all(&data);
        let (pid, index) = self.spawn(
            watchdog,
            "etcd",
            &self.binaries.etcd(),
            &[
                "--name=konditions".into(),
                format!("--data-dir={}", data.display()),
                format!("--listen-client-urls={url}"),
                format!("--advertise-client-urls={url}"),
                format!("--listen-peer-urls={peer}"),
                format!("--initial-advertise-peer-urls={peer}"),
                format!("--initial-cluster=konditions={peer}"),
                "--unsafe-no-fsync=true".into(),
                "--log-level=warn".into(),
            ],
        )?;
        let addr: SocketAddr = ([127, 0, 0, 1], client_port).into();
        let deadline = Instant::now() + ETCD_READY_TIMEOUT;
        loop {
            self.exited(index, "etcd")?;
            if etcd_get(addr, "/health").is_some_and(|body| body.contains("\"health\":\"true\"")) {
                return Ok((pid, url));
            }
            if Instant::now() > deadline {
                return Err(self
                    .timeout("etcd", ETCD_READY_TIMEOUT, "no healthy answer")
                    .into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn apiserver(
        &mut self,
        watchdog: &mut Watchdog,
        etcd_url: &str,
        token: &str,
        port: u16,
    ) -> Result<(u32, String), Failure> {
        let url = format!("https://127.0.0.1:{port}");
        let certs = self.path("certs");
        let (pid, index) = self.spawn(
            watchdog,
            "kube-apiserver",
            &self.binaries.kube_apiserver(),
            &[
                format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={port}"),
                format!("--cert-dir={}", certs.display()),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                format!(
                    "--service-account-key-file={}",
                    self.path("service-account.pub").display()
                ),
                format!(
                    "--service-account-signing-key-file={}",
                    self.path("service-account.key").display()
                ),
                "--authorization-mode=RBAC".into(),
                format!("--token-auth-file={}", self.path("tokens.csv").display()),
                "--endpoint-reconciler-type=none".into(),
                "--disable-admission-plugins=ServiceAccount".into(),
                "--allow-privileged=true".into(),
                "--v=1".into(),
            ],
        )?;
        let kubeconfig = self.path("kubeconfig");
        let ca = certs.join("apiserver.crt");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting a tokio runtime", e))?;
        let deadline = Instant::now() + APISERVER_READY_TIMEOUT;
        let mut last_error = String::from("no answer yet");
        let mut kubeconfig_written = false;
        loop {
            self.exited(index, "kube-apiserver")?;
            // The self-signed serving certificate appears early in start-up;
            // the kubeconfig trusts exactly it.
            if !kubeconfig_written && ca.is_file() {
                write_kubeconfig(&kubeconfig, &url, &ca, token)?;
                kubeconfig_written = true;
            }
            if kubeconfig_written {
                match runtime.block_on(ready(&kubeconfig)) {
                    Ok(()) => return Ok((pid, url)),
                    Err(e) => last_error = e,
                }
            }
            if Instant::now() > deadline {
                return Err(self
                    .timeout("kube-apiserver", APISERVER_READY_TIMEOUT, &last_error)
                    .into());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn timeout(&self, process: &'static str, timeout: Duration, last: &str) -> Error {
        let log = self.log(process);
        Error::Start {
            process,
            reason: format!("not ready within {timeout:?} (last check: {last})"),
            log_tail: tail(&fs::read_to_string(&log).unwrap_or_default()),
            log,
        }
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

fn write(path: &Path, content: &str) -> Result<(), Error> {
    fs::write(path, content).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// A random hex token.
fn secret() -> Result<String, Error> {
    let mut bytes = [0u8; 24];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("reading /dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The body of an HTTP GET to etcd's plain-HTTP client port.
fn etcd_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let ok = response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200");
    ok.then(|| {
        response
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    })
}

fn etcd_version(url: &str) -> Option<String> {
    let addr: SocketAddr = url.trim_start_matches("http://").parse().ok()?;
    let body: serde_json::Value = serde_json::from_str(&etcd_get(addr, "/version")?).ok()?;
    body["etcdserver"].as_str().map(str::to_owned)
}

fn apiserver_version(kubeconfig: &Path) -> Option<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        let client = crate::client_for(kubeconfig).await.ok()?;
        client.apiserver_version().await.ok().map(|v| v.git_version)
    })
}

/// `/readyz` is OK and namespace `default` exists.
async fn ready(kubeconfig: &Path) -> Result<(), String> {
    let client = crate::client_for(kubeconfig)
        .await
        .map_err(|e| e.to_string())?;
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let body = client
        .request_text(request)
        .await
        .map_err(|e| format!("GET /readyz: {e}"))?;
    if body.trim() != "ok" {
        return Err(format!("/readyz says {body}"));
    }
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
    namespaces
        .get("default")
        .await
        .map(drop)
        .map_err(|e| format!("namespace default: {e}"))
}

fn write_kubeconfig(path: &Path, server: &str, ca: &Path, token: &str) -> Result<(), Error> {
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "konditions", "cluster": {
            "server": server,
            "certificate-authority": ca,
        }}],
        "users": [{"name": ADMIN_USER, "user": {"token": token}}],
        "contexts": [{"name": "konditions", "context": {"cluster": "konditions", "user": ADMIN_USER}}],
        "current-context": "konditions",
    });
    // JSON is YAML: kubectl and kube read it as a kubeconfig.
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| Error::io("writing the kubeconfig", std::io::Error::other(e)))?;
    let tmp = path.with_extension("tmp");
    write(&tmp, &text)?;
    fs::rename(&tmp, path).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_taken_between_pick_and_bind_is_retried() {
        // Someone holds this port: the first pick for kube-apiserver (after
        // etcd's two free ones) returns it, as a lost race would.
        let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = squatter.local_addr().unwrap().port();
        let free = |_| {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let ports = vec![free(()), free(()), taken];
        let control_plane = ControlPlane::builder().first_ports(ports).start().unwrap();
        assert_eq!(
            control_plane.port_attempts(),
            1,
            "one start on a taken port"
        );
        assert!(
            !control_plane
                .apiserver_url()
                .ends_with(&format!(":{taken}")),
            "{}",
            control_plane.apiserver_url()
        );
        assert!(control_plane.state().is_ready());
        drop(squatter);
    }

    #[test]
    fn a_fixed_port_that_is_taken_is_an_error() {
        let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = squatter.local_addr().unwrap().port();
        let error = ControlPlane::builder()
            .apiserver_port(port)
            .start()
            .unwrap_err();
        assert!(
            matches!(error, Error::PortTaken { port: p, .. } if p == port),
            "{error}"
        );
    }
}
