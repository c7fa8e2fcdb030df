//! A local Kubernetes control plane (etcd + kube-apiserver) on loopback, the
//! same idea as kubebuilder's envtest.
//!
//! Each instance lives in `target/controlplane/<instance>/`: etcd's data, the
//! serving certificate, credentials, `kubeconfig`, `state.json` (pids and
//! ports) and `logs/{etcd,kube-apiserver}.log`. `up` on a running, healthy
//! instance returns it unchanged; `down` stops both processes and removes the
//! directory. No controller-manager runs: namespace deletion and garbage
//! collection never finish, so tests use fresh namespaces.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::binaries::{self, Binaries};
use crate::service::{self, InstanceDir, log_tail};

/// How long etcd may take to report healthy.
const ETCD_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long kube-apiserver may take to report ready (cold start of all the
/// post-start hooks takes ~10-20 s on 2 cores).
const APISERVER_READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a process may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// The admin user's token (loopback only; the credential is per instance dir).
const ADMIN_USER: &str = "konditions-admin";

/// What `up` started, persisted in `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) etcd_pid: u32,
    pub(crate) apiserver_pid: u32,
    pub(crate) etcd_url: String,
    pub(crate) apiserver_url: String,
    pub(crate) kubeconfig: PathBuf,
    pub(crate) kubernetes_version: String,
    pub(crate) etcd_version: String,
    pub(crate) kubectl: PathBuf,
}

impl State {
    /// The variables that point kubectl and the tests at this instance.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        let kubeconfig = self.kubeconfig.display().to_string();
        vec![
            ("KUBECONFIG", kubeconfig.clone()),
            ("KONDITIONS_KUBECONFIG", kubeconfig),
            ("KUBECTL", self.kubectl.display().to_string()),
        ]
    }
}

/// Options of `up`.
#[derive(Debug, Clone, Default)]
pub(crate) struct UpOptions {
    /// A fixed port for kube-apiserver instead of a free one.
    pub(crate) apiserver_port: Option<u16>,
}

/// The files of one instance.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    dir: InstanceDir,
}

impl Instance {
    pub(crate) fn named(name: &str) -> Self {
        Self {
            dir: InstanceDir::new("controlplane", name),
        }
    }

