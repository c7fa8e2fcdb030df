//! Waiting for what a controller writes: a condition that holds for the
//! object's current generation, the check every operator test repeats by
//! hand ("Ready, and not a Ready left from the spec before").

use std::fmt::Debug;
use std::time::Duration;

use konditions_core::{ConditionStatus, ConditionType, ConditionalResource};
use kube::api::Api;
use kube::runtime::wait::await_condition;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::Error;

/// Waits, at most `timeout`, until `name`'s condition `type_` has status
/// `status` with `observedGeneration` equal to the object's
/// `metadata.generation` (a condition computed for an older spec does not
/// count), and returns the object as it was then. Watches the object (no
/// polling); a timeout says what the condition last was.
///
/// ```no_run
/// use std::time::Duration;
/// use konditions_core::{Status, example::{Widget, WidgetCondition}};
/// # async fn test(api: kube::Api<Widget>) -> Result<(), konditions_testing::Error> {
/// let widget = konditions_testing::wait_for_condition(
///     &api, "my-widget", &WidgetCondition::Ready, Status::True, Duration::from_secs(60),
/// ).await?;
/// assert_eq!(widget.metadata.generation, Some(1));
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::ConditionTimeout`] when it did not hold in time (or the
/// object does not exist), [`Error::Api`] when the watch or the last read
/// failed.
pub async fn wait_for_condition<K>(
    api: &Api<K>,
    name: &str,
    type_: &K::Type,
    status: K::Status,
    timeout: Duration,
) -> Result<K, Error>
where
    K: ConditionalResource + Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let holds = |object: Option<&K>| object.is_some_and(|o| holds(o, type_, &status));
    match tokio::time::timeout(timeout, await_condition(api.clone(), name, holds)).await {
        Ok(Ok(Some(object))) => Ok(object),
        Ok(Ok(None)) | Err(_) => Err(timed_out(api, name, type_, &status, timeout).await?),
        Ok(Err(error)) => Err(Error::Api {
            what: format!("watching {name}"),
            error: kube::Error::Service(Box::new(error)),
        }),
    }
}

/// Waits, at most `timeout`, until `name` is gone (deleted and its
/// finalizers removed). Watches the object (no polling); a timeout names
/// the finalizers still holding it.
///
/// ```no_run
/// use std::time::Duration;
/// use konditions_core::example::Widget;
/// # async fn test(api: kube::Api<Widget>) -> Result<(), konditions_testing::Error> {
/// api.delete("my-widget", &Default::default()).await.unwrap();
/// konditions_testing::wait_for_deletion(&api, "my-widget", Duration::from_secs(60)).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::DeletionTimeout`] when it still exists after `timeout`,
/// [`Error::Api`] when the watch or the last read failed.
pub async fn wait_for_deletion<K>(api: &Api<K>, name: &str, timeout: Duration) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let gone = |object: Option<&K>| object.is_none();
    match tokio::time::timeout(timeout, await_condition(api.clone(), name, gone)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(Error::Api {
            what: format!("watching {name}"),
            error: kube::Error::Service(Box::new(error)),
        }),
        Err(_) => {
            let current = api.get_opt(name).await.map_err(|error| Error::Api {
                what: format!("reading {name}"),
                error,
            })?;
            match current {
                None => Ok(()),
                Some(object) => Err(Error::DeletionTimeout {
                    object: format!("{}/{}", object.namespace().unwrap_or_default(), name),
                    waited: timeout,
                    finalizers: if object.meta().deletion_timestamp.is_some() {
                        object.finalizers().to_vec()
                    } else {
                        Vec::new()
                    },
                }),
            }
        }
    }
}

/// Whether `object`'s condition `type_` is `status` for its generation.
fn holds<K: ConditionalResource>(object: &K, type_: &K::Type, status: &K::Status) -> bool {
    object
        .conditions()
        .and_then(|c| c.find(type_))
        .is_some_and(|c| c.status == *status && c.observed_generation == object.generation())
}

/// The timeout error, with the condition as it is now.
async fn timed_out<K>(
    api: &Api<K>,
    name: &str,
    type_: &K::Type,
    status: &K::Status,
    waited: Duration,
) -> Result<Error, Error>
where
    K: ConditionalResource + Resource + Clone + DeserializeOwned + Debug,
{
    let current = api.get_opt(name).await.map_err(|error| Error::Api {
        what: format!("reading {name}"),
        error,
    })?;
    let object = current.as_ref().map_or_else(
        || name.to_owned(),
        |o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()),
    );
    let last_seen = match &current {
        None => "the object does not exist".to_owned(),
        Some(o) => match o.conditions().and_then(|c| c.find(type_)) {
            None => "no such condition".to_owned(),
            Some(c) => format!(
                "{} {} \"{}\" for generation {}",
                c.status.as_str(),
                c.reason,
                c.message,
                c.observed_generation
                    .map_or_else(|| "(none)".to_owned(), |g| g.to_string())
            ),
        },
    };
    Ok(Error::ConditionTimeout {
        object,
        condition: type_.as_str().to_owned(),
        status: status.as_str().to_owned(),
        generation: current.and_then(|o| o.generation()).unwrap_or_default(),
        waited,
        last_seen,
    })
}
