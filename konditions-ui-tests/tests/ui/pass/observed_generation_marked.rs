//! `status.observedGeneration` held by a field of another name, marked
//! `#[konditions(observed_generation)]` and renamed for serde.
#![deny(missing_docs, warnings)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions, ManualClock};
use serde::{Deserialize, Serialize};

/// A printer.
#[derive(ConditionalResource, Default)]
#[konditions(types(PaperLoaded), summary = Ready)]
pub struct Printer {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Status.
    pub status: Option<PrinterStatus>,
}

/// The status of a printer.
#[derive(ConditionalStatus, Serialize, Deserialize, Default)]
pub struct PrinterStatus {
    /// The conditions.
    #[serde(default)]
    pub conditions: Conditions<PrinterCondition>,
    /// The generation the summary was computed for.
    #[konditions(observed_generation)]
    #[serde(rename = "observedGeneration", default)]
    pub seen: Option<i64>,
}

fn main() {
    let mut printer = Printer {
        metadata: ObjectMeta { generation: Some(5), ..ObjectMeta::default() },
        status: None,
    };
    let change = printer.update_summary_with(&ManualClock::default()).expect("summary");
    assert!(change.observed_generation);
    let status = printer.status.as_ref().expect("status");
    assert_eq!(status.seen, Some(5));
    assert_eq!(status.observed_generation(), Some(5));
    let json = serde_json::to_value(status).expect("serializable");
    assert_eq!(json["observedGeneration"], 5);
}
