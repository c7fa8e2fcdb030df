use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use konditions_core::ConditionalStatus;

#[derive(ConditionalStatus, Default)]
pub struct WriterStatus {
    pub conditions: Vec<Condition>,
    pub observed_generation: Option<i64>,
}

fn main() {}
