use konditions_core::{ConditionalStatus, Conditions};
use serde::{Deserialize, Serialize};

#[derive(ConditionalStatus, Serialize, Deserialize, Default)]
pub struct WriterStatus {
    #[serde(default)]
    pub conditions: Conditions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

fn main() {}
