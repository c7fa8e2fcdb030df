// An invalid declaration reports its own errors and nothing else: the enum
// is still generated, so the status field, the variants and the accessors
// used below resolve.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{ConditionType, ConditionalResource, ConditionalStatus, Conditions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(ConditionalResource, Default)]
#[konditions(types(Deploying, tableReady, RowWritten, RowWritten), summary = Ready, dependents(RowWriten))]
pub struct App {
    pub metadata: ObjectMeta,
    pub status: Option<AppStatus>,
}

#[derive(ConditionalStatus, Serialize, Deserialize, Default, JsonSchema)]
pub struct AppStatus {
    pub conditions: Conditions<AppCondition>,
    pub observed_generation: Option<i64>,
}

fn main() {
    let mut app = App::default();
    assert!(app.conditions_mut().is_empty());
    assert_eq!(AppCondition::summary(), Some(AppCondition::Ready));
    let parsed: AppCondition = "RowWritten".parse().unwrap();
    assert_eq!(parsed, AppCondition::RowWritten);
    assert_eq!(AppCondition::Deploying.to_string(), "Deploying");
    let _ = AppCondition::tableReady;
}
