use konditions_core::{ConditionalStatus, Conditions};

#[derive(ConditionalStatus, Default)]
pub struct WriterStatus {
    pub conditions: Conditions,
}

fn main() {}
