use konditions_core::lock::Lock;
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};
use kube::{Api, CustomResource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// `Posted` is not declared `(lock)`, so `apply_status` writes it too: a
// status written from a stale copy would undo the lock, and the posting
// would run twice. Locking it does not compile.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(group = "example.com", version = "v1", kind = "Transfer", namespaced, status = "TransferStatus")]
#[konditions(types(Posted, Notified(lock)), summary = Ready)]
pub struct TransferSpec {
    pub amount: i64,
}

#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct TransferStatus {
    #[serde(default)]
    pub conditions: Conditions<TransferCondition>,
    #[serde(default, rename = "observedGeneration")]
    pub observed_generation: Option<i64>,
}

fn post(api: Api<Transfer>, transfer: &Transfer) -> Lock<Transfer> {
    Lock::new(api, transfer, TransferCondition::Posted)
}

fn main() {}
