use konditions_core::{ConditionalStatus, Conditions};
use serde::{Deserialize, Serialize};

#[derive(ConditionalStatus, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WriterStatus {
    #[serde(default)]
    pub conditions: Conditions,
    #[serde(skip)]
    pub observed_generation: Option<i64>,
}

fn main() {}
