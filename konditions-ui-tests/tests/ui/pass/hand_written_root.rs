//! A root struct written by hand, without kube's `CustomResource`.
#![deny(missing_docs, warnings)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use konditions_core::{
    ConditionType, ConditionalResource, ConditionalStatus, Conditions, Polarity, Status,
};

/// The spec of a widget.
#[derive(Clone, Debug, Default)]
pub struct WidgetSpec {
    /// How many parts.
    pub parts: u32,
}

/// A widget, written without kube's derive.
#[derive(ConditionalResource, Clone, Debug, Default)]
#[konditions(types(Assembled, Painted), summary = Ready)]
pub struct Widget {
    /// Standard object metadata.
    pub metadata: ObjectMeta,
    /// The desired state.
    pub spec: WidgetSpec,
    /// The observed state.
    pub status: Option<WidgetStatus>,
}

/// The status of a widget.
#[derive(ConditionalStatus, Clone, Debug, Default)]
pub struct WidgetStatus {
    /// The conditions.
    pub conditions: Conditions<WidgetCondition>,
    /// The generation the summary was computed for.
    pub observed_generation: Option<i64>,
}

fn main() {
    assert_eq!(
        WidgetCondition::declared(),
        &[
            WidgetCondition::Ready,
            WidgetCondition::Assembled,
            WidgetCondition::Painted,
            WidgetCondition::Reconciling,
            WidgetCondition::Stalled,
        ]
    );
    assert_eq!(WidgetCondition::summary(), Some(WidgetCondition::Ready));
    assert_eq!(WidgetCondition::Painted.polarity(), Polarity::Positive);

    let mut widget = Widget {
        metadata: ObjectMeta { generation: Some(3), ..ObjectMeta::default() },
        ..Widget::default()
    };
    assert_eq!(widget.generation(), Some(3));
    assert!(widget.conditions().is_none());
    assert!(widget.conditions_mut().is_empty());
    assert!(widget.status.is_some());

    fn status_set<R: ConditionalResource<Type = WidgetCondition, Status = Status>>() {}
    status_set::<Widget>();
    fn holds<S: ConditionalStatus<Type = WidgetCondition>>() {}
    holds::<WidgetStatus>();
}
