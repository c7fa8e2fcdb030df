use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};

#[derive(ConditionalResource)]
#[konditions(types(TableReady))]
pub struct Writer {
    pub metadata: ObjectMeta,
    pub status: WriterStatus,
}

#[derive(ConditionalStatus, Default)]
pub struct WriterStatus {
    pub conditions: Conditions<WriterCondition>,
    pub observed_generation: Option<i64>,
}

fn main() {}
