use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
#[konditions(observed_genration = false)]
pub struct WriterStatus {
    pub conditions: Conditions,
}

fn main() {}