    pub(crate) fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }
    fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
    fn etcd_log(&self) -> PathBuf {
        self.logs().join("etcd.log")
    }
    fn apiserver_log(&self) -> PathBuf {
        self.logs().join("kube-apiserver.log")
    }
    fn cert_dir(&self) -> PathBuf {
        self.dir.join("certs")
    }

    /// The persisted state, if the instance was started.
    pub(crate) fn state(&self) -> Result<Option<State>> {
        self.dir.load()
    }

    /// Starts the control plane, or returns the running one.
    pub(crate) fn up(&self, options: &UpOptions) -> Result<State> {
        let binaries = binaries::ensure()?;
        let _lock = self.dir.lock()?;
        if let Some(state) = self.state()? {
            if self.healthy(&state) {
                return Ok(state);
            }
            crate::say("found a stopped or unhealthy control plane; replacing it");
            self.stop_processes(&state);
        }
        self.dir.remove()?;
        let started = Instant::now();
        let result = self.start(&binaries, options);
        match result {
            Ok(state) => {
                crate::say(&format!(
                    "control plane up in {:.1?}: Kubernetes {}, etcd {}, {}",
                    started.elapsed(),
                    state.kubernetes_version,
                    state.etcd_version,
                    state.apiserver_url
                ));
                Ok(state)
            }
            Err(e) => {
                if let Some(state) = self.state().ok().flatten() {
                    self.stop_processes(&state);
                }
                Err(e)
            }
        }
    }

    fn start(&self, binaries: &Binaries, options: &UpOptions) -> Result<State> {
        for dir in [self.logs(), self.cert_dir(), self.dir.join("etcd")] {
            fs::create_dir_all(&dir)?;
        }
        let token = service::secret(24)?;
        fs::write(
            self.dir.join("tokens.csv"),
            format!("{token},{ADMIN_USER},{ADMIN_USER},system:masters\n"),
        )?;
        let sa_key = self.dir.join("service-account.key");
        generate_service_account_key(&sa_key)?;

        let apiserver_port = match options.apiserver_port {
            Some(port) => {
                TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
                    anyhow::anyhow!(
                        "port {port} for kube-apiserver is not free ({e}); pick another with \
                         --apiserver-port or leave it out to use a free port"
                    )
                })?;
                port
            }
            None => service::free_port()?,
        };
        let etcd_port = service::free_port()?;
        let peer_port = service::free_port()?;
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let apiserver_url = format!("https://127.0.0.1:{apiserver_port}");

        let etcd = spawn(
            &binaries.etcd,
            &[
                "--name=konditions".into(),
                format!("--data-dir={}", self.dir.join("etcd").display()),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=konditions={peer_url}"),
                "--unsafe-no-fsync=true".into(),
                "--log-level=warn".into(),
            ],
            &self.etcd_log(),
        )?;
        let mut state = State {
            etcd_pid: etcd,
            apiserver_pid: 0,
            etcd_url: etcd_url.clone(),
            apiserver_url: apiserver_url.clone(),
            kubeconfig: self.kubeconfig(),
            kubernetes_version: binaries.kubernetes_version.clone(),
            etcd_version: binaries.etcd_version.clone(),
            kubectl: binaries.kubectl.clone(),
        };
        self.dir.save(&state)?;
        self.wait_for_etcd(&state)?;

        state.apiserver_pid = spawn(
            &binaries.kube_apiserver,
            &[
                format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={apiserver_port}"),
                format!("--cert-dir={}", self.cert_dir().display()),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                format!("--service-account-key-file={}", sa_key.display()),
                format!("--service-account-signing-key-file={}", sa_key.display()),
                "--authorization-mode=RBAC".into(),
                format!(
                    "--token-auth-file={}",
                    self.dir.join("tokens.csv").display()
                ),
                "--endpoint-reconciler-type=none".into(),
                "--disable-admission-plugins=ServiceAccount".into(),
                "--allow-privileged=true".into(),
                "--v=1".into(),
            ],
            &self.apiserver_log(),
        )?;
        self.dir.save(&state)?;
        self.wait_for_apiserver(&state, &token)?;
        Ok(state)
    }

    fn wait_for_etcd(&self, state: &State) -> Result<()> {
        let deadline = Instant::now() + ETCD_READY_TIMEOUT;
        let addr: SocketAddr = state.etcd_url.trim_start_matches("http://").parse()?;
        loop {
            if !alive(state.etcd_pid) {
                bail!(
                    "etcd exited during start-up.\n{}",
                    log_tail(&self.etcd_log())
                );
            }
            if etcd_healthy(addr) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "etcd did not become healthy within {ETCD_READY_TIMEOUT:?}.\n{}",
                    log_tail(&self.etcd_log())
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for_apiserver(&self, state: &State, token: &str) -> Result<()> {
        let deadline = Instant::now() + APISERVER_READY_TIMEOUT;
        let ca = self.cert_dir().join("apiserver.crt");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut last_error = String::from("no answer yet");
        let mut kubeconfig_written = false;
        loop {
            if !alive(state.apiserver_pid) {
                bail!(
                    "kube-apiserver exited during start-up.\n{}",
                    log_tail(&self.apiserver_log())
                );
            }
            // The self-signed serving certificate appears early in start-up;
            // the kubeconfig trusts exactly it.
            if !kubeconfig_written && ca.is_file() {
                write_kubeconfig(&self.kubeconfig(), &state.apiserver_url, &ca, token)?;
                kubeconfig_written = true;
            }
            if kubeconfig_written {
                match runtime.block_on(ready(&self.kubeconfig())) {
                    Ok(()) => return Ok(()),
                    Err(e) => last_error = format!("{e:#}"),
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "kube-apiserver did not become ready within {APISERVER_READY_TIMEOUT:?} \
                     (last check: {last_error}).\n{}",
                    log_tail(&self.apiserver_log())
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Both processes run and the API server answers `/readyz`.
    fn healthy(&self, state: &State) -> bool {
        if !alive(state.etcd_pid) || !alive(state.apiserver_pid) {
            return false;
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(ready(&state.kubeconfig)).is_ok())
            .unwrap_or(false)
    }

    /// Stops both processes and removes the instance directory.
    pub(crate) fn down(&self) -> Result<bool> {
        let _lock = self.dir.lock()?;
        let state = self.state()?;
        if let Some(state) = &state {
            self.stop_processes(state);
        }
        self.dir.remove()?;
        Ok(state.is_some())
    }

    fn stop_processes(&self, state: &State) {
        // The API server first, so it does not log a storm of etcd errors.
        for pid in [state.apiserver_pid, state.etcd_pid] {
            if pid != 0 && ours(pid, self.dir.path()) {
                stop(pid);
            }
        }
    }
}

/// Runs a binary detached from the terminal's process group (so `up` can
/// return while it runs) with stdout and stderr appended to `log`.
fn spawn(binary: &Path, args: &[String], log: &Path) -> Result<u32> {
    use std::os::unix::process::CommandExt;
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    Ok(child.id())
}

fn alive(pid: u32) -> bool {
    pid != 0 && kill(Pid::from_raw(pid as i32), None).is_ok() && !zombie(pid)
}

/// An exited child of this process that was not reaped yet still answers
/// signal 0; its /proc status says so.
fn zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Whether `pid` is one of this instance's processes (guards against a pid
/// reused by an unrelated process after a reboot or crash).
fn ours(pid: u32, dir: &Path) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy()))
        .unwrap_or(false)
}

fn stop(pid: u32) {
    let pid_t = Pid::from_raw(pid as i32);
    if kill(pid_t, Signal::SIGTERM).is_err() {
        return;
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        let _ = kill(pid_t, Signal::SIGKILL);
    }
}

fn etcd_healthy(addr: SocketAddr) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status_ok =
            response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200");
        Ok(status_ok && response.contains("\"health\":\"true\""))
    };
    attempt().unwrap_or(false)
}

