//! `kstatus = false`: the enum holds the declared types only (here a
//! `Reconciling` of one's own), and the status opts out of
//! `observedGeneration`.
#![deny(missing_docs, warnings)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{ConditionType, ConditionalResource, ConditionalStatus, Conditions, Polarity};

/// A job.
#[derive(ConditionalResource, Default)]
#[konditions(types(Complete, Reconciling(allow_progressive)), summary = Ready, kstatus = false)]
pub struct Job {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Status.
    pub status: Option<JobStatus>,
}

/// The status of a job, without `observedGeneration`.
#[derive(ConditionalStatus, Default)]
#[konditions(observed_generation = false)]
pub struct JobStatus {
    /// The conditions.
    pub conditions: Conditions<JobCondition>,
}

fn main() {
    use JobCondition::*;
    assert_eq!(JobCondition::ALL, &[Ready, Complete, Reconciling]);
    assert_eq!(JobCondition::reconciling(), None, "a type of one's own, not kstatus'");
    assert_eq!(JobCondition::stalled(), None);
    assert_eq!(JobCondition::dependents(), &[Complete, Reconciling]);
    assert_eq!(Reconciling.polarity(), Polarity::Positive);
    let mut status = JobStatus::default();
    assert!(status.observed_generation_mut().is_none());
    let _ = Job::default().conditions();
}
