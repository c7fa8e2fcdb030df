//! Conversions between k8s-openapi's `Time` (jiff inside) and chrono, for
//! code bases that use `chrono::DateTime<Utc>`. Enabled by the `chrono` feature.

use ::chrono::{DateTime, Utc};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::{Condition, ConditionStatus, ConditionType};

/// `Time` as a chrono `DateTime<Utc>`.
///
/// ```
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
/// let t = Time("2024-05-01T10:00:00Z".parse().unwrap());
/// assert_eq!(konditions_core::chrono::to_chrono(&t).to_rfc3339(), "2024-05-01T10:00:00+00:00");
/// ```
pub fn to_chrono(time: &Time) -> DateTime<Utc> {
    let ts = time.0;
    // jiff truncates toward zero (-0.5 s is 0 s and -500 ms); chrono wants
    // whole seconds rounded down and a positive fraction.
    let (mut seconds, mut nanos) = (ts.as_second(), ts.subsec_nanosecond());
    if nanos < 0 {
        seconds -= 1;
        nanos += 1_000_000_000;
    }
    // Every jiff Timestamp (years -9999..=9999) is inside chrono's range.
    DateTime::from_timestamp(seconds, nanos.unsigned_abs()).unwrap_or_default()
}

/// A chrono `DateTime<Utc>` as `Time`; `None` outside jiff's range (years
/// -9999..=9999).
///
/// ```
/// let at = chrono::DateTime::from_timestamp(1_714_557_600, 250_000_000).unwrap();
/// let t = konditions_core::chrono::from_chrono(at).unwrap();
/// assert_eq!(t.0.to_string(), "2024-05-01T10:00:00.25Z");
/// assert_eq!(konditions_core::chrono::to_chrono(&t), at);
/// ```
pub fn from_chrono(time: DateTime<Utc>) -> Option<Time> {
    let nanos =
        i128::from(time.timestamp()) * 1_000_000_000 + i128::from(time.timestamp_subsec_nanos());
    Timestamp::from_nanosecond(nanos).ok().map(Time)
}

impl<T: ConditionType, S: ConditionStatus> Condition<T, S> {
    /// `lastTransitionTime` as a chrono `DateTime<Utc>`.
    ///
    /// ```
    /// use konditions_core::{Condition, Status};
    /// let c: Condition = Condition::new("Ready".into(), Status::True, "Ok", "", jiff::Timestamp::UNIX_EPOCH).unwrap();
    /// assert_eq!(c.last_transition_time_chrono(), chrono::DateTime::UNIX_EPOCH);
    /// ```
    pub fn last_transition_time_chrono(&self) -> DateTime<Utc> {
        to_chrono(&self.last_transition_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_1970_with_fractions_convert_both_ways() {
        for text in [
            "1969-12-31T23:59:59.5Z",
            "1900-01-01T00:00:00.25Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2024-05-01T10:00:00.75Z",
        ] {
            let t = Time(text.parse().unwrap());
            let c = to_chrono(&t);
            assert_eq!(
                c.to_rfc3339_opts(::chrono::SecondsFormat::AutoSi, true),
                text.replace(".5Z", ".500Z")
                    .replace(".25Z", ".250Z")
                    .replace(".75Z", ".750Z"),
                "{text}"
            );
            assert_eq!(from_chrono(c), Some(t), "{text}");
        }
    }
}
