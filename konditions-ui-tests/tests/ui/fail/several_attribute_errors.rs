// Parsing goes on after an unknown key, a bad entry of `types` and a bad
// option: every problem is reported in one compile, and the entries that
// parsed still make the enum.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};

#[derive(ConditionalResource)]
#[konditions(typs(A), types("TableReady", DiskPressure(negatve, doc = "Nearly full."), RowWritten), summary = Ready)]
pub struct App {
    pub metadata: ObjectMeta,
    pub status: Option<AppStatus>,
}

#[derive(ConditionalStatus, Default)]
pub struct AppStatus {
    pub conditions: Conditions<AppCondition>,
    pub observed_generation: Option<i64>,
}

fn main() {
    let _ = [AppCondition::Ready, AppCondition::DiskPressure, AppCondition::RowWritten];
}
