use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};

// The option is `lock`; `locked` and `locks` are natural misreadings.
#[derive(ConditionalResource)]
#[konditions(types(Posted(locked), Notified(locks)))]
pub struct Transfer {
    pub metadata: ObjectMeta,
    pub status: Option<TransferStatus>,
}

#[derive(ConditionalStatus, Default)]
pub struct TransferStatus {
    pub conditions: Conditions<TransferCondition>,
    pub observed_generation: Option<i64>,
}

fn main() {}
