use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::ConditionalResource;

#[derive(ConditionalResource)]
#[konditions(types(TableReady))]
pub struct Writer {
    pub metadata: ObjectMeta,
    pub table: String,
}

fn main() {}
