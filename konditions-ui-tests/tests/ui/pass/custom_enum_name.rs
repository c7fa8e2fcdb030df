//! `enum_name` overrides the generated enum's name; the error type follows.
#![deny(missing_docs, warnings)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{ConditionalResource, ConditionalStatus, Conditions};

/// A job.
#[derive(ConditionalResource, Default)]
#[konditions(types(Succeeded, Complete), enum_name = JobState)]
pub struct Job {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Status.
    pub status: Option<JobStatus>,
}

/// The status of a job.
#[derive(ConditionalStatus, Default)]
pub struct JobStatus {
    /// The conditions.
    pub conditions: Conditions<JobState>,
    /// The generation the summary was computed for.
    pub observed_generation: Option<i64>,
}

fn main() {
    let parsed: Result<JobState, ParseJobStateError> = "Complete".parse();
    assert_eq!(parsed, Ok(JobState::Complete));
    let error = "Failed".parse::<JobState>().unwrap_err();
    assert_eq!(error.value(), "Failed");
    let _ = Job::default().conditions();
}
