use konditions_core::ConditionalResource;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(group = "demo.example.com", version = "v1", kind = "Writer", namespaced)]
#[konditions(types(TableReady), summary = Ready)]
pub struct WriterSpec {
    pub table: String,
}

fn main() {}
