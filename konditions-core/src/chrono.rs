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
    // Every jiff Timestamp (years -9999..=9999) is inside chrono's range.
    DateTime::from_timestamp(ts.as_second(), ts.subsec_nanosecond().unsigned_abs())
        .unwrap_or_default()
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
    Timestamp::new(time.timestamp(), time.timestamp_subsec_nanos() as i32)
        .ok()
        .map(Time)
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
