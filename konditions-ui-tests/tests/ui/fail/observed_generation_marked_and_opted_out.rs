use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
#[konditions(observed_generation = false)]
pub struct WriterStatus {
    pub conditions: Conditions,
    #[konditions(observed_generation)]
    pub seen: Option<i64>,
}

fn main() {}
