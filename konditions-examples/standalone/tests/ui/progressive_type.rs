use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// `Provisioning` names a step, not a state: the derive refuses it.
#[derive(CustomResource, ConditionalResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(group = "example.com", version = "v1", kind = "Volume", namespaced, status = "VolumeStatus")]
#[konditions(types(Provisioning), summary = Ready)]
pub struct VolumeSpec {
    pub size: u32,
}

#[derive(ConditionalStatus, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct VolumeStatus {
    #[serde(default)]
    pub conditions: Conditions<VolumeCondition>,
    #[serde(default, rename = "observedGeneration")]
    pub observed_generation: Option<i64>,
}

fn main() {}
