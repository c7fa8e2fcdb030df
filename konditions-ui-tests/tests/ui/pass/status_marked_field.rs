//! The conditions field found by `#[konditions(conditions)]` and the
//! observed generation by `#[konditions(observed_generation)]` (here in a
//! tuple struct, through type aliases), and a resource without `types(...)`
//! whose condition type is the status's (`String`).
#![deny(missing_docs, warnings)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{Verdict, ConditionalResource, ConditionalStatus, Conditions, Status};

/// Untyped conditions.
pub type Untyped = Conditions<String, Status>;

/// A generation.
pub type Generation = Option<i64>;

/// A resource with untyped conditions.
#[derive(ConditionalResource, Default)]
pub struct Loose {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Status.
    pub status: Option<LooseStatus>,
}

/// The status of a loose resource.
#[derive(ConditionalStatus, Default)]
pub struct LooseStatus(
    pub u32,
    #[konditions(conditions)] pub Untyped,
    #[konditions(observed_generation)] pub Generation,
);

fn main() {
    let mut loose = Loose::default();
    loose.conditions_mut().set(None, "AnyType", Verdict::new(Status::False, "Because")).expect("valid");
    assert!(loose.conditions().expect("status").is_false("AnyType"));
    let status = loose.status.as_mut().expect("status");
    *status.observed_generation_mut().expect("wired") = Some(3);
    assert_eq!(status.2, Some(3));
    assert_eq!(status.observed_generation(), Some(3));
    fn untyped<R: ConditionalResource<Type = String>>() {}
    untyped::<Loose>();
}
