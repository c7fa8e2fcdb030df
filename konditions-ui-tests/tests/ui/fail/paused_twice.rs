use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};

#[derive(ConditionalResource)]
#[konditions(types(TableReady, Paused(paused), Held(paused)), summary = Ready)]
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
