use konditions_core::ConditionalResource;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(group = "demo.example.com", version = "v1", kind = "Writer", namespaced, status = "WriterStatus")]
#[konditions(types(TableReady), summary = Ready)]
pub struct WriterSpec {
    pub table: String,
}

// Forgot `#[derive(ConditionalStatus)]` and the conditions field.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct WriterStatus {
    pub rows: u64,
}

fn main() {}
