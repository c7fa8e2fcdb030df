use konditions_core::{ConditionalStatus, Conditions};
use serde::{Deserialize, Serialize};

#[derive(ConditionalStatus, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WriterStatus {
    #[serde(default)]
    pub conditions: Conditions,
    pub rows: u64,
}

fn main() {}
