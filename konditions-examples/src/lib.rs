//! Operators built with konditions.
//!
//! - [`postgres_writer`]: the PostgresWriter operator of the kubebuilder
//!   tutorial, done right.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

pub mod postgres_writer;

#[cfg(doctest)]
mod guide;

/// Every CRD the examples define, for `cargo xtask crd` (the `crd` binary) and the CRD tests.
///
/// ```
/// for crd in konditions_examples::crds() {
///     assert!(crd.metadata.name.is_some());
/// }
/// ```
pub fn crds() -> Vec<CustomResourceDefinition> {
    use kube::CustomResourceExt;
    vec![postgres_writer::PostgresWriter::crd()]
}
