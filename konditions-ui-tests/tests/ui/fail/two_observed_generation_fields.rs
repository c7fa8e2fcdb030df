use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
pub struct WriterStatus {
    pub conditions: Conditions,
    #[konditions(observed_generation)]
    pub seen: Option<i64>,
    #[konditions(observed_generation)]
    pub last: Option<i64>,
}

fn main() {}
