use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
#[konditions(observed_generation)]
pub struct WriterStatus {
    pub conditions: Conditions,
}

fn main() {}
