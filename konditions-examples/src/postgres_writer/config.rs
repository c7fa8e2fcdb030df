//! The operator's PostgreSQL configuration, from the environment variables
//! of the kubebuilder tutorial: PSQL_HOST, PSQL_PORT, PSQL_DBNAME, PSQL_USER,
//! PSQL_PASSWORD.

use std::fmt;

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
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("user", &self.user)
            .field("password", &"<redacted>")
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
        Ok(Self {
            host: get("PSQL_HOST")?,
            port,
            dbname: get("PSQL_DBNAME")?,
            user: get("PSQL_USER")?,
            password: get("PSQL_PASSWORD")?,
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
    fn password_never_shows() {
        let config = PostgresConfig::from_lookup(lookup(&ALL)).unwrap();
        assert_eq!(config.password, "p");
        assert!(format!("{config:?}").contains("<redacted>"));
    }
}
