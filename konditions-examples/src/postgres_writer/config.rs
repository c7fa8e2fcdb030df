//! The operator's PostgreSQL configuration, from the environment variables
//! of the kubebuilder tutorial: PSQL_HOST, PSQL_PORT, PSQL_DBNAME, PSQL_USER,
//! PSQL_PASSWORD; and, for TLS, PSQL_SSLMODE and PSQL_SSLROOTCERT (named
//! after libpq's `sslmode` and `sslrootcert`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// What is wrong with the environment. The message names the variable, never
/// the password's value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is not set (or is empty).
    #[error(
        "environment variable {0} is not set: the operator needs PSQL_HOST, PSQL_PORT, PSQL_DBNAME, PSQL_USER and PSQL_PASSWORD"
    )]
    Missing(&'static str),
    /// A variable is set to something unusable.
    #[error("environment variable {variable} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        variable: &'static str,
        /// Why it is invalid.
        reason: String,
    },
}

/// Whether and how the connection to PostgreSQL is encrypted (PSQL_SSLMODE),
/// with libpq's meanings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS (the default, as before TLS was supported).
    #[default]
    Disable,
    /// TLS, without checking the server's certificate: encrypted, but a
    /// man in the middle is not detected.
    Require,
    /// TLS, and the server's certificate must be signed by a trusted CA
    /// (PSQL_SSLROOTCERT, else the system's roots) and name the host.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "disable" => Ok(Self::Disable),
            "require" => Ok(Self::Require),
            "verify-full" => Ok(Self::VerifyFull),
            other => Err(format!(
                "`{other}` is not a supported sslmode: use disable, require or verify-full"
            )),
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disable => "disable",
            Self::Require => "require",
            Self::VerifyFull => "verify-full",
        })
    }
}

/// Where and how to reach PostgreSQL.
///
/// ```
/// use konditions_examples::postgres_writer::PostgresConfig;
///
/// let env = [("PSQL_HOST", "127.0.0.1"), ("PSQL_PORT", "5432"), ("PSQL_DBNAME", "demo"),
///            ("PSQL_USER", "writer"), ("PSQL_PASSWORD", "s3cret")];
/// let config = PostgresConfig::from_lookup(|name| {
///     env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
/// })?;
/// assert_eq!(config.port, 5432);
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), konditions_examples::postgres_writer::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// Host name or address (PSQL_HOST).
    pub host: String,
    /// TCP port (PSQL_PORT).
    pub port: u16,
    /// Database name (PSQL_DBNAME).
    pub dbname: String,
    /// Role (PSQL_USER).
    pub user: String,
    /// Password (PSQL_PASSWORD).
    pub password: String,
    /// TLS (PSQL_SSLMODE, default `disable`).
    pub ssl_mode: SslMode,
    /// PEM file of the CA certificates that may sign the server's
    /// certificate (PSQL_SSLROOTCERT); `None`: the system's roots. Only
    /// `verify-full` uses it.
    pub ssl_root_cert: Option<PathBuf>,
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .finish()
    }
}

impl PostgresConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment in
    /// production, a table in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let port = get("PSQL_PORT")?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| ConfigError::Invalid {
                variable: "PSQL_PORT",
                reason: format!("`{port}` is not a TCP port (1-65535)"),
            })?;
        let ssl_mode = match lookup("PSQL_SSLMODE").filter(|v| !v.is_empty()) {
            None => SslMode::default(),
            Some(mode) => mode.parse().map_err(|reason| ConfigError::Invalid {
                variable: "PSQL_SSLMODE",
                reason,
            })?,
        };
        let ssl_root_cert = lookup("PSQL_SSLROOTCERT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        if ssl_root_cert.is_some() && ssl_mode != SslMode::VerifyFull {
            return Err(ConfigError::Invalid {
                variable: "PSQL_SSLROOTCERT",
                reason: format!(
                    "a CA file is only used with PSQL_SSLMODE=verify-full, not {ssl_mode}; \
                     set PSQL_SSLMODE=verify-full so the server's certificate is checked"
                ),
            });
        }
        Ok(Self {
            host: get("PSQL_HOST")?,
            port,
            dbname: get("PSQL_DBNAME")?,
            user: get("PSQL_USER")?,
            password: get("PSQL_PASSWORD")?,
            ssl_mode,
            ssl_root_cert,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    const ALL: [(&str, &str); 5] = [
        ("PSQL_HOST", "db"),
        ("PSQL_PORT", "5432"),
        ("PSQL_DBNAME", "demo"),
        ("PSQL_USER", "u"),
        ("PSQL_PASSWORD", "p"),
    ];

    #[test]
    fn every_missing_variable_is_named() {
        for (i, (name, _)) in ALL.iter().enumerate() {
            let mut partial = ALL.to_vec();
            partial.remove(i);
            let err = PostgresConfig::from_lookup(lookup(&partial)).unwrap_err();
            assert_eq!(err, ConfigError::Missing(name));
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn empty_counts_as_missing() {
        let mut env = ALL.to_vec();
        env[3] = ("PSQL_USER", "");
        assert_eq!(
            PostgresConfig::from_lookup(lookup(&env)).unwrap_err(),
            ConfigError::Missing("PSQL_USER")
        );
    }

    #[test]
    fn bad_ports_are_refused_with_the_value() {
        for bad in ["abc", "0", "70000", "-1", " 5432"] {
            let mut env = ALL.to_vec();
            env[1] = ("PSQL_PORT", bad);
            let err = PostgresConfig::from_lookup(lookup(&env)).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        variable: "PSQL_PORT",
                        ..
                    }
                ),
                "{bad}"
            );
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn ssl_settings() {
        let config = PostgresConfig::from_lookup(lookup(&ALL)).unwrap();
        assert_eq!(
            (config.ssl_mode, config.ssl_root_cert),
            (SslMode::Disable, None)
        );

        let mut env = ALL.to_vec();
        env.extend([
            ("PSQL_SSLMODE", "verify-full"),
            ("PSQL_SSLROOTCERT", "/ca.pem"),
        ]);
        let config = PostgresConfig::from_lookup(lookup(&env)).unwrap();
        assert_eq!(config.ssl_mode, SslMode::VerifyFull);
        assert_eq!(config.ssl_root_cert, Some(PathBuf::from("/ca.pem")));

        let mut env = ALL.to_vec();
        env.push(("PSQL_SSLMODE", "require"));
        let config = PostgresConfig::from_lookup(lookup(&env)).unwrap();
        assert_eq!(config.ssl_mode, SslMode::Require);

        // libpq's prefer/allow/verify-ca are not offered: refused by name.
        for bad in ["prefer", "verify-ca", "REQUIRE"] {
            let mut env = ALL.to_vec();
            env.push(("PSQL_SSLMODE", bad));
            let err = PostgresConfig::from_lookup(lookup(&env)).unwrap_err();
            assert!(
                err.to_string().contains("PSQL_SSLMODE") && err.to_string().contains(bad),
                "{err}"
            );
        }

        // A CA file that would be ignored is a mistake, not a silent no-op.
        let mut env = ALL.to_vec();
        env.extend([("PSQL_SSLMODE", "require"), ("PSQL_SSLROOTCERT", "/ca.pem")]);
        let err = PostgresConfig::from_lookup(lookup(&env)).unwrap_err();
        assert!(err.to_string().contains("PSQL_SSLROOTCERT"), "{err}");
    }

    #[test]
    fn password_never_shows() {
        let config = PostgresConfig::from_lookup(lookup(&ALL)).unwrap();
        assert_eq!(config.password, "p");
        assert!(format!("{config:?}").contains("<redacted>"));
    }
}
