//! A benchmark's settings from the environment: a value, or a
//! comma-separated list, with a default; a value that does not parse
//! stops the benchmark with its name rather than running other cells.

use std::str::FromStr;

/// The value of `name`, `default` when unset.
pub(crate) fn setting<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name).map_or(default, |value| parse(name, &value))
}

/// The comma-separated values of `name` (`default` when unset).
pub(crate) fn list_setting<T: FromStr>(name: &str, default: &str) -> Vec<T> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|value| parse(name, value.trim()))
        .collect()
}

fn parse<T: FromStr>(name: &str, value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| panic!("{name}: `{value}` is not valid"))
}