/// `/readyz` is OK and the `default` namespace exists.
async fn ready(kubeconfig: &Path) -> Result<()> {
    let client = crate::kube_client(kubeconfig).await?;
    let request = http::Request::get("/readyz").body(Vec::new())?;
    let body = client.request_text(request).await.context("GET /readyz")?;
    if body.trim() != "ok" {
        bail!("/readyz says {body}");
    }
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
    namespaces
        .get("default")
        .await
        .context("namespace default")?;
    Ok(())
}

fn write_kubeconfig(path: &Path, server: &str, ca: &Path, token: &str) -> Result<()> {
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
    let yaml = serde_saphyr::to_string(&config).context("serialising the kubeconfig")?;
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, yaml)?;
    fs::rename(tmp, path)?;
    Ok(())
}

/// One RSA key serves both to sign and to verify service-account tokens.
fn generate_service_account_key(path: &Path) -> Result<()> {
    let output = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(path)
        .output()
        .map_err(|e| {
            anyhow::anyhow!("cannot run `openssl` ({e}); install Debian's `openssl` package")
        })?;
    if !output.status.success() {
        bail!(
            "openssl genpkey failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Stops an instance when dropped: what `cargo xtask test` holds while the
/// tests run, so nothing is left running when a test fails or panics.
pub(crate) struct Running {
    instance: Instance,
}

impl Running {
    pub(crate) fn start(instance: Instance, options: &UpOptions) -> Result<(Self, State)> {
        let state = instance.up(options)?;
        Ok((Self { instance }, state))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(e) = self.instance.down() {
            crate::say(&format!(
                "warning: stopping the control plane failed: {e:#}"
            ));
        }
    }
}
