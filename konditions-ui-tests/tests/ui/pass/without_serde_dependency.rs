//! A crate that has neither serde nor schemars as a direct dependency:
//! konditions-core and kube are enough, the derives reach serde and
//! schemars through konditions-core.
//!
//! The UI crate does depend on serde and schemars (the kube cases derive
//! their traits), so this case takes the names away: `::serde` and
//! `::schemars` name `core` here, and any path of the generated code
//! through them would fail to resolve, as it would without the
//! dependencies.
#![deny(missing_docs, warnings)]

extern crate core as schemars;
extern crate core as serde;

use konditions_core::{ConditionType, ConditionalResource, ConditionalStatus, Conditions};
use kube::core::ObjectMeta;

/// A printer.
#[derive(ConditionalResource, Default)]
#[konditions(types(PaperLoaded, InkLoaded), summary = Ready)]
pub struct Printer {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Status.
    pub status: Option<PrinterStatus>,
}

/// The status of a printer.
#[derive(ConditionalStatus, Default)]
pub struct PrinterStatus {
    /// The conditions.
    pub conditions: Conditions<PrinterCondition>,
    /// The generation the summary was computed for.
    pub observed_generation: Option<i64>,
}

fn main() {
    // The premise: neither name is the real crate in this case.
    let _: ::serde::option::Option<()> = ::schemars::option::Option::None;

    // The serde implementations exist and are the wire names.
    let json = serde_json::to_string(&PrinterCondition::InkLoaded).expect("serializable");
    assert_eq!(json, r#""InkLoaded""#);
    let ready: PrinterCondition = serde_json::from_str(r#""Ready""#).expect("a declared type");
    assert_eq!(ready, PrinterCondition::Ready);
    assert_eq!(PrinterCondition::summary(), Some(ready));

    let mut printer = Printer::default();
    assert!(printer.conditions_mut().is_empty());
    let list = serde_json::to_value(printer.conditions().expect("a status")).expect("serializable");
    assert_eq!(list, serde_json::json!([]));
}
