// `serde = "..."` and `schemars = "..."` still set the paths the generated
// code uses (here through a re-export), with a deprecation warning at each
// key; denied here so that the warnings show.
#![deny(deprecated)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};

mod reexported {
    pub use schemars;
    pub use serde;
}

#[derive(ConditionalResource)]
#[konditions(types(TableReady), serde = "crate::reexported::serde", schemars = "crate::reexported::schemars")]
pub struct App {
    pub metadata: ObjectMeta,
    pub status: Option<AppStatus>,
}

#[derive(ConditionalStatus, Default)]
pub struct AppStatus {
    pub conditions: Conditions<AppCondition>,
    pub observed_generation: Option<i64>,
}

fn main() {}
