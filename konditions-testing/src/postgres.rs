//! The local PostgreSQL server started by `cargo xtask` (`cargo xtask test`,
//! or `cargo xtask postgres up`), for tests of operators that write to a
//! database: its connection settings, and stopping and starting it to test
//! outages.

use std::path::PathBuf;
use std::process::Command;

/// The local PostgreSQL instance.
#[derive(Debug, Clone)]
pub struct LocalPostgres {
    /// The PSQL_* variables (PSQL_HOST, PSQL_PORT, PSQL_DBNAME, PSQL_USER,
    /// PSQL_PASSWORD) that configure a client.
    pub env: Vec<(String, String)>,
    pg_ctl: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
    run_as: Option<String>,
}

/// The variables `cargo xtask` sets for the instance.
const VARIABLES: [&str; 9] = [
    "PSQL_HOST",
    "PSQL_PORT",
    "PSQL_DBNAME",
    "PSQL_USER",
    "PSQL_PASSWORD",
    "KONDITIONS_PG_CTL",
    "KONDITIONS_PGDATA",
    "KONDITIONS_PG_LOG",
    "KONDITIONS_PG_RUN_AS",
];

/// The instance `cargo xtask test` started (from its environment), else the
/// `dev` instance of `cargo xtask postgres up`.
///
/// # Panics
/// When there is none: the message says how to start one.
pub fn postgres() -> LocalPostgres {
    let from_env: Vec<(String, String)> = VARIABLES
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.to_string(), v)))
        .collect();
    let vars = if from_env.len() == VARIABLES.len() {
        from_env
    } else {
        dev_instance().unwrap_or_else(|| {
            panic!(
                "no local PostgreSQL: this test needs a real PostgreSQL server. Run the whole suite \
                 with `cargo xtask test`, or start one with `cargo xtask postgres up` and run the \
                 test again"
            )
        })
    };
    let get = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    LocalPostgres {
        env: vars
            .iter()
            .filter(|(k, _)| k.starts_with("PSQL_"))
            .cloned()
            .collect(),
        pg_ctl: get("KONDITIONS_PG_CTL").into(),
        data_dir: get("KONDITIONS_PGDATA").into(),
        log: get("KONDITIONS_PG_LOG").into(),
        run_as: Some(get("KONDITIONS_PG_RUN_AS")).filter(|u| !u.is_empty()),
    }
}

/// The `dev` instance's variables, from its `state.json`.
fn dev_instance() -> Option<Vec<(String, String)>> {
    let state = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/postgres/dev/state.json");
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(state).ok()?).ok()?;
    let text = |key: &str| {
        state
            .get(key)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    };
    Some(vec![
        ("PSQL_HOST".into(), text("host")?),
        ("PSQL_PORT".into(), text("port")?),
        ("PSQL_DBNAME".into(), text("database")?),
        ("PSQL_USER".into(), text("user")?),
        ("PSQL_PASSWORD".into(), text("password")?),
        ("KONDITIONS_PG_CTL".into(), text("pg_ctl")?),
        ("KONDITIONS_PGDATA".into(), text("data_dir")?),
        ("KONDITIONS_PG_LOG".into(), text("log")?),
        (
            "KONDITIONS_PG_RUN_AS".into(),
            state
                .get("run_as")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
        ),
    ])
}

impl LocalPostgres {
    /// The value of one PSQL_* variable.
    ///
    /// # Panics
    /// When `name` is not one of them.
    pub fn var(&self, name: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{name} is not a PSQL_* variable of the instance"))
    }

    /// Looks a PSQL_* variable up (for `PostgresConfig::from_lookup`-style
    /// readers).
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// Stops the server (fast shutdown: open connections are cut, as in an
    /// outage).
    ///
    /// # Panics
    /// When pg_ctl fails.
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]);
    }

    /// Stops the server until the returned [`Outage`] ends or is dropped,
    /// so a test that fails during the outage still brings the database
    /// back for the tests after it.
    ///
    /// # Panics
    /// When pg_ctl fails.
    pub fn outage(&self) -> Outage {
        self.stop();
        Outage(self.clone())
    }

    /// Starts the server again with the settings it had.
    ///
    /// # Panics
    /// When pg_ctl fails.
    pub fn start(&self) {
        // The instance's settings are in its postgresql.conf.
        self.pg_ctl(&["start", "-w", "-t", "60"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&self.pg_ctl);
                c
            }
            None => Command::new(&self.pg_ctl),
        };
        command
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log)
            .args(args);
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("running pg_ctl: {e}"));
        assert!(
            output.status.success(),
            "pg_ctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A stopped server, started again when this ends or is dropped (see
/// [`LocalPostgres::outage`]).
#[derive(Debug)]
#[must_use = "the outage ends when this is dropped"]
pub struct Outage(LocalPostgres);

impl Outage {
    /// Ends the outage: starts the server again.
    ///
    /// # Panics
    /// When pg_ctl fails.
    pub fn end(self) {
        // Drop starts it.
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.0.start();
    }
}
